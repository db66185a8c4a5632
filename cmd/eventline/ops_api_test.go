package main

import (
	"net/http"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/eventline/eventline/internal/testenv"
)

func TestOpsEndpoints(t *testing.T) {
	_, nats := testenv.Store(t)
	s := startServe(t, map[string]string{"NATS_URL": nats.ClientURL()})
	postLog(t, s.URL, `{"message":"m"}`)

	var streams struct {
		Streams []struct {
			Name     string `json:"name"`
			Messages int    `json:"messages"`
			LastSeq  int    `json:"last_seq"`
		} `json:"streams"`
	}
	resp := call(t, "GET", s.URL+"/api/ops/streams", "", nil, nil, &streams)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	byName := map[string]int{}
	for _, st := range streams.Streams {
		byName[st.Name] = st.LastSeq
	}
	require.Equal(t, 1, byName["LOGS"])

	var projs struct {
		Projections []struct {
			Name   string `json:"name"`
			Status string `json:"status"`
			Seq    uint64 `json:"checkpoint_seq"`
		} `json:"projections"`
	}
	logsAt := func() int {
		for i, p := range projs.Projections {
			if p.Name == "logs" {
				return i
			}
		}
		return -1
	}
	require.Eventually(t, func() bool {
		resp := call(t, "GET", s.URL+"/api/ops/projections", "", nil, nil, &projs)
		return resp.StatusCode == http.StatusOK && logsAt() >= 0 && projs.Projections[logsAt()].Seq == 1
	}, 10*time.Second, 20*time.Millisecond)
	require.Equal(t, "running", projs.Projections[logsAt()].Status)
	require.Len(t, projs.Projections, len(modules(defaultConfig()).Projections().Names()), "every module's projection")

	var cons struct {
		Consumers []struct {
			Name       string `json:"name"`
			Projection string `json:"projection"`
		} `json:"consumers"`
	}
	resp = call(t, "GET", s.URL+"/api/ops/consumers?stream=LOGS", "", nil, nil, &cons)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	names := map[string]string{}
	for _, c := range cons.Consumers {
		names[c.Name] = c.Projection
	}
	require.Equal(t, "logs", names["proj_logs"])

	var e apiError
	resp = call(t, "GET", s.URL+"/api/ops/consumers?stream=NOPE", "", nil, nil, &e)
	require.Equal(t, http.StatusNotFound, resp.StatusCode)
	require.Equal(t, "unknown_stream", e.Error.Code)

	var ready struct {
		Checks map[string]string `json:"checks"`
	}
	call(t, "GET", s.URL+"/readyz", "", nil, nil, &ready)
	require.Equal(t, "ok", ready.Checks["projections"])
}

// TestCommandsFailFastWhenUnreachable runs the real binary against a NATS
// server or a PostgreSQL server that is not there: each command exits 1
// with a one-line reason.
func TestCommandsFailFastWhenUnreachable(t *testing.T) {
	bin := binary(t)
	_, nats := testenv.Store(t)
	db := testenv.Postgres(t)
	const noNATS = "nats://127.0.0.1:1"
	// sslmode=prefer: pgx reports two attempts, on two lines.
	const noPG = "postgres://postgres@127.0.0.1:1/eventline?connect_timeout=2"
	tests := []struct {
		args     []string
		nats, pg string
		want     string
	}{
		{[]string{"replay"}, noNATS, db, "nats"},
		{[]string{"streams"}, noNATS, db, "nats"},
		{[]string{"consumers", "--json"}, noNATS, db, "nats"},
		{[]string{"projections", "list"}, noNATS, db, "nats"},
		{[]string{"projections", "rebuild", "logs"}, noNATS, db, "nats"},
		{[]string{"projections", "retry", "logs"}, noNATS, db, "nats"},
		{[]string{"consumers"}, nats.ClientURL(), noPG, "postgres: "},
		{[]string{"projections", "list", "--json"}, nats.ClientURL(), noPG, "127.0.0.1:1"},
		{[]string{"projections", "rebuild", "--all"}, nats.ClientURL(), noPG, "127.0.0.1:1"},
		{[]string{"projections", "retry", "logs"}, nats.ClientURL(), noPG, "127.0.0.1:1"},
		{[]string{"projections", "parked", "logs"}, nats.ClientURL(), noPG, "127.0.0.1:1"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " ")+" without "+tt.want, func(t *testing.T) {
			t.Parallel()
			cmd := exec.Command(bin, tt.args...)
			cmd.Env = append(os.Environ(), "NATS_URL="+tt.nats, "DATABASE_URL="+tt.pg, "EVENTLINE_DATA_DIR="+t.TempDir())
			var stdout, stderr strings.Builder
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			err := cmd.Run()
			var exit *exec.ExitError
			require.ErrorAs(t, err, &exit)
			require.Equal(t, 1, exit.ExitCode())
			require.Empty(t, stdout.String())
			msg := strings.TrimSpace(stderr.String())
			require.NotContains(t, msg, "\n", "one line")
			require.True(t, strings.HasPrefix(msg, "eventline: "), msg)
			require.Contains(t, msg, tt.want)
		})
	}
}
