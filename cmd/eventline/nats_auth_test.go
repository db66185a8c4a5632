package main

import (
	"bytes"
	"context"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/stretchr/testify/require"

	"github.com/eventline/eventline/eventstore/natsserver"
	"github.com/eventline/eventline/internal/pgcluster"
	"github.com/eventline/eventline/internal/testenv"
)

// runCLI runs `eventline args…` in-process with vars as the environment.
func runCLI(t *testing.T, vars map[string]string, args ...string) (string, string, error) {
	t.Helper()
	var out, errOut bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	err := run(ctx, args, func(k string) string { return vars[k] }, &out, &errOut)
	return out.String(), errOut.String(), err
}

// TestServeGeneratesNATSCredentials: serve on a fresh data dir writes the
// embedded server's credentials (0600), refuses clients without them, and
// a second start reuses them; CLI commands find them in the data dir.
func TestServeGeneratesNATSCredentials(t *testing.T) {
	port, err := pgcluster.FreePort()
	require.NoError(t, err)
	listen := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	dataDir := t.TempDir()
	vars := map[string]string{
		"EVENTLINE_DATA_DIR":    dataDir,
		"EVENTLINE_NATS_LISTEN": listen,
		"DATABASE_URL":          testenv.Postgres(t),
	}
	path := filepath.Join(dataDir, "nats", natsserver.CredentialsFileName)

	_, _, err = runCLI(t, vars, "streams")
	require.ErrorContains(t, err, "has `eventline serve` run with this data dir?", "no credentials before the first start")

	s := startServe(t, vars)
	fi, err := os.Stat(path)
	require.NoError(t, err, "serve writes the credentials file")
	require.Equal(t, os.FileMode(0o600), fi.Mode().Perm())
	first, err := os.ReadFile(path)
	require.NoError(t, err)
	creds, err := natsserver.ReadCredentials(filepath.Join(dataDir, "nats"))
	require.NoError(t, err)

	nc, err := nats.Connect("nats://"+listen, nats.Timeout(3*time.Second))
	if nc != nil {
		nc.Close()
	}
	require.ErrorIs(t, err, nats.ErrAuthorization, "a client without credentials is refused")

	out, errOut, err := runCLI(t, vars, "streams", "--json")
	require.NoError(t, err, errOut)
	require.Contains(t, out, `"LOGS"`)
	s.stop(t)
	logs := s.stderr.String()

	s = startServe(t, vars)
	again, err := os.ReadFile(path)
	require.NoError(t, err)
	require.Equal(t, string(first), string(again), "a second start reuses the credentials")
	out, errOut, err = runCLI(t, vars, "streams", "--json")
	require.NoError(t, err, errOut)
	require.Contains(t, out, `"LOGS"`)

	// A credentials file others can read is refused, with the fix.
	require.NoError(t, os.Chmod(path, 0o644))
	_, _, err = runCLI(t, vars, "streams")
	require.ErrorIs(t, err, natsserver.ErrCredentialsExposed)
	require.ErrorContains(t, err, "chmod 600")
	require.NoError(t, os.Chmod(path, 0o600))
	s.stop(t)
	logs += s.stderr.String()
	require.Contains(t, logs, "embedded nats started")
	require.NotContains(t, logs, creds.Password, "the password is never logged")
}

// TestExternalNATSCredentials: serve and the CLI reach an external NATS
// that needs a user and password or a token in NATS_URL, or a credentials
// file in NATS_CREDS; a wrong secret fails with a reason that does not show it.
func TestExternalNATSCredentials(t *testing.T) {
	userSrv := testenv.PlainNATS(t, &server.Options{Username: "app", Password: "s3cret-pass"})
	tokenSrv := testenv.PlainNATS(t, &server.Options{Authorization: "s3cret-token"})
	credsFile := filepath.Join(t.TempDir(), "missing.creds")
	tests := []struct {
		name    string
		env     map[string]string
		wantErr string
	}{
		{"user and password", map[string]string{"NATS_URL": "nats://app:s3cret-pass@" + userSrv}, ""},
		{"token", map[string]string{"NATS_URL": "nats://s3cret-token@" + tokenSrv}, ""},
		{"wrong password", map[string]string{"NATS_URL": "nats://app:s3cret-wrong@" + userSrv}, "Authorization Violation"},
		{"wrong token", map[string]string{"NATS_URL": "nats://s3cret-wrong@" + tokenSrv}, "Authorization Violation"},
		{"missing credentials file", map[string]string{"NATS_URL": "nats://" + userSrv, "NATS_CREDS": credsFile}, "missing.creds"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.env["EVENTLINE_DATA_DIR"] = t.TempDir()
			out, errOut, err := runCLI(t, tt.env, "streams", "--json")
			if tt.wantErr != "" {
				require.ErrorContains(t, err, tt.wantErr)
				require.NotContains(t, err.Error()+errOut, "s3cret")
				return
			}
			require.NoError(t, err, errOut)
			require.Contains(t, out, `{"streams":[`, "logged in and listed (a read-only command creates no stream)")
		})
	}

	t.Run("serve", func(t *testing.T) {
		s := startServe(t, map[string]string{"NATS_URL": "nats://app:s3cret-pass@" + userSrv})
		resp := call(t, "POST", s.URL+"/api/logs", "application/json", []byte(`{"message":"hello"}`), nil, nil)
		require.Equal(t, 202, resp.StatusCode)
		s.stop(t)
		require.NotContains(t, s.stderr.String(), "s3cret")
	})
	t.Run("serve refuses NATS_CREDS without NATS_URL", func(t *testing.T) {
		file := filepath.Join(t.TempDir(), "app.creds")
		require.NoError(t, os.WriteFile(file, []byte("x"), 0o600))
		_, _, err := runCLI(t, map[string]string{"NATS_CREDS": file, "EVENTLINE_DATA_DIR": t.TempDir()}, "serve")
		require.ErrorContains(t, err, "NATS_CREDS")
		_, _, err = runCLI(t, map[string]string{"NATS_URL": "nats://" + userSrv, "NATS_CREDS": credsFile}, "serve")
		require.ErrorContains(t, err, "NATS_CREDS")
		require.True(t, strings.Contains(err.Error(), "missing.creds"), err.Error())
	})
	t.Run("serve fails at once on a refused login", func(t *testing.T) {
		_, errOut, err := runCLI(t, map[string]string{
			"NATS_URL": "nats://app:s3cret-wrong@" + userSrv, "EVENTLINE_DATA_DIR": t.TempDir(),
			"EVENTLINE_HTTP_ADDR": "127.0.0.1:0", "DATABASE_URL": "postgres://127.0.0.1:1/none",
		}, "serve")
		require.ErrorIs(t, err, nats.ErrAuthorization)
		require.NotContains(t, err.Error()+errOut, "s3cret")
	})
}
