package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/eventline/eventline/bench/internal/benchserve"
)

// counts is what a load loop saw: answers by status, transport errors, and
// 503s that came without Retry-After.
type counts struct {
	Status       map[int]int64 `json:"status"`
	Transport    int64         `json:"transport_errors"`
	FirstErr     string        `json:"first_error,omitempty"`
	NoRetryAfter int64         `json:"503_without_retry_after"`
	Elapsed      time.Duration `json:"elapsed_ns"`
}

func (c *counts) merge(o counts) {
	if c.Status == nil {
		c.Status = map[int]int64{}
	}
	for k, v := range o.Status {
		c.Status[k] += v
	}
	c.Transport += o.Transport
	c.NoRetryAfter += o.NoRetryAfter
	if c.FirstErr == "" {
		c.FirstErr = o.FirstErr
	}
	c.Elapsed += o.Elapsed
}

// rate is the answers with status per second.
func (c counts) rate(status int) float64 {
	if c.Elapsed <= 0 {
		return 0
	}
	return float64(c.Status[status]) / c.Elapsed.Seconds()
}

// closedLoop runs n clients for d, each sending the next request as soon as
// the last is answered: no pacing, no respect for Retry-After.
func closedLoop(ctx context.Context, c *http.Client, n int, d time.Duration, next func() (*http.Request, error)) counts {
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	var mu sync.Mutex
	total := counts{Status: map[int]int64{}}
	var wg sync.WaitGroup
	start := time.Now()
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			mine := counts{Status: map[int]int64{}}
			for ctx.Err() == nil {
				req, err := next()
				if err != nil {
					mine.Transport++
					continue
				}
				resp, err := c.Do(req.WithContext(ctx))
				if err != nil {
					if ctx.Err() == nil {
						mine.Transport++
						if mine.FirstErr == "" {
							mine.FirstErr = err.Error()
						}
					}
					continue
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				mine.Status[resp.StatusCode]++
				if resp.StatusCode == http.StatusServiceUnavailable && resp.Header.Get("Retry-After") == "" {
					mine.NoRetryAfter++
				}
			}
			mu.Lock()
			total.merge(mine)
			mu.Unlock()
		}()
	}
	wg.Wait()
	total.Elapsed = time.Since(start)
	return total
}

// memoryResult is the memory measurement.
type memoryResult struct {
	BatchBytes int    `json:"batch_bytes"`
	Baseline   counts `json:"baseline_one_client"`
	BasePeak   int64  `json:"baseline_peak_rss_bytes"`
	Hostile    counts `json:"hostile"`
	Peak       int64  `json:"hostile_peak_rss_bytes"`
}

// bigBatch is a JSON array of 255 entries of 65,000-byte messages: just
// under the 16 MiB a batch may hold.
func bigBatch() []byte {
	entry := map[string]string{"level": "info", "source": "hostile", "message": strings.Repeat("m", 65000)}
	entries := make([]map[string]string, 255)
	for i := range entries {
		entries[i] = entry
	}
	b, _ := json.Marshal(entries) // strings only: it cannot fail
	return b
}

func measureMemory(ctx context.Context, bin, dir string, o options, logf func(string, ...any)) (memoryResult, error) {
	s, err := startServer(ctx, bin, dir, "memory")
	if err != nil {
		return memoryResult{}, err
	}
	defer s.Stop()
	body := bigBatch()
	res := memoryResult{BatchBytes: len(body)}
	next := func() (*http.Request, error) {
		req, err := http.NewRequest("POST", s.BaseURL()+"/api/logs/batch", bytes.NewReader(body))
		if err == nil {
			req.Header.Set("Content-Type", "application/json")
		}
		return req, err
	}
	logf("memory baseline: 1 client sending %d-byte batches for %v", len(body), o.Duration)
	s.ResetPeakRSS()
	res.Baseline = closedLoop(ctx, benchserve.NewClient(1, clientTimeout), 1, o.Duration, next)
	if res.BasePeak, err = s.PeakRSS(); err != nil {
		return res, err
	}
	logf("memory hostile: %d clients sending %d-byte batches for %v", o.BigClients, len(body), o.Duration)
	s.ResetPeakRSS()
	res.Hostile = closedLoop(ctx, benchserve.NewClient(o.BigClients, clientTimeout), o.BigClients, o.Duration, next)
	if res.Peak, err = s.PeakRSS(); err != nil {
		return res, err
	}
	return res, ctx.Err()
}

// lookupResult is the lookup measurement.
type lookupResult struct {
	Baseline    counts `json:"ingest_alone"`
	WithLookups counts `json:"ingest_with_lookups"`
	Lookups     counts `json:"lookups"`
}

// madeUpID is a UUIDv7 no one was given, with a time up to window back.
func madeUpID(window time.Duration) uuid.UUID {
	id := uuid.Must(uuid.NewV7())
	ms := uint64(time.Now().Add(-rand.N(window)).UnixMilli())
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], ms)
	copy(id[:6], b[2:])
	return id
}

func measureLookups(ctx context.Context, bin, dir string, o options, logf func(string, ...any)) (lookupResult, error) {
	s, err := startServer(ctx, bin, dir, "lookups")
	if err != nil {
		return lookupResult{}, err
	}
	defer s.Stop()
	var res lookupResult
	ingest := func() (*http.Request, error) {
		req, err := http.NewRequest("POST", s.BaseURL()+"/api/logs",
			strings.NewReader(`{"level":"info","message":"user 42 signed in from 10.0.0.7","context":{"user":42},"source":"auth"}`))
		if err == nil {
			req.Header.Set("Content-Type", "application/json")
		}
		return req, err
	}
	lookup := func() (*http.Request, error) {
		return http.NewRequest("GET", s.BaseURL()+"/api/logs/"+madeUpID(o.LookupWindow).String(), nil)
	}
	ic := benchserve.NewClient(o.Conns, clientTimeout)
	lc := benchserve.NewClient(o.Lookups, clientTimeout)
	// Warm up: the log and the projection get going.
	closedLoop(ctx, ic, o.Conns, 2*time.Second, ingest)
	for r := range o.Rounds {
		logf("round %d/%d: ingest alone, %d clients, %v", r+1, o.Rounds, o.Conns, o.Duration)
		res.Baseline.merge(closedLoop(ctx, ic, o.Conns, o.Duration, ingest))
		logf("round %d/%d: ingest with %d lookup clients, %v", r+1, o.Rounds, o.Lookups, o.Duration)
		var wg sync.WaitGroup
		var lk counts
		wg.Add(1)
		go func() {
			defer wg.Done()
			lk = closedLoop(ctx, lc, o.Lookups, o.Duration, lookup)
		}()
		res.WithLookups.merge(closedLoop(ctx, ic, o.Conns, o.Duration, ingest))
		wg.Wait()
		res.Lookups.merge(lk)
		if err := ctx.Err(); err != nil {
			return res, err
		}
	}
	if n := res.Lookups.Status[http.StatusOK]; n > 0 {
		return res, fmt.Errorf("%d made-up ids were found", n)
	}
	return res, nil
}
