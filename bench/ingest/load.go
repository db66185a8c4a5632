package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// request describes one HTTP request of a load loop.
type request struct {
	method, url, contentType string
	body                     []byte
	// want is the status code that counts as success.
	want int
}

// reply is what a load loop keeps of one successful response.
type reply struct {
	seq      uint64
	accepted int
	at       time.Time
}

// loadResult summarises one load loop.
type loadResult struct {
	Requests int64         `json:"requests"`
	Errors   int64         `json:"errors"`
	FirstErr string        `json:"first_error,omitempty"`
	Elapsed  time.Duration `json:"elapsed_ns"`
	// Items counts entries accepted (batch requests hold many).
	Items int64   `json:"items"`
	RPS   float64 `json:"requests_per_s"`
	IPS   float64 `json:"items_per_s"`
	P50   float64 `json:"p50_ms"`
	P99   float64 `json:"p99_ms"`
	Max   float64 `json:"max_ms"`
	lat   []time.Duration
	reps  []reply
}

func (r *loadResult) finish() {
	slices.Sort(r.lat)
	secs := r.Elapsed.Seconds()
	if secs > 0 {
		r.RPS = float64(r.Requests) / secs
		r.IPS = float64(r.Items) / secs
	}
	r.P50, r.P99, r.Max = pct(r.lat, 0.50), pct(r.lat, 0.99), pct(r.lat, 1)
}

// merge adds o (another round of the same loop) to r.
func (r *loadResult) merge(o *loadResult) {
	r.add(o)
	r.finish()
}

// add adds o's counts and latencies to r's.
func (r *loadResult) add(o *loadResult) {
	r.Requests += o.Requests
	r.Errors += o.Errors
	if r.FirstErr == "" {
		r.FirstErr = o.FirstErr
	}
	r.Elapsed += o.Elapsed
	r.Items += o.Items
	r.lat = append(r.lat, o.lat...)
	r.reps = append(r.reps, o.reps...)
}

// failed counts a request that got no good answer.
func (r *loadResult) failed(err error) {
	r.Requests++
	r.Errors++
	if r.FirstErr == "" {
		r.FirstErr = err.Error()
	}
}

// answered counts rep, the good answer to a request sent (or due) at t0,
// and keeps it when keep.
func (r *loadResult) answered(rep reply, t0 time.Time, keep bool) {
	r.Requests++
	r.Items += int64(rep.accepted)
	r.lat = append(r.lat, rep.at.Sub(t0))
	if keep {
		r.reps = append(r.reps, rep)
	}
}

// pct is the q-quantile of sorted durations, in milliseconds.
func pct(sorted []time.Duration, q float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	i := int(q*float64(len(sorted))+0.5) - 1
	i = min(max(i, 0), len(sorted)-1)
	return float64(sorted[i]) / float64(time.Millisecond)
}

// worker state shared by the closed and paced loops.
type loopState struct {
	mu  sync.Mutex
	res loadResult
}

// add adds one worker's result.
func (st *loopState) add(r *loadResult) {
	st.mu.Lock()
	defer st.mu.Unlock()
	st.res.add(r)
}

// do sends one request and reads the answer. For accepted log writes it
// returns the stream sequence (X-Eventline-Seq) and, for batches, the
// number of entries accepted.
func do(ctx context.Context, c *http.Client, rq request, countBatch bool) (reply, error) {
	req, err := http.NewRequestWithContext(ctx, rq.method, rq.url, bytes.NewReader(rq.body))
	if err != nil {
		return reply{}, err
	}
	if rq.contentType != "" {
		req.Header.Set("Content-Type", rq.contentType)
	}
	resp, err := c.Do(req)
	if err != nil {
		return reply{}, err
	}
	defer resp.Body.Close()
	var rep reply
	if countBatch && resp.StatusCode == rq.want {
		var body struct {
			Accepted int    `json:"accepted"`
			LastSeq  uint64 `json:"last_seq"`
		}
		if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
			return reply{}, fmt.Errorf("decode batch answer: %w", err)
		}
		rep.accepted, rep.seq = body.Accepted, body.LastSeq
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	if resp.StatusCode != rq.want {
		return reply{}, fmt.Errorf("%s %s: status %d", rq.method, rq.url, resp.StatusCode)
	}
	if !countBatch {
		rep.accepted = 1
		if s := resp.Header.Get("X-Eventline-Seq"); s != "" {
			rep.seq, _ = strconv.ParseUint(s, 10, 64)
		}
	}
	rep.at = time.Now()
	return rep, nil
}

// closedLoop keeps conns requests in flight for d (or until maxReqs were
// sent), each connection sending its next request when the last one is
// answered. next picks request i of worker w.
func closedLoop(ctx context.Context, c *http.Client, conns int, d time.Duration, maxReqs int64,
	next func(w, i int) request, countBatch, keepReplies bool) *loadResult {
	st := &loopState{}
	var sent atomic.Int64
	lctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	start := time.Now()
	var wg sync.WaitGroup
	for w := 0; w < conns; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var r loadResult
			for i := 0; lctx.Err() == nil && sent.Add(1) <= maxReqs; i++ {
				rq := next(w, i)
				t0 := time.Now()
				// The request itself is not cut short by the deadline:
				// an answer in flight is awaited (bounded by the client's
				// timeout) so that the tail is not hidden.
				rep, err := do(context.WithoutCancel(lctx), c, rq, countBatch)
				if err != nil {
					if ctx.Err() != nil {
						break
					}
					r.failed(err)
					continue
				}
				r.answered(rep, t0, keepReplies)
			}
			st.add(&r)
		}()
	}
	wg.Wait()
	st.res.Elapsed = time.Since(start)
	st.res.finish()
	return &st.res
}

// pacedLoop sends rate requests per second for d over up to conns
// connections (open loop: a request's latency counts from when it was due,
// so a stalled server is not hidden by the generator slowing down).
func pacedLoop(ctx context.Context, c *http.Client, conns int, rate float64, d time.Duration,
	next func(i int) request) *loadResult {
	st := &loopState{}
	due := make(chan time.Time, 100_000)
	lctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	start := time.Now()
	var wg sync.WaitGroup
	var idx atomic.Int64
	for w := 0; w < conns; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var r loadResult
			for at := range due {
				rep, err := do(context.WithoutCancel(lctx), c, next(int(idx.Add(1))), false)
				if err != nil {
					r.failed(err)
					continue
				}
				r.answered(rep, at, true)
			}
			st.add(&r)
		}()
	}
	interval := time.Duration(float64(time.Second) / rate)
	total := int(d / interval)
	tick := time.NewTicker(time.Millisecond)
	sentN := 0
	dropped := 0
feed:
	for sentN < total {
		select {
		case <-lctx.Done():
			break feed
		case now := <-tick.C:
			for sentN < total {
				at := start.Add(time.Duration(sentN) * interval)
				if at.After(now) {
					break
				}
				select {
				case due <- at:
				default:
					dropped++ // the generator's queue is full: count as an error
				}
				sentN++
			}
		}
	}
	tick.Stop()
	close(due)
	wg.Wait()
	st.res.Elapsed = time.Since(start)
	st.res.Errors += int64(dropped)
	st.res.Requests += int64(dropped)
	if dropped > 0 && st.res.FirstErr == "" {
		st.res.FirstErr = fmt.Sprintf("%d requests not sent: generator queue full", dropped)
	}
	st.res.finish()
	return &st.res
}
