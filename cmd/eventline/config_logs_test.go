package main

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestLogsConfig(t *testing.T) {
	tests := []struct {
		env       map[string]string
		retention time.Duration
		maxBytes  int64
		noIndex   bool
		err       string
	}{
		{env: nil, retention: 7 * 24 * time.Hour},
		{env: map[string]string{"EVENTLINE_LOGS_RETENTION": "0"}, retention: 0},
		{env: map[string]string{"EVENTLINE_LOGS_RETENTION": "1h"}, retention: time.Hour},
		{env: map[string]string{"EVENTLINE_LOGS_RETENTION": "30d"}, retention: 30 * 24 * time.Hour},
		{env: map[string]string{"EVENTLINE_LOGS_RETENTION": "1d12h"}, retention: 36 * time.Hour},
		{env: map[string]string{"EVENTLINE_LOGS_RETENTION": "soon"}, err: "EVENTLINE_LOGS_RETENTION"},
		{env: map[string]string{"EVENTLINE_LOGS_RETENTION": "10s"}, err: "at least 1m"},
		{env: map[string]string{"EVENTLINE_LOGS_MAX_BYTES": "500MiB"}, retention: 7 * 24 * time.Hour, maxBytes: 500 << 20},
		{env: map[string]string{"EVENTLINE_LOGS_MAX_BYTES": "20GB"}, retention: 7 * 24 * time.Hour, maxBytes: 20e9},
		{env: map[string]string{"EVENTLINE_LOGS_MAX_BYTES": "1048576"}, retention: 7 * 24 * time.Hour, maxBytes: 1 << 20},
		{env: map[string]string{"EVENTLINE_LOGS_MAX_BYTES": "12"}, err: "at least 1MiB"},
		{env: map[string]string{"EVENTLINE_LOGS_MAX_BYTES": "lots"}, err: "EVENTLINE_LOGS_MAX_BYTES"},
		{env: map[string]string{"EVENTLINE_LOGS_SEARCH_INDEX": "off"}, retention: 7 * 24 * time.Hour, noIndex: true},
		{env: map[string]string{"EVENTLINE_LOGS_SEARCH_INDEX": "On"}, retention: 7 * 24 * time.Hour},
		{env: map[string]string{"EVENTLINE_LOGS_SEARCH_INDEX": "maybe"}, err: "EVENTLINE_LOGS_SEARCH_INDEX"},
	}
	for _, tt := range tests {
		c, err := loadConfig(func(k string) string { return tt.env[k] })
		if err == nil {
			err = c.Validate()
		}
		if tt.err != "" {
			require.ErrorContains(t, err, tt.err, "%v", tt.env)
			continue
		}
		require.NoError(t, err, "%v", tt.env)
		require.Equal(t, tt.retention, c.Logs.Retention, "%v", tt.env)
		require.Equal(t, tt.maxBytes, c.Logs.MaxBytes, "%v", tt.env)
		require.Equal(t, tt.noIndex, c.Logs.SearchIndexOff, "%v", tt.env)
		m := modules(c)
		require.Equal(t, tt.retention, m[0].Streams[0].MaxAge, "the LOGS stream carries it")
	}
}
