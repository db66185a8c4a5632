package main

import (
	"context"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/eventline/eventline/domain/logs"
	"github.com/eventline/eventline/eventstore"
)

// The CLI's rough edges (issue 26), each as a person meets it.
func TestCLIRoughEdges(t *testing.T) {
	c := newOpsCLI(t)
	c.mustRun(t, "migrate")
	long := strings.Repeat("x", 2000)
	env, err := eventstore.NewEnvelope(logs.EntriesReceivedV1, map[string]any{"entries": []map[string]any{{"message": long}}})
	require.NoError(t, err)
	_, err = c.store.Append(context.Background(), logs.Subject, eventstore.NoExpectation, env, eventstore.WithCount(1))
	require.NoError(t, err)

	t.Run("replay cuts data for people, --full and --json print it whole", func(t *testing.T) {
		out := c.mustRun(t, "replay", "--stream", "LOGS")
		lines := strings.Split(strings.TrimSpace(out), "\n")
		require.Len(t, lines, 2, out)
		require.Less(t, len(lines[1]), 400, "a person's line is cut: %s", lines[1])
		require.Contains(t, lines[1], "… (2,", "says how much is cut")
		require.Contains(t, lines[1], "--full")
		require.Contains(t, c.mustRun(t, "replay", "--stream", "LOGS", "--full"), long)
		require.Contains(t, c.mustRun(t, "replay", "--stream", "LOGS", "--json"), long)
	})
	t.Run("an unknown stream says so in one line", func(t *testing.T) {
		for _, args := range [][]string{{"replay", "--stream", "NOPE"}, {"consumers", "--stream", "NOPE"}} {
			_, _, err := c.run(t, args...)
			require.Error(t, err, args)
			msg := err.Error()
			require.NotContains(t, msg, "\n", args)
			require.Contains(t, msg, `unknown stream "NOPE"`, args)
			require.Contains(t, msg, "LOGS", "names the streams there are: %s", msg)
		}
	})
	t.Run("empty lists say none", func(t *testing.T) {
		out := c.mustRun(t, "projections", "parked", "logs")
		require.Equal(t, "none\n", out)
		out = c.mustRun(t, "reactors", "parked", "orders_inventory")
		require.Equal(t, "none\n", out)
		out = c.mustRun(t, "replay", "--stream", "SAGAS")
		require.Equal(t, "none\n", out)
	})
	t.Run("projections rebuild ends its progress line and prints a true rate", func(t *testing.T) {
		appendLogEvents(t, c.store, 2000)
		out, errOut, err := c.run(t, "projections", "rebuild", "logs")
		require.NoError(t, err, errOut)
		require.True(t, strings.HasSuffix(errOut, "\n"), "the progress ends its line: %q", errOut)
		require.Contains(t, errOut, "logs: build, ")
		require.Contains(t, errOut, "\nlogs: index…\n", "each later phase on a line of its own: %q", errOut)
		m := regexp.MustCompile(`events applied (\d+), .* \(applying ([0-9.]+) s, (\d+) events/s\)`).FindStringSubmatch(out)
		require.NotNil(t, m, out)
		events, _ := strconv.ParseFloat(m[1], 64)
		applying, _ := strconv.ParseFloat(m[2], 64)
		rate, _ := strconv.ParseFloat(m[3], 64)
		require.Equal(t, float64(2001), events)
		require.InEpsilon(t, events/applying, rate, 0.1, "the rate is of the time spent applying: %s", out)
	})
	t.Run("serve --help exits 0", func(t *testing.T) {
		stdout, stderr, err := c.run(t, "serve", "--help")
		require.NoError(t, err)
		require.Contains(t, stdout+stderr, "EVENTLINE_SAGA_RETRY_DELAY")
		_, _, err = c.run(t, "serve", "--no-such-flag")
		require.Error(t, err)
	})
}
