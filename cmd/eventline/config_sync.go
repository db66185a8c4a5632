package main

import (
	"errors"
	"flag"
	"fmt"
	"time"

	"github.com/eventline/eventline/handlers/workflowsync"
)

// maxSyncPageLength is the largest page Zuora serves.
const maxSyncPageLength = 50

// loadSyncEnv reads the EVENTLINE_SYNC_* variables and EVENTLINE_SECRET_KEY
// over c.
func (c *Config) loadSyncEnv(env *envReader) {
	env.duration("EVENTLINE_SYNC_INTERVAL", &c.SyncInterval)
	env.duration("EVENTLINE_SYNC_RETRY_DELAY", &c.SyncRetryDelay)
	env.number("EVENTLINE_SYNC_PAGE_LENGTH", &c.SyncPageLength)
	env.number("EVENTLINE_SYNC_RETRY_ATTEMPTS", &c.SyncRetryAttempts)
	env.text("EVENTLINE_SYNC_DAILY_AT", &c.SyncDailyAt)
	env.text("EVENTLINE_SECRET_KEY", &c.SecretKey)
}

// bindSyncFlags registers the sync flags of serve over c. The secret key
// has no flag: a command line is visible to every user of the machine.
func (c *Config) bindSyncFlags(fs *flag.FlagSet) {
	fs.DurationVar(&c.SyncInterval, "sync-interval", c.SyncInterval, "every customer is synced this often (EVENTLINE_SYNC_INTERVAL)")
	fs.StringVar(&c.SyncDailyAt, "sync-daily-at", c.SyncDailyAt, "local time HH:MM of the daily full sync, - for none (EVENTLINE_SYNC_DAILY_AT)")
	fs.IntVar(&c.SyncPageLength, "sync-page-length", c.SyncPageLength, "Zuora page length, 1..50 (EVENTLINE_SYNC_PAGE_LENGTH)")
	fs.IntVar(&c.SyncRetryAttempts, "sync-retry-attempts", c.SyncRetryAttempts, "retries of a failed sync (EVENTLINE_SYNC_RETRY_ATTEMPTS)")
	fs.DurationVar(&c.SyncRetryDelay, "sync-retry-delay", c.SyncRetryDelay, "first retry delay of a failed sync (EVENTLINE_SYNC_RETRY_DELAY)")
}

// validateSync reports every problem of the sync settings.
func (c Config) validateSync() []error {
	var errs []error
	if c.SyncInterval <= 0 {
		errs = append(errs, fmt.Errorf("EVENTLINE_SYNC_INTERVAL %v: must be positive", c.SyncInterval))
	}
	if _, err := time.Parse("15:04", c.SyncDailyAt); err != nil && c.SyncDailyAt != "-" {
		errs = append(errs, fmt.Errorf("EVENTLINE_SYNC_DAILY_AT %q: must be a time of day HH:MM (00:00..23:59), or - for none", c.SyncDailyAt))
	}
	if c.SyncPageLength < 1 || c.SyncPageLength > maxSyncPageLength {
		errs = append(errs, fmt.Errorf("EVENTLINE_SYNC_PAGE_LENGTH %d: must be 1..%d", c.SyncPageLength, maxSyncPageLength))
	}
	if c.SyncRetryAttempts < 0 || c.SyncRetryAttempts > 100 {
		errs = append(errs, fmt.Errorf("EVENTLINE_SYNC_RETRY_ATTEMPTS %d: must be 0..100", c.SyncRetryAttempts))
	}
	if c.SyncRetryDelay <= 0 {
		errs = append(errs, fmt.Errorf("EVENTLINE_SYNC_RETRY_DELAY %v: must be positive", c.SyncRetryDelay))
	}
	if c.SecretKey != "" {
		if _, err := workflowsync.ParseKey(c.SecretKey); err != nil {
			// The value itself is never shown.
			errs = append(errs, fmt.Errorf("EVENTLINE_SECRET_KEY: %w", err))
		}
	} else if c.DataDir == "" && (c.hasRole("api") || c.hasRole(workflowsync.Role)) {
		errs = append(errs, errors.New("EVENTLINE_SECRET_KEY must be set when EVENTLINE_DATA_DIR is empty (the generated key is kept there)"))
	}
	return errs
}

// syncConfig returns the workflow sync's configuration; the secret key is
// read (or generated into the data dir) when the sync's parts are built.
func (c Config) syncConfig() workflowsync.Config {
	return workflowsync.Config{
		Interval: c.SyncInterval, DailyAt: c.SyncDailyAt, PageLength: c.SyncPageLength,
		RetryAttempts: c.SyncRetryAttempts, RetryDelay: c.SyncRetryDelay,
		SecretKey: func() ([]byte, error) { return workflowsync.LoadKey(c.SecretKey, c.DataDir) },
	}
}
