package main

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/eventline/eventline/domain/logs"
	"github.com/eventline/eventline/eventstore"
	"github.com/eventline/eventline/internal/testenv"
)

// opsCLI runs operator commands through run() against a test NATS server
// and a fresh database.
type opsCLI struct {
	store *eventstore.Store
	vars  map[string]string
}

func newOpsCLI(t *testing.T) *opsCLI {
	t.Helper()
	st, srv := testenv.Store(t)
	// The streams serve would have created.
	require.NoError(t, st.EnsureStreams(context.Background(), modules(defaultConfig()).Streams()))
	return &opsCLI{store: st, vars: map[string]string{
		"NATS_URL":           srv.ClientURL(),
		"DATABASE_URL":       testenv.Postgres(t),
		"EVENTLINE_DATA_DIR": t.TempDir(),
	}}
}

// run runs `eventline args…` and returns stdout, stderr and the error.
func (c *opsCLI) run(t *testing.T, args ...string) (string, string, error) {
	t.Helper()
	var out, errOut bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	err := run(ctx, args, func(k string) string { return c.vars[k] }, &out, &errOut)
	return out.String(), errOut.String(), err
}

// mustRun is run that fails the test on error.
func (c *opsCLI) mustRun(t *testing.T, args ...string) string {
	t.Helper()
	out, errOut, err := c.run(t, args...)
	require.NoError(t, err, "eventline %s\nstderr: %s", strings.Join(args, " "), errOut)
	return out
}

// jsonLines decodes each line of out into a map.
func jsonLines(t *testing.T, out string) []map[string]any {
	t.Helper()
	var lines []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		if l == "" {
			continue
		}
		var m map[string]any
		require.NoError(t, json.Unmarshal([]byte(l), &m), "line %q", l)
		lines = append(lines, m)
	}
	return lines
}

// appendLogEvents appends n log events of one entry each.
func appendLogEvents(t *testing.T, st *eventstore.Store, n int) {
	t.Helper()
	for i := 0; i < n; i++ {
		e := logs.Entry{ID: uuid.Must(uuid.NewV7()), Level: "info", Message: "m", ReceivedAt: time.Now().UTC()}
		env, err := eventstore.NewEnvelope(logs.EntriesReceivedV1, logs.EntriesReceived{Entries: []logs.Entry{e}})
		require.NoError(t, err)
		_, err = st.Append(context.Background(), logs.Subject, eventstore.NoExpectation, env, eventstore.WithCount(1))
		require.NoError(t, err)
	}
}

// testStream creates a stream TEST (test.>) that allows deletes, so that a
// test can make a gap.
func testStream(t *testing.T, st *eventstore.Store) jetstream.Stream {
	t.Helper()
	s, err := st.JetStream().CreateStream(context.Background(), jetstream.StreamConfig{
		Name: "TEST", Subjects: []string{"test.>"}, Storage: jetstream.MemoryStorage})
	require.NoError(t, err)
	return s
}
