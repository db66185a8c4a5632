package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/stretchr/testify/require"

	"github.com/eventline/eventline/internal/pgcluster"
	"github.com/eventline/eventline/internal/testenv"
)

// TestServeCarriesItsProcessID checks that EVENTLINE_PROCESS_ID names the
// process in PostgreSQL's pg_stat_activity, in the NATS server's connection
// list, on every /metrics sample and in every log line.
func TestServeCarriesItsProcessID(t *testing.T) {
	dsn := testenv.Postgres(t)
	monitor, err := pgcluster.FreePort()
	require.NoError(t, err)
	natsAddr := testenv.PlainNATS(t, &server.Options{HTTPHost: "127.0.0.1", HTTPPort: monitor})
	s := startServe(t, map[string]string{"EVENTLINE_PROCESS_ID": "p-test", "DATABASE_URL": dsn, "NATS_URL": "nats://" + natsAddr})
	postLog(t, s.URL, `{"message":"m"}`)

	// The NATS server's monitoring names serve's two connections.
	resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/connz", monitor))
	require.NoError(t, err)
	var connz struct {
		Connections []struct {
			Name string `json:"name"`
		} `json:"connections"`
	}
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&connz))
	resp.Body.Close()
	var conns []string
	for _, c := range connz.Connections {
		conns = append(conns, c.Name)
	}
	require.Contains(t, conns, "eventline/p-test")
	require.Contains(t, conns, "eventline/p-test-reads")

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, dsn)
	require.NoError(t, err)
	t.Cleanup(func() { conn.Close(context.Background()) })
	var names []string
	require.Eventually(t, func() bool {
		rows, err := conn.Query(ctx, `SELECT DISTINCT application_name FROM pg_stat_activity
			WHERE datname = current_database() AND pid <> pg_backend_pid()`)
		require.NoError(t, err)
		names, err = pgx.CollectRows(rows, pgx.RowTo[string])
		require.NoError(t, err)
		return slices.Contains(names, "eventline/p-test")
	}, 10*time.Second, 20*time.Millisecond)
	require.Equal(t, []string{"eventline/p-test"}, names, "every connection of serve to its database")

	resp, err = http.Get(s.URL + "/metrics")
	require.NoError(t, err)
	metrics := readAll(resp)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	samples := 0
	for line := range strings.Lines(metrics) {
		if strings.HasPrefix(line, "#") {
			continue
		}
		samples++
		require.Contains(t, line, `process="p-test"`)
	}
	require.Contains(t, metrics, `eventline_http_requests_total{code="202",process="p-test"`)
	require.Greater(t, samples, 50)

	logged := 0
	for line := range strings.Lines(s.stderr.String()) {
		if strings.HasPrefix(line, "time=") {
			logged++
			require.Contains(t, line, " process=p-test", "every log line of serve")
		}
	}
	require.Positive(t, logged)
}
