package main

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/eventline/eventline/handlers/logsapi"
)

// LogsConfig is the logs module's part of Config.
type LogsConfig struct {
	// Retention is how long log entries are kept, in the LOGS stream and
	// the read model (EVENTLINE_LOGS_RETENTION: "7d", "36h", "0" forever).
	Retention time.Duration
	// MaxBytes caps the LOGS stream and the read model each
	// (EVENTLINE_LOGS_MAX_BYTES: "0" none, "500MiB", "20GB", bytes).
	MaxBytes int64
	// SearchIndexOff writes entries without their search index
	// (EVENTLINE_LOGS_SEARCH_INDEX: "on", the default, or "off").
	SearchIndexOff bool
}

// defaultLogsConfig keeps entries 7 days, with no cap.
func defaultLogsConfig() LogsConfig { return LogsConfig{Retention: logsapi.DefaultRetention} }

// loadLogsEnv reads EVENTLINE_LOGS_*.
func (c *Config) loadLogsEnv(env *envReader) {
	env.parsed("EVENTLINE_LOGS_RETENTION", func(v string) error {
		d, err := parseRetention(v)
		if err == nil {
			c.Logs.Retention = d
		}
		return err
	})
	env.parsed("EVENTLINE_LOGS_SEARCH_INDEX", func(v string) error {
		switch strings.ToLower(strings.TrimSpace(v)) {
		case "on":
			c.Logs.SearchIndexOff = false
		case "off":
			c.Logs.SearchIndexOff = true
		default:
			return fmt.Errorf("must be on or off")
		}
		return nil
	})
	env.parsed("EVENTLINE_LOGS_MAX_BYTES", func(v string) error {
		n, err := parseBytes(v)
		if err == nil {
			c.Logs.MaxBytes = n
		}
		return err
	})
}

// validateLogs checks the logs settings.
func (c Config) validateLogs() []error {
	var errs []error
	if c.Logs.Retention < 0 || (c.Logs.Retention > 0 && c.Logs.Retention < time.Minute) {
		errs = append(errs, fmt.Errorf("EVENTLINE_LOGS_RETENTION %v: must be 0 (forever) or at least 1m", c.Logs.Retention))
	}
	if c.Logs.MaxBytes < 0 || (c.Logs.MaxBytes > 0 && c.Logs.MaxBytes < 1<<20) {
		errs = append(errs, fmt.Errorf("EVENTLINE_LOGS_MAX_BYTES %d: must be 0 (no cap) or at least 1MiB", c.Logs.MaxBytes))
	}
	return errs
}

// logsConfig is the logs module's configuration.
func (c Config) logsConfig() logsapi.Config {
	return logsapi.Config{Retention: c.Logs.Retention, MaxBytes: c.Logs.MaxBytes, SearchIndexOff: c.Logs.SearchIndexOff}
}

// parseRetention reads a duration with a day unit besides Go's ("7d",
// "1d12h"), or "0".
func parseRetention(v string) (time.Duration, error) {
	v = strings.TrimSpace(v)
	if v == "0" {
		return 0, nil
	}
	var days time.Duration
	if i := strings.IndexByte(v, 'd'); i > 0 {
		n, err := strconv.Atoi(v[:i])
		if err != nil || n < 0 {
			return 0, fmt.Errorf("not a duration (7d, 36h, 90m, 0)")
		}
		days, v = time.Duration(n)*24*time.Hour, v[i+1:]
		if v == "" {
			return days, nil
		}
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < 0 {
		return 0, fmt.Errorf("not a duration (7d, 36h, 90m, 0)")
	}
	return days + d, nil
}

// parseBytes reads a byte count with an optional unit: KB, MB, GB, TB
// (powers of 1000) or KiB, MiB, GiB, TiB (of 1024).
func parseBytes(v string) (int64, error) {
	v = strings.TrimSpace(v)
	units := []struct {
		suffix string
		mult   int64
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"TiB", 1 << 40},
		{"KB", 1e3}, {"MB", 1e6}, {"GB", 1e9}, {"TB", 1e12}, {"B", 1}}
	mult := int64(1)
	for _, u := range units {
		if strings.HasSuffix(v, u.suffix) {
			v, mult = strings.TrimSpace(strings.TrimSuffix(v, u.suffix)), u.mult
			break
		}
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 0 || n > (1<<62)/mult {
		return 0, fmt.Errorf("not a size (0, 500MiB, 20GB, 1048576)")
	}
	return n * mult, nil
}
