package main

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestPercentile(t *testing.T) {
	ms := func(n ...int) []time.Duration {
		var out []time.Duration
		for _, v := range n {
			out = append(out, time.Duration(v)*time.Millisecond)
		}
		return out
	}
	tests := []struct {
		name string
		lat  []time.Duration
		q    float64
		want time.Duration
	}{
		{"none", nil, 0.5, 0},
		{"one", ms(7), 0.99, 7 * time.Millisecond},
		{"median of four", ms(1, 2, 3, 4), 0.5, 2 * time.Millisecond},
		{"p99 of hundred", ms(seq(100)...), 0.99, 99 * time.Millisecond},
		{"p50 of hundred", ms(seq(100)...), 0.5, 50 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			require.Equal(t, tt.want, runResult{Latencies: tt.lat}.Percentile(tt.q))
		})
	}
}

func seq(n int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = i + 1
	}
	return out
}

func TestDriveCountsOutcomesAndErrors(t *testing.T) {
	fn := func(_ context.Context, _, n int) (string, error) {
		switch n % 4 {
		case 0:
			return "", errors.New("boom")
		case 1:
			return "compensated", nil
		}
		return "completed", nil
	}
	res := drive(context.Background(), 3, time.Hour, 40, fn)
	require.Equal(t, 40, res.Total())
	require.Equal(t, 20, res.Completed())
	require.Equal(t, 10, res.Outcomes["compensated"])
	require.Equal(t, 10, res.Errors)
	require.Equal(t, "boom", res.FirstErr)
	require.Len(t, res.Latencies, 20)
	require.Contains(t, outcomes(res), "all completed: MISSED")
}

func TestDriveStopsAtDeadline(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	fn := func(context.Context, int, int) (string, error) { return "completed", nil }
	res := drive(ctx, 2, 0, 0, fn)
	require.Zero(t, res.Total())
	require.Contains(t, outcomes(res), "none")
}
