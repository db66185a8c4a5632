package logsapi

import (
	"context"
	"math"
	"strconv"
	"strings"
	"sync"
	"time"
)

// rateSample is what the dashboard's sampler reads once a second: the
// entries received and persisted so far (GET /api/logs/stats's numbers).
type rateSample struct {
	at        time.Time
	received  int64
	persisted int64
}

// rateRing keeps the last samples, oldest first once full: the dashboard's
// chart of ingest and flush rates over the last minutes, and its overview
// card's ingest rate.
type rateRing struct {
	mu      sync.Mutex
	samples []rateSample // ring of cap len
	next    int
	full    bool
	last    statsView // the latest stats the sampler read
	lastAt  time.Time
	watched time.Time // when a page or card that shows the rates was last requested
}

// watch marks the rates as looked at, at now.
func (r *rateRing) watch(now time.Time) {
	r.mu.Lock()
	r.watched = now
	r.mu.Unlock()
}

// watchedSince reports whether the rates were looked at after t.
func (r *rateRing) watchedSince(t time.Time) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.watched.After(t)
}

// newRateRing returns a ring of n samples.
func newRateRing(n int) *rateRing { return &rateRing{samples: make([]rateSample, n)} }

// add records s (and v, the stats it came from).
func (r *rateRing) add(s rateSample, v statsView) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.samples[r.next] = s
	r.next = (r.next + 1) % len(r.samples)
	if r.next == 0 {
		r.full = true
	}
	r.last, r.lastAt = v, s.at
}

// latest returns the stats of the last sample and when it was read (the
// zero time before the first).
func (r *rateRing) latest() (statsView, time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.last, r.lastAt
}

// ordered returns the samples, oldest first.
func (r *rateRing) ordered() []rateSample {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.full {
		return append([]rateSample(nil), r.samples[:r.next]...)
	}
	out := make([]rateSample, 0, len(r.samples))
	out = append(out, r.samples[r.next:]...)
	return append(out, r.samples[:r.next]...)
}

// ratePoint is the ingest and flush rates (entries per second) between two
// consecutive samples, at the later one's time.
type ratePoint struct {
	at            time.Time
	ingest, flush float64
}

// rates turns consecutive samples into per-second rates. A count that went
// down (a rebuild empties the read model) counts as no progress.
func rates(samples []rateSample) []ratePoint {
	if len(samples) < 2 {
		return nil
	}
	out := make([]ratePoint, 0, len(samples)-1)
	for i := 1; i < len(samples); i++ {
		a, b := samples[i-1], samples[i]
		dt := b.at.Sub(a.at).Seconds()
		if dt <= 0 {
			continue
		}
		out = append(out, ratePoint{at: b.at,
			ingest: float64(max(b.received-a.received, 0)) / dt,
			flush:  float64(max(b.persisted-a.persisted, 0)) / dt})
	}
	return out
}

// ingestRate returns the entries received per second over the window ending
// at the last sample (or over the samples there are, when fewer), and
// false when there are not two samples to compare.
func ingestRate(samples []rateSample, window time.Duration) (float64, bool) {
	if len(samples) < 2 {
		return 0, false
	}
	last := samples[len(samples)-1]
	first := samples[0]
	for _, s := range samples {
		if last.at.Sub(s.at) <= window {
			first = s
			break
		}
	}
	dt := last.at.Sub(first.at).Seconds()
	if dt <= 0 {
		return 0, false
	}
	return float64(max(last.received-first.received, 0)) / dt, true
}

// sampleRates reads the stats every interval into ring until ctx ends. A
// failed read (PostgreSQL or the log away) leaves a gap, never an error:
// the chart is a view, not a reason to stop serve.
func sampleRates(ctx context.Context, ring *rateRing, interval time.Duration, read func(context.Context) (statsView, error)) error {
	t := time.NewTicker(interval)
	defer t.Stop()
	window := time.Duration(len(ring.samples)) * interval
	for {
		if ring.watchedSince(time.Now().Add(-window)) {
			rctx, cancel := context.WithTimeout(ctx, interval)
			v, err := read(rctx)
			cancel()
			if err == nil {
				ring.add(rateSample{at: time.Now(), received: v.Received, persisted: v.Persisted}, v)
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// chartView is the rate chart as the SVG template draws it: a viewBox of
// Width x Height, a plot area inside the margins, two polylines and the
// axis labels.
type chartView struct {
	Width, Height int
	Left, Right   int    // plot area's x bounds
	Top, Bottom   int    // plot area's y bounds
	Ingest, Flush string // polyline points
	YTicks        []chartTick
	XTicks        []chartTick
	Max           float64
	LastIngest    float64
	LastFlush     float64
	Points        int
	Span          time.Duration
}

// chartTick is an axis label at a position (x for the time axis, y for the
// rate axis).
type chartTick struct {
	Pos   int
	Label string
}

// Chart geometry (SVG user units).
const (
	chartWidth  = 1200
	chartHeight = 200
	chartLeft   = 56
	chartRight  = 1180
	chartTop    = 10
	chartBottom = 176
)

// buildChart lays out points (oldest first) over the span ending at now:
// time on x, entries per second on y from 0 to a round maximum.
func buildChart(points []ratePoint, now time.Time, span time.Duration) chartView {
	c := chartView{Width: chartWidth, Height: chartHeight, Left: chartLeft, Right: chartRight,
		Top: chartTop, Bottom: chartBottom, Points: len(points), Span: span}
	peak := 0.0
	for _, p := range points {
		peak = math.Max(peak, math.Max(p.ingest, p.flush))
	}
	c.Max = niceCeil(peak)
	if n := len(points); n > 0 {
		c.LastIngest, c.LastFlush = points[n-1].ingest, points[n-1].flush
	}
	x := func(at time.Time) float64 {
		f := 1 - now.Sub(at).Seconds()/span.Seconds()
		return chartLeft + math.Max(0, math.Min(1, f))*(chartRight-chartLeft)
	}
	y := func(v float64) float64 { return chartBottom - v/c.Max*(chartBottom-chartTop) }
	var ing, fl strings.Builder
	for _, p := range points {
		if now.Sub(p.at) > span {
			continue
		}
		px := x(p.at)
		writePoint(&ing, px, y(p.ingest))
		writePoint(&fl, px, y(p.flush))
	}
	c.Ingest, c.Flush = ing.String(), fl.String()
	for i := 0; i <= 4; i++ {
		v := c.Max * float64(i) / 4
		c.YTicks = append(c.YTicks, chartTick{Pos: int(math.Round(y(v))), Label: formatRate(v)})
	}
	minutes := int(span / time.Minute)
	for m := minutes; m >= 0; m-- {
		label := "now"
		if m > 0 {
			label = "−" + strconv.Itoa(m) + " min"
		}
		c.XTicks = append(c.XTicks, chartTick{Pos: int(math.Round(x(now.Add(-time.Duration(m) * time.Minute)))), Label: label})
	}
	return c
}

// writePoint appends "x,y " with one decimal.
func writePoint(b *strings.Builder, x, y float64) {
	if b.Len() > 0 {
		b.WriteByte(' ')
	}
	b.WriteString(strconv.FormatFloat(x, 'f', 1, 64))
	b.WriteByte(',')
	b.WriteString(strconv.FormatFloat(y, 'f', 1, 64))
}

// niceCeil rounds v up to 1, 2 or 5 times a power of ten (at least 10), so
// that the rate axis has round labels.
func niceCeil(v float64) float64 {
	if v <= 10 {
		return 10
	}
	p := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 2, 5, 10} {
		if v <= m*p {
			return m * p
		}
	}
	return 10 * p
}

// formatRate formats entries per second for an axis or a label: "0",
// "2.5", "750", "12k", "1.2M".
func formatRate(v float64) string {
	switch {
	case v >= 1e6:
		return strconv.FormatFloat(math.Round(v/1e5)/10, 'f', -1, 64) + "M"
	case v >= 1e4:
		return strconv.FormatFloat(math.Round(v/1e3), 'f', -1, 64) + "k"
	case v >= 100 || v == math.Trunc(v):
		return strconv.FormatFloat(math.Round(v), 'f', -1, 64)
	}
	return strconv.FormatFloat(v, 'f', 1, 64)
}
