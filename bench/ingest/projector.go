package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"sort"
	"time"

	"github.com/jackc/pgx/v5"
)

// checkpointSQL reads the logs projection's checkpoint. It is committed in
// the same transaction as the rows, so last_seq >= s means every entry of
// event s is visible in log_entries.
const checkpointSQL = `SELECT coalesce(max(last_seq), 0), coalesce(max(rows), 0)
	FROM projection_checkpoints WHERE name = 'logs'`

// cpSample is one observation of the checkpoint.
type cpSample struct {
	at   time.Time
	seq  uint64
	rows int64
}

// checkpointPoller samples the checkpoint every interval on a connection of
// its own until stopped.
type checkpointPoller struct {
	conn    *pgx.Conn
	samples []cpSample
	stop    chan struct{}
	done    chan error
}

func startPoller(ctx context.Context, pgURL string, every time.Duration) (*checkpointPoller, error) {
	conn, err := pgx.Connect(ctx, pgURL)
	if err != nil {
		return nil, fmt.Errorf("connect to postgres: %w", err)
	}
	p := &checkpointPoller{conn: conn, stop: make(chan struct{}), done: make(chan error, 1)}
	go func() {
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			var s cpSample
			var seq int64
			if err := conn.QueryRow(ctx, checkpointSQL).Scan(&seq, &s.rows); err != nil {
				p.done <- err
				return
			}
			// The read happened before now: using the time it returned
			// can only overstate the lag, by at most one interval.
			s.at, s.seq = time.Now(), uint64(seq)
			p.samples = append(p.samples, s)
			select {
			case <-p.stop:
				p.done <- nil
				return
			case <-ctx.Done():
				p.done <- ctx.Err()
				return
			case <-t.C:
			}
		}
	}()
	return p, nil
}

// finish stops polling and returns the samples, oldest first.
func (p *checkpointPoller) finish() ([]cpSample, error) {
	close(p.stop)
	err := <-p.done
	p.conn.Close(context.Background())
	return p.samples, err
}

// waitCheckpoint polls (on its own connection) until the checkpoint reaches
// seq or timeout passes.
func waitCheckpoint(ctx context.Context, pgURL string, seq uint64, timeout time.Duration) error {
	conn, err := pgx.Connect(ctx, pgURL)
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	deadline := time.Now().Add(timeout)
	for {
		var got, rows int64
		if err := conn.QueryRow(ctx, checkpointSQL).Scan(&got, &rows); err != nil {
			return err
		}
		if uint64(got) >= seq {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("projection checkpoint at %d, not %d, after %v", got, seq, timeout)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// lagResult is end-to-end lag: from a POST's 202 to its entry being visible
// in PostgreSQL.
type lagResult struct {
	Entries    int     `json:"entries"`
	NotVisible int     `json:"not_visible"`
	P50        float64 `json:"p50_ms"`
	P99        float64 `json:"p99_ms"`
	Max        float64 `json:"max_ms"`
}

// lags matches every accepted entry with the first checkpoint sample that
// covers its sequence. Entries never covered count at the bound.
func lags(reps []reply, samples []cpSample, bound time.Duration) lagResult {
	var ds []time.Duration
	res := lagResult{Entries: len(reps)}
	for _, r := range reps {
		i := sort.Search(len(samples), func(i int) bool { return samples[i].seq >= r.seq })
		if i == len(samples) {
			res.NotVisible++
			ds = append(ds, bound)
			continue
		}
		// A sample taken before the answer arrived (the projector can be
		// that fast) means it was visible at once.
		ds = append(ds, max(0, samples[i].at.Sub(r.at)))
	}
	slices.Sort(ds)
	res.P50, res.P99, res.Max = pct(ds, 0.5), pct(ds, 0.99), pct(ds, 1)
	return res
}

// drainResult is how fast the projector emptied a backlog.
type drainResult struct {
	Rows     int64         `json:"rows"`
	Elapsed  time.Duration `json:"elapsed_ns"`
	RPS      float64       `json:"rows_per_s"`
	Batches  int64         `json:"batches"`
	AvgBatch float64       `json:"avg_batch_rows"`
	Skipped  int64         `json:"rows_before_first_sample"`
	// Timeline is [ms since the first sample, rows committed] at every
	// change of the checkpoint: one point per projector transaction.
	Timeline [][2]int64 `json:"timeline"`
}

// measureDrain follows the checkpoint from the first sample until it
// reaches measureSeq, then waits (unmeasured) for the rest of the log up to
// finalSeq. Rows already committed at the first sample are left out of the
// rate: it is the steady drain, not the process start.
func measureDrain(ctx context.Context, pgURL string, measureSeq, finalSeq uint64, timeout time.Duration) (drainResult, error) {
	p, err := startPoller(ctx, pgURL, 10*time.Millisecond)
	if err != nil {
		return drainResult{}, err
	}
	werr := waitCheckpoint(ctx, pgURL, measureSeq, timeout)
	samples, perr := p.finish()
	if werr != nil {
		return drainResult{}, werr
	}
	if perr != nil {
		return drainResult{}, perr
	}
	first := samples[0]
	last := samples[len(samples)-1]
	for _, s := range samples {
		if s.seq >= measureSeq {
			last = s
			break
		}
	}
	res := drainResult{Rows: last.rows - first.rows, Elapsed: last.at.Sub(first.at), Skipped: first.rows}
	for i, s := range samples {
		if i == 0 || s.rows != samples[i-1].rows {
			res.Timeline = append(res.Timeline, [2]int64{s.at.Sub(first.at).Milliseconds(), s.rows})
		}
	}
	if res.Rows <= 0 || res.Elapsed <= 0 {
		return res, fmt.Errorf("backlog drained before it could be measured (%d rows at the first sample)", first.rows)
	}
	res.RPS = float64(res.Rows) / res.Elapsed.Seconds()
	if finalSeq > measureSeq {
		if err := waitCheckpoint(ctx, pgURL, finalSeq, timeout); err != nil {
			return res, err
		}
	}
	return res, nil
}

// checkpointBatches reads how many transactions the projection committed.
func checkpointBatches(ctx context.Context, pgURL string) (batches, rows int64, err error) {
	conn, err := pgx.Connect(ctx, pgURL)
	if err != nil {
		return 0, 0, err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	err = conn.QueryRow(ctx, `SELECT coalesce(max(batches),0), coalesce(max(rows),0) FROM projection_checkpoints WHERE name='logs'`).Scan(&batches, &rows)
	return batches, rows, err
}

// countRows counts log_entries.
func countRows(ctx context.Context, pgURL string) (int64, error) {
	conn, err := pgx.Connect(ctx, pgURL)
	if err != nil {
		return 0, err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	var n int64
	err = conn.QueryRow(ctx, `SELECT count(*) FROM log_entries`).Scan(&n)
	return n, err
}

// stats is the part of GET /api/logs/stats the benchmark reads.
type stats struct {
	Received      int64  `json:"received"`
	Persisted     int64  `json:"persisted"`
	Pending       int64  `json:"pending"`
	LagSeq        uint64 `json:"lag_seq"`
	StreamLastSeq uint64 `json:"stream_last_seq"`
}

func getStats(ctx context.Context, c *http.Client, base string) (stats, error) {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+"/api/logs/stats", nil)
	resp, err := c.Do(req)
	if err != nil {
		return stats{}, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return stats{}, fmt.Errorf("stats: status %d", resp.StatusCode)
	}
	var s stats
	return s, json.NewDecoder(resp.Body).Decode(&s)
}

// waitIdle waits (bounded) until the projector has caught up with the log,
// so that one phase's backlog does not slow the next one down.
func waitIdle(ctx context.Context, c *http.Client, base string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		s, err := getStats(ctx, c, base)
		if err == nil && s.LagSeq == 0 && s.Pending == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			if err != nil {
				return err
			}
			return fmt.Errorf("projector still %d events behind after %v", s.LagSeq, timeout)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}
