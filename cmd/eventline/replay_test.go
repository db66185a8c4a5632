package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/eventline/eventline/eventstore"
)

// replayed splits replay --json output into event sequences and gaps.
func replayed(t *testing.T, out string) (seqs []int, gaps []string) {
	t.Helper()
	for _, m := range jsonLines(t, out) {
		if g, ok := m["gap"].(map[string]any); ok {
			gaps = append(gaps, fmt.Sprintf("%v..%v", g["from"], g["to"]))
			continue
		}
		seqs = append(seqs, int(m["seq"].(float64)))
		for _, k := range []string{"time", "subject", "type", "id", "data"} {
			require.Contains(t, m, k)
		}
	}
	return seqs, gaps
}

func TestReplayRangesFiltersAndGaps(t *testing.T) {
	c := newOpsCLI(t)
	ctx := context.Background()
	s := testStream(t, c.store)
	// 1..12: types alternate a/b, aggregates cycle x, y, z.
	for i := 1; i <= 12; i++ {
		typ := "thing.a.v1"
		if i%2 == 0 {
			typ = "thing.b.v1"
		}
		env, err := eventstore.NewEnvelope(typ, map[string]int{"i": i})
		require.NoError(t, err)
		subj := "test." + []string{"z", "x", "y"}[i%3]
		_, err = c.store.Append(ctx, subj, eventstore.NoExpectation, env)
		require.NoError(t, err)
	}
	require.NoError(t, s.DeleteMsg(ctx, 5))
	require.NoError(t, s.DeleteMsg(ctx, 6))

	tests := []struct {
		name     string
		args     []string
		wantSeqs []int
		wantGaps []string
	}{
		{"range", []string{"--from-seq", "2", "--to-seq", "4"}, []int{2, 3, 4}, nil},
		{"range over the gap", []string{"--from-seq", "4", "--to-seq", "8"}, []int{4, 7, 8}, []string{"5..6"}},
		{"everything", nil, []int{1, 2, 3, 4, 7, 8, 9, 10, 11, 12}, []string{"5..6"}},
		{"limit", []string{"--from-seq", "3", "--limit", "4"}, []int{3, 4, 7, 8}, []string{"5..6"}},
		{"limit before the gap", []string{"--limit", "2"}, []int{1, 2}, nil},
		{"subject", []string{"--subject", "test.x"}, []int{1, 4, 7, 10}, []string{"5..6"}},
		{"subject after the gap", []string{"--subject", "test.x", "--from-seq", "7"}, []int{7, 10}, nil},
		{"type", []string{"--type", "thing.b.v1"}, []int{2, 4, 8, 10, 12}, []string{"5..6"}},
		{"aggregate", []string{"--aggregate", "y", "--to-seq", "9"}, []int{2, 8}, []string{"5..6"}},
		{"aggregate and type", []string{"--aggregate", "z", "--type", "thing.a.v1"}, []int{3, 9}, []string{"5..6"}},
		{"since", []string{"--since", "1h", "--from-seq", "0", "--to-seq", "3"}, []int{1, 2, 3}, nil},
		{"empty range", []string{"--from-seq", "5", "--to-seq", "6"}, nil, []string{"5..6"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := append([]string{"replay", "--stream", "TEST", "--json"}, tt.args...)
			out, stderr, err := c.run(t, args...)
			seqs, gaps := replayed(t, out)
			require.Equal(t, tt.wantSeqs, seqs, "stderr: %s", stderr)
			require.Equal(t, tt.wantGaps, gaps)
			if len(tt.wantGaps) > 0 {
				require.ErrorContains(t, err, "gap(s) in the stream")
				_, _, err = c.run(t, append(args, "--allow-gaps")...)
			}
			require.NoError(t, err)
		})
	}
}

// An event that packs several (a saga decision's, a product's commands
// stored together) is found by the types it holds, and printed whole.
func TestReplayTypeFindsEventsInsidePackedOnes(t *testing.T) {
	c := newOpsCLI(t)
	ctx := context.Background()
	testStream(t, c.store)
	for _, ev := range []struct {
		typ  string
		data any
	}{
		{"thing.a.v1", map[string]int{"i": 1}},
		{"thing.packed.v1", map[string]any{"events": []map[string]any{{"type": "thing.a.v1", "data": map[string]int{"i": 2}},
			{"type": "thing.b.v1", "data": map[string]int{"i": 3}}}}},
		{"thing.packed.v1", map[string]any{"events": []map[string]any{{"type": "thing.a.v1", "data": map[string]int{"i": 4}}}}},
		{"thing.b.v1", map[string]any{"events": "not a pack"}},
	} {
		env, err := eventstore.NewEnvelope(ev.typ, ev.data)
		require.NoError(t, err)
		_, err = c.store.Append(ctx, "test.x", eventstore.NoExpectation, env)
		require.NoError(t, err)
	}
	for types, want := range map[string][]int{
		"thing.a.v1":      {1, 2, 3},
		"thing.b.v1":      {2, 4},
		"thing.packed.v1": {2, 3},
		"thing.c.v1":      nil,
	} {
		out, stderr, err := c.run(t, "replay", "--stream", "TEST", "--json", "--type", types)
		require.NoError(t, err, stderr)
		seqs, _ := replayed(t, out)
		require.Equal(t, want, seqs, types)
	}
	out := c.mustRun(t, "replay", "--stream", "TEST", "--type", "thing.b.v1")
	require.Contains(t, out, `{"events":[{"data":{"i":2},"type":"thing.a.v1"},{"data":{"i":3},"type":"thing.b.v1"}]}`, "printed whole")
}

func TestReplayPrintsAlignedTextAndRejectsBadFlags(t *testing.T) {
	c := newOpsCLI(t)
	appendLogEvents(t, c.store, 3)
	out := c.mustRun(t, "replay")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	require.Len(t, lines, 4)
	require.Regexp(t, `^SEQ\s+TIME\s+SUBJECT\s+TYPE\s+DATA$`, lines[0])
	require.Regexp(t, `^2\s+\S+Z\s+logs\.entries\s+log\.entries_received\.v1\s+\{"entries":\[\{"id":`, lines[2])

	for _, args := range [][]string{
		{"replay", "--from-seq", "3", "--since", "1m"},
		{"replay", "--from-seq", "5", "--to-seq", "2"},
		{"replay", "--since", "yesterday"},
		{"replay", "--aggregate", "a.b"},
	} {
		_, _, err := c.run(t, args...)
		require.Error(t, err, "%v", args)
	}
	_, _, err := c.run(t, "replay", "--stream", "NOPE")
	require.ErrorContains(t, err, "NOPE")
}

func TestReplayTypeIsCheckedAgainstTheDecodeTable(t *testing.T) {
	var o replayOptions
	o.types = []string{"log.entries_received.v1"}
	require.NoError(t, o.resolveStream(modules(defaultConfig()), io.Discard))
	require.Equal(t, "LOGS", o.stream, "the stream of the module that registers the type")

	o = replayOptions{types: []string{"log.entrys_received.v1"}}
	err := o.resolveStream(modules(defaultConfig()), io.Discard)
	require.ErrorContains(t, err, `unknown event type "log.entrys_received.v1" (known: `)
	require.ErrorContains(t, err, "log.entries_received.v1")

	var warned strings.Builder
	o = replayOptions{stream: "TEST", types: []string{"thing.a.v1"}}
	require.NoError(t, o.resolveStream(modules(defaultConfig()), &warned))
	require.Contains(t, warned.String(), `no module registers event type "thing.a.v1"`)
}

func TestModulesAreValid(t *testing.T) {
	require.NoError(t, modules(defaultConfig()).Validate())
}
