package main

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// The survivor's slog lines, as serve writes them, are what the takeover
// is timed from.
func TestTakeoverLines(t *testing.T) {
	for _, tc := range []struct {
		line               string
		parts, sagas, took string
	}{
		{`time=2026-12-07T02:51:08.481Z level=INFO msg="partitions taken over: their running sagas resumed" process=p1 partitions=[4] sagas=0 took=58ms`,
			"4", "0", "58ms"},
		{`time=2026-12-07T02:51:08.483Z level=INFO msg="partitions taken over: their running sagas resumed" process=p1 partitions="[0 1 2 15]" sagas=12 took=1.2s`,
			"0 1 2 15", "12", "1.2s"},
	} {
		m := reResumed.FindStringSubmatch(tc.line)
		require.NotNil(t, m, tc.line)
		require.Equal(t, []string{tc.parts, tc.sagas, tc.took}, m[1:])
		require.NotNil(t, reTime.FindStringSubmatch(tc.line))
	}
	m := reTakenOver.FindStringSubmatch(`time=2026-12-07T02:51:08.423Z level=INFO msg="partition taken over" process=p1 group=sagas partition=13`)
	require.Equal(t, "13", m[1])
	m = reSweep.FindStringSubmatch(`time=2026-12-07T02:56:17.965Z level=WARN msg="safety-net sweep re-issued sagas idle past a step's timeout (their owner lost them)" process=p1 count=5`)
	require.Equal(t, "5", m[1])
}
