package main

import (
	"bytes"
	"encoding/base64"
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/eventline/eventline/handlers/workflowsync"
)

func TestSyncConfig(t *testing.T) {
	key := base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{9}, workflowsync.KeySize))
	tests := []struct {
		name    string
		env     map[string]string
		check   func(t *testing.T, c Config)
		loadErr string
		errs    []string
	}{
		{name: "defaults", env: nil, check: func(t *testing.T, c Config) {
			require.Equal(t, time.Hour, c.SyncInterval)
			require.Equal(t, "02:00", c.SyncDailyAt)
			require.Equal(t, 50, c.SyncPageLength)
			require.Equal(t, 3, c.SyncRetryAttempts)
			require.Equal(t, 60*time.Second, c.SyncRetryDelay)
			require.Empty(t, c.SecretKey)
		}},
		{name: "set", env: map[string]string{"EVENTLINE_SYNC_INTERVAL": "2s", "EVENTLINE_SYNC_DAILY_AT": "23:59",
			"EVENTLINE_SYNC_PAGE_LENGTH": "1", "EVENTLINE_SYNC_RETRY_ATTEMPTS": "0", "EVENTLINE_SYNC_RETRY_DELAY": "250ms",
			"EVENTLINE_SECRET_KEY": key}, check: func(t *testing.T, c Config) {
			require.Equal(t, 2*time.Second, c.SyncInterval)
			require.Equal(t, "23:59", c.SyncDailyAt)
			require.Equal(t, 1, c.SyncPageLength)
			require.Equal(t, 0, c.SyncRetryAttempts)
			require.Equal(t, 250*time.Millisecond, c.SyncRetryDelay)
			require.Equal(t, key, c.SecretKey)
		}},
		{name: "unreadable interval", env: map[string]string{"EVENTLINE_SYNC_INTERVAL": "hourly"}, loadErr: "EVENTLINE_SYNC_INTERVAL"},
		{name: "unreadable delay", env: map[string]string{"EVENTLINE_SYNC_RETRY_DELAY": "1"}, loadErr: "EVENTLINE_SYNC_RETRY_DELAY"},
		{name: "unreadable page length", env: map[string]string{"EVENTLINE_SYNC_PAGE_LENGTH": "fifty"}, loadErr: "EVENTLINE_SYNC_PAGE_LENGTH"},
		{name: "unreadable attempts", env: map[string]string{"EVENTLINE_SYNC_RETRY_ATTEMPTS": "x"}, loadErr: "EVENTLINE_SYNC_RETRY_ATTEMPTS"},
		{name: "out of range, all at once", env: map[string]string{"EVENTLINE_SYNC_INTERVAL": "0s", "EVENTLINE_SYNC_DAILY_AT": "24:00",
			"EVENTLINE_SYNC_PAGE_LENGTH": "51", "EVENTLINE_SYNC_RETRY_ATTEMPTS": "-1", "EVENTLINE_SYNC_RETRY_DELAY": "-1s",
			"EVENTLINE_SECRET_KEY": "c2hvcnQ="}, errs: []string{"EVENTLINE_SYNC_INTERVAL 0s: must be positive",
			`EVENTLINE_SYNC_DAILY_AT "24:00"`, "EVENTLINE_SYNC_PAGE_LENGTH 51: must be 1..50", "EVENTLINE_SYNC_RETRY_ATTEMPTS -1",
			"EVENTLINE_SYNC_RETRY_DELAY -1s: must be positive", "EVENTLINE_SECRET_KEY: secret key must be 32 bytes"}},
		{name: "page length zero", env: map[string]string{"EVENTLINE_SYNC_PAGE_LENGTH": "0"}, errs: []string{"EVENTLINE_SYNC_PAGE_LENGTH 0"}},
		{name: "no daily sync", env: map[string]string{"EVENTLINE_SYNC_DAILY_AT": "-"}, check: func(t *testing.T, c Config) {
			require.Equal(t, "-", c.SyncDailyAt)
			require.Empty(t, c.validateSync(), "- turns the daily sync off, as the scheduler takes it")
		}},
		{name: "daily at not a time", env: map[string]string{"EVENTLINE_SYNC_DAILY_AT": "2am"}, errs: []string{"EVENTLINE_SYNC_DAILY_AT"}},
		{name: "no key and no data dir", env: map[string]string{"EVENTLINE_DATA_DIR": "", "NATS_URL": "nats://x:4222",
			"DATABASE_URL": "postgres://x/y"}, check: func(t *testing.T, c Config) {
			c.DataDir = ""
			require.ErrorContains(t, c.Validate(), "EVENTLINE_SECRET_KEY must be set when EVENTLINE_DATA_DIR is empty")
			c.Roles = []string{"projector"}
			require.NoError(t, c.Validate(), "a projector needs no key")
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := loadConfig(func(k string) string { return tt.env[k] })
			if tt.loadErr != "" {
				require.ErrorContains(t, err, tt.loadErr)
				return
			}
			require.NoError(t, err)
			if tt.errs != nil {
				err := c.Validate()
				require.Error(t, err)
				for _, want := range tt.errs {
					require.ErrorContains(t, err, want)
				}
				require.NotContains(t, err.Error(), "c2hvcnQ=", "the key is never shown")
				return
			}
			require.NoError(t, c.Validate())
			tt.check(t, c)
		})
	}
}

func TestSyncFlags(t *testing.T) {
	c := defaultConfig()
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	c.bindFlags(fs)
	require.NoError(t, fs.Parse([]string{"--sync-interval", "5m", "--sync-daily-at", "03:30", "--sync-page-length", "20",
		"--sync-retry-attempts", "5", "--sync-retry-delay", "2s"}))
	require.NoError(t, c.Validate())
	require.Equal(t, 5*time.Minute, c.SyncInterval)
	require.Equal(t, "03:30", c.SyncDailyAt)
	require.Equal(t, 20, c.SyncPageLength)
	require.Equal(t, 5, c.SyncRetryAttempts)
	require.Equal(t, 2*time.Second, c.SyncRetryDelay)
	require.Nil(t, fs.Lookup("secret-key"), "no key on a command line")
}

func TestSyncConfigGeneratesTheKeyOnFirstUse(t *testing.T) {
	c := defaultConfig()
	c.DataDir = filepath.Join(t.TempDir(), "data")
	sc := c.syncConfig()
	require.Equal(t, 50, sc.PageLength)
	_, err := os.Stat(filepath.Join(c.DataDir, workflowsync.KeyFileName))
	require.ErrorIs(t, err, os.ErrNotExist, "not generated until needed")
	k1, err := sc.SecretKey()
	require.NoError(t, err)
	k2, err := c.syncConfig().SecretKey()
	require.NoError(t, err)
	require.Equal(t, k1, k2, "kept in the data dir")
}
