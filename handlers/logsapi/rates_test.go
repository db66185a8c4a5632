package logsapi

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestRateRingKeepsTheLastSamplesOldestFirst(t *testing.T) {
	r := newRateRing(3)
	t0 := time.Unix(1000, 0)
	assert.Empty(t, r.ordered())
	for i := range 5 {
		r.add(rateSample{at: t0.Add(time.Duration(i) * time.Second), received: int64(i)}, statsView{Received: int64(i)})
	}
	got := r.ordered()
	require.Len(t, got, 3)
	assert.Equal(t, []int64{2, 3, 4}, []int64{got[0].received, got[1].received, got[2].received})
	last, at := r.latest()
	assert.Equal(t, int64(4), last.Received)
	assert.Equal(t, t0.Add(4*time.Second), at)
}

func TestRatesArePerSecondAndNeverNegative(t *testing.T) {
	t0 := time.Unix(1000, 0)
	samples := []rateSample{
		{at: t0, received: 0, persisted: 0},
		{at: t0.Add(2 * time.Second), received: 100, persisted: 40},
		{at: t0.Add(3 * time.Second), received: 150, persisted: 10}, // a rebuild emptied the table
		{at: t0.Add(3 * time.Second), received: 150, persisted: 10}, // same instant: skipped
	}
	got := rates(samples)
	require.Len(t, got, 2)
	assert.InDelta(t, 50, got[0].ingest, 1e-9)
	assert.InDelta(t, 20, got[0].flush, 1e-9)
	assert.InDelta(t, 50, got[1].ingest, 1e-9)
	assert.Zero(t, got[1].flush)
	assert.Nil(t, rates(samples[:1]))
}

func TestIngestRateOverAWindow(t *testing.T) {
	t0 := time.Unix(1000, 0)
	var samples []rateSample
	for i := range 30 {
		n := int64(0)
		if i >= 20 {
			n = int64(i-20) * 100 // 100 entries a second over the last 10 s
		}
		samples = append(samples, rateSample{at: t0.Add(time.Duration(i) * time.Second), received: n})
	}
	rate, ok := ingestRate(samples, 10*time.Second)
	require.True(t, ok)
	assert.InDelta(t, 90, rate, 1e-9, "900 entries over the 10 s from the sample at 19 s")
	rate, ok = ingestRate(samples[25:], 10*time.Second)
	require.True(t, ok)
	assert.InDelta(t, 100, rate, 1e-9, "fewer samples than the window: over those there are")
	_, ok = ingestRate(samples[:1], 10*time.Second)
	assert.False(t, ok)
}

func TestBuildChartPlacesPointsInThePlotArea(t *testing.T) {
	now := time.Unix(10_000, 0)
	points := []ratePoint{
		{at: now.Add(-10 * time.Minute), ingest: 1e6, flush: 1e6}, // outside the span: not drawn, not scaled
		{at: now.Add(-5 * time.Minute), ingest: 0, flush: 0},
		{at: now.Add(-150 * time.Second), ingest: 80, flush: 40},
		{at: now, ingest: 160, flush: 200},
	}
	c := buildChart(points[1:], now, 5*time.Minute)
	assert.Equal(t, 200.0, c.Max)
	assert.Equal(t, "56.0,176.0 618.0,109.6 1180.0,43.2", c.Ingest)
	assert.Equal(t, "56.0,176.0 618.0,142.8 1180.0,10.0", c.Flush)
	assert.Equal(t, 160.0, c.LastIngest)
	require.Len(t, c.YTicks, 5)
	assert.Equal(t, chartTick{Pos: chartBottom, Label: "0"}, c.YTicks[0])
	assert.Equal(t, chartTick{Pos: chartTop, Label: "200"}, c.YTicks[4])
	require.Len(t, c.XTicks, 6)
	assert.Equal(t, chartTick{Pos: chartLeft, Label: "−5 min"}, c.XTicks[0])
	assert.Equal(t, chartTick{Pos: chartRight, Label: "now"}, c.XTicks[5])

	old := buildChart(points[:1], now, 5*time.Minute)
	assert.Empty(t, old.Ingest, "a point older than the span is not drawn")

	empty := buildChart(nil, now, 5*time.Minute)
	assert.Empty(t, empty.Ingest)
	assert.Equal(t, 10.0, empty.Max)
	for _, p := range strings.Fields(c.Ingest + " " + c.Flush) {
		assert.Regexp(t, `^\d+\.\d,\d+\.\d$`, p)
	}
}

func TestNiceCeilAndFormatRate(t *testing.T) {
	for in, want := range map[float64]float64{0: 10, 7: 10, 11: 20, 20: 20, 21: 50, 99: 100, 101: 200, 4500: 5000, 12_000: 20_000} {
		assert.Equal(t, want, niceCeil(in), "niceCeil(%v)", in)
	}
	for in, want := range map[float64]string{0: "0", 2.5: "2.5", 750: "750", 123.4: "123", 12_345: "12k", 1_250_000: "1.3M"} {
		assert.Equal(t, want, formatRate(in), "formatRate(%v)", in)
	}
}

// The sampler reads the log only while the rates are looked at.
func TestSamplerReadsOnlyWhileWatched(t *testing.T) {
	ring := newRateRing(10)
	var reads atomic.Int64
	read := func(context.Context) (statsView, error) {
		reads.Add(1)
		return statsView{Received: 1}, nil
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- sampleRates(ctx, ring, time.Millisecond, read) }()

	// Nobody looks: many ticks go by without a read. The ticks are
	// observed through a second, watched ring fed at the same pace.
	probe := newRateRing(10)
	probe.watch(time.Now().Add(time.Hour))
	var probeTicks atomic.Int64
	go func() {
		_ = sampleRates(ctx, probe, time.Millisecond, func(context.Context) (statsView, error) {
			probeTicks.Add(1)
			return statsView{}, nil
		})
	}()
	require.Eventually(t, func() bool { return probeTicks.Load() >= 20 }, 10*time.Second, time.Millisecond)
	require.Zero(t, reads.Load(), "read while nobody looked")

	ring.watch(time.Now())
	require.Eventually(t, func() bool { return reads.Load() > 0 }, 10*time.Second, time.Millisecond)
	cancel()
	require.NoError(t, <-done)
}
