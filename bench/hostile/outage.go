package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/eventline/eventline/bench/internal/benchserve"
	"github.com/eventline/eventline/internal/pgcluster"
)

// outageResult is the PostgreSQL outage measurement: what a long outage
// costs serve's memory while entries keep being accepted.
type outageResult struct {
	Entries       int64         `json:"entries_accepted_while_down"`
	Events        uint64        `json:"events"`
	Accept        time.Duration `json:"accept_ns"`
	BaseRSS       int64         `json:"rss_before_outage_bytes"`
	DownRSS       int64         `json:"rss_after_accepting_bytes"`
	DownPeak      int64         `json:"peak_rss_while_down_bytes"`
	StatsRSS      int64         `json:"rss_after_stats_bytes"`
	Pending       int64         `json:"pending_reported"`
	Drained       time.Duration `json:"drain_ns"`
	PersistedDiff int64         `json:"persisted_minus_accepted"`
}

// logStats is the part of GET /api/logs/stats the outage measurement reads.
type logStats struct {
	Received      int64  `json:"received"`
	Persisted     int64  `json:"persisted"`
	Pending       int64  `json:"pending"`
	StreamLastSeq uint64 `json:"stream_last_seq"`
}

func getStats(ctx context.Context, base string) (logStats, error) {
	var st logStats
	req, err := http.NewRequestWithContext(ctx, "GET", base+"/api/logs/stats", nil)
	if err != nil {
		return st, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return st, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return st, fmt.Errorf("stats: %s", resp.Status)
	}
	return st, json.NewDecoder(resp.Body).Decode(&st)
}

// measureOutage runs serve against a PostgreSQL cluster of its own, stops
// that cluster, has o.Conns clients post o.OutageEntries entries in batches
// of o.OutageBatch, measures serve's RSS, starts PostgreSQL again, reads
// the stats (which count the whole backlog as pending) and waits for the
// backlog to land.
func measureOutage(ctx context.Context, bin, dir string, o options, logf func(string, ...any)) (outageResult, error) {
	var res outageResult
	pg, err := pgcluster.Start(ctx, filepath.Join(dir, "outage-pg"), pgcluster.Options{})
	if err != nil {
		return res, err
	}
	defer func() { _ = pg.Stop() }()
	s, err := benchserve.StartReady(ctx, benchserve.Config{Bin: bin, Name: "outage", DataDir: filepath.Join(dir, "outage"),
		Env: []string{"EVENTLINE_ROLES=all", "DATABASE_URL=" + pg.URL("")}})
	if err != nil {
		return res, err
	}
	defer s.StopLogged(logf)
	var b strings.Builder
	b.WriteString("[")
	for i := range o.OutageBatch {
		if i > 0 {
			b.WriteString(",")
		}
		fmt.Fprintf(&b, `{"level":"info","message":"entry %d accepted while the database is away","source":"outage"}`, i)
	}
	b.WriteString("]")
	body := []byte(b.String())
	post := func(ctx context.Context, c *http.Client) bool {
		req, _ := http.NewRequestWithContext(ctx, "POST", s.BaseURL()+"/api/logs/batch", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		resp, err := c.Do(req)
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusAccepted
	}
	client := benchserve.NewClient(o.Conns, clientTimeout)
	// Warm up with the database up, so that the baseline holds what a
	// running serve holds.
	for range 1000 {
		post(ctx, client)
	}
	if res.BaseRSS, err = s.RSS(); err != nil {
		return res, err
	}
	logf("outage: stopping PostgreSQL, then posting %d entries in batches of %d", o.OutageEntries, o.OutageBatch)
	if err := pg.Stop(); err != nil {
		return res, err
	}
	s.ResetPeakRSS()
	start := time.Now()
	var accepted atomic.Int64
	var wg sync.WaitGroup
	for range o.Conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for accepted.Load() < o.OutageEntries && ctx.Err() == nil {
				if post(ctx, client) {
					accepted.Add(int64(o.OutageBatch))
				}
			}
		}()
	}
	wg.Wait()
	res.Accept = time.Since(start)
	res.Entries = accepted.Load()
	if res.DownRSS, err = s.RSS(); err != nil {
		return res, err
	}
	if res.DownPeak, err = s.PeakRSS(); err != nil {
		return res, err
	}
	logf("outage: %d entries accepted in %v; starting PostgreSQL again", res.Entries, res.Accept.Round(time.Millisecond))
	if err := pg.StartAgain(ctx); err != nil {
		return res, err
	}
	drainStart := time.Now()
	deadline := time.Now().Add(5 * time.Minute)
	var first = true
	for {
		st, err := getStats(ctx, s.BaseURL())
		if err == nil {
			if first {
				first = false
				res.Pending, res.Events = st.Pending, st.StreamLastSeq
				if res.StatsRSS, err = s.RSS(); err != nil {
					return res, err
				}
			}
			if st.Pending == 0 {
				res.Drained = time.Since(drainStart)
				res.PersistedDiff = st.Persisted - (res.Entries + 1000*int64(o.OutageBatch))
				return res, nil
			}
		}
		if time.Now().After(deadline) {
			return res, fmt.Errorf("backlog did not land within 5 minutes (last: %v)", err)
		}
		select {
		case <-ctx.Done():
			return res, ctx.Err()
		case <-time.After(250 * time.Millisecond):
		}
	}
}
