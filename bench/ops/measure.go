package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"runtime/debug"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/eventline/eventline/domain/logs"
	"github.com/eventline/eventline/eventstore"
	"github.com/eventline/eventline/projections"
	"github.com/eventline/eventline/projections/logentries"
)

// rate is a measured throughput.
type rate struct {
	Events  int64   `json:"events"`
	Rows    int64   `json:"rows"`
	Seconds float64 `json:"seconds"`
}

func (r rate) eventsPerSec() float64 { return float64(r.Events) / r.Seconds }
func (r rate) rowsPerSec() float64   { return float64(r.Rows) / r.Seconds }

// results are the figures of one run.
type results struct {
	Fill    rate `json:"fill"`
	RawRead rate `json:"raw_read"`
	Replay  rate `json:"replay_json"`
	Rebuild rate `json:"rebuild"`
	RawCopy rate `json:"raw_copy"`
	// RawCopyIndexSeconds is the part of RawCopy spent building the indexes.
	RawCopyIndexSeconds float64 `json:"raw_copy_index_seconds"`
}

func measure(ctx context.Context, e *benchEnv, o options, logf func(string, ...any)) (results, error) {
	var r results
	var err error
	logf("filling the LOGS stream")
	if r.Fill, err = fill(ctx, e.store, o); err != nil {
		return r, err
	}
	logf("fill: %.0f events/s", r.Fill.eventsPerSec())
	filled := time.Now()
	// The live model an operator rebuilds is caught up: let serve's
	// projector write it, so that the rebuild compares a million live rows.
	logf("waiting for the live projector to catch up")
	if err := waitProjected(ctx, e, uint64(o.Events)); err != nil {
		return r, err
	}
	logf("live model caught up %v after the fill", time.Since(filled).Round(time.Second))
	// JetStream remembers every message id of the last DuplicateWindow for
	// deduplication: right after the fill that is a million ids, 150 MB of
	// heap that no running system holds (its appends are group commits,
	// far fewer per second). Measure once they have expired.
	if o.SettleDedupe {
		if wait := time.Until(filled.Add(eventstore.DuplicateWindow + 15*time.Second)); wait > 0 {
			logf("waiting %v for the fill's message ids to leave the %v duplicate window", wait.Round(time.Second), eventstore.DuplicateWindow)
			select {
			case <-time.After(wait):
			case <-ctx.Done():
				return r, ctx.Err()
			}
		}
	}
	if r.RawCopy, r.RawCopyIndexSeconds, err = rawCopy(ctx, e, o); err != nil {
		return r, err
	}
	logf("raw CopyFrom: %.0f rows/s", r.RawCopy.rowsPerSec())
	if r.RawRead, err = rawRead(ctx, e.store); err != nil {
		return r, err
	}
	logf("raw read: %.0f events/s", r.RawRead.eventsPerSec())
	if r.Replay, err = replay(ctx, e, int64(o.Events)); err != nil {
		return r, err
	}
	logf("replay --json: %.0f events/s", r.Replay.eventsPerSec())
	// Steady state: autovacuum would have visited the live table long
	// before an operator rebuilds it; do it now rather than during the
	// measurement, and write the dirty pages out.
	if _, err := e.pool.Exec(ctx, `VACUUM (ANALYZE) log_entries`); err != nil {
		return r, err
	}
	if _, err := e.pool.Exec(ctx, `CHECKPOINT`); err != nil {
		return r, err
	}
	if r.Rebuild, err = rebuild(ctx, e, o, logf); err != nil {
		return r, err
	}
	logf("rebuild: %.0f events/s", r.Rebuild.eventsPerSec())
	return r, nil
}

// fill appends o.Events log events, o.Entries entries each, with async
// publishes.
func fill(ctx context.Context, st *eventstore.Store, o options) (rate, error) {
	start := time.Now()
	pending := make([]*eventstore.Pending, 0, 8192)
	// Entries as an API would have received them: an event every 100 µs
	// (10,000 requests/s), its entries sharing the request's time.
	first := time.Now().UTC().Add(-time.Duration(o.Events) * 100 * time.Microsecond)
	entries := make([]logs.Entry, o.Entries)
	for i := 0; i < o.Events; i++ {
		at := first.Add(time.Duration(i) * 100 * time.Microsecond)
		for j := range entries {
			entries[j] = logs.Entry{ID: uuid.Must(uuid.NewV7()), Level: logs.Levels[(i+j)%len(logs.Levels)],
				Message: fmt.Sprintf("request %d served in %d ms", i, j+i%97), Source: "api-" + fmt.Sprint(i%4),
				Context: []byte(`{"user":42,"path":"/api/orders"}`), ReceivedAt: at}
		}
		env, err := eventstore.NewEnvelope(logs.EntriesReceivedV1, logs.EntriesReceived{Entries: entries})
		if err != nil {
			return rate{}, err
		}
		p, err := st.AppendAsync(logs.Subject, env, eventstore.WithCount(o.Entries))
		if err != nil {
			return rate{}, err
		}
		if pending = append(pending, p); len(pending) == cap(pending) {
			if err := waitAll(ctx, pending); err != nil {
				return rate{}, err
			}
			pending = pending[:0]
		}
	}
	if err := waitAll(ctx, pending); err != nil {
		return rate{}, err
	}
	return rate{Events: int64(o.Events), Rows: int64(o.Events * o.Entries), Seconds: time.Since(start).Seconds()}, nil
}

// waitProjected waits until the live logs projection's checkpoint reaches seq.
func waitProjected(ctx context.Context, e *benchEnv, seq uint64) error {
	deadline := time.Now().Add(10 * time.Minute)
	for {
		cp, err := projections.LoadCheckpoint(ctx, e.pool, logentries.Name)
		if err == nil && cp.LastSeq >= seq {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("live projection not at #%d after 10 minutes (at #%d, err %v)", seq, cp.LastSeq, err)
		}
		select {
		case <-time.After(200 * time.Millisecond):
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

func waitAll(ctx context.Context, ps []*eventstore.Pending) error {
	for _, p := range ps {
		if _, err := p.Wait(ctx); err != nil {
			return err
		}
	}
	return nil
}

// rawRead reads the whole stream with eventstore.Read and does nothing else.
func rawRead(ctx context.Context, st *eventstore.Store) (rate, error) {
	// The garbage collector set as the CLI sets it for replay and rebuild,
	// so that the baseline differs from them only by their work.
	defer debug.SetGCPercent(debug.SetGCPercent(400))
	start := time.Now()
	var n int64
	err := st.Read(ctx, logs.Stream, eventstore.ReadOptions{}, func(eventstore.RawEvent) error {
		n++
		return nil
	})
	return rate{Events: n, Seconds: time.Since(start).Seconds()}, err
}

// replay runs the real `eventline replay --json` with stdout on /dev/null.
func replay(ctx context.Context, e *benchEnv, events int64) (rate, error) {
	devnull, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	if err != nil {
		return rate{}, err
	}
	defer devnull.Close()
	cmd := exec.CommandContext(ctx, e.bin, "replay", "--json")
	cmd.Env = e.cliEnv()
	var stderr strings.Builder
	cmd.Stdout, cmd.Stderr = devnull, &stderr
	start := time.Now()
	if err := cmd.Run(); err != nil {
		return rate{}, fmt.Errorf("eventline replay: %w: %s", err, stderr.String())
	}
	return rate{Events: events, Seconds: time.Since(start).Seconds()}, nil
}

// rebuild runs the real `eventline projections rebuild logs` (a process of
// its own, as an operator runs it) and reads its JSON result.
func rebuild(ctx context.Context, e *benchEnv, o options, logf func(string, ...any)) (rate, error) {
	cmd := exec.CommandContext(ctx, e.bin, "projections", "rebuild", "logs", "--json", "--quiet", "--batch", fmt.Sprint(o.Batch))
	cmd.Env = e.cliEnv()
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return rate{}, fmt.Errorf("eventline projections rebuild: %w: %s", err, stderr.String())
	}
	var res projections.RebuildResult
	if err := json.Unmarshal([]byte(stdout.String()), &res); err != nil {
		return rate{}, fmt.Errorf("rebuild result %q: %w", stdout.String(), err)
	}
	if res.Events != int64(o.Events) || res.Rows != int64(o.Events*o.Entries) || !res.Swapped {
		return rate{}, fmt.Errorf("rebuild applied %d events, %d rows, swapped %v; want %d, %d", res.Events, res.Rows, res.Swapped, o.Events, o.Events*o.Entries)
	}
	var live int64
	for _, c := range res.Compared {
		live += c.LiveRows
	}
	logf("rebuild phases (s): %v; compared against %d live rows", res.Phases, live)
	return rate{Events: res.Events, Rows: res.Rows, Seconds: res.Seconds}, nil
}

// rawCopy is the PostgreSQL baseline: CopyFrom of the same number of
// generated rows, in transactions of the same size, into a table shaped like
// the rebuild's shadow (log_entries' columns and primary key, the other
// indexes built afterwards as the rebuild does).
func rawCopy(ctx context.Context, e *benchEnv, o options) (rate, float64, error) {
	if _, err := e.pool.Exec(ctx, `DROP TABLE IF EXISTS copy_baseline;
		CREATE TABLE copy_baseline (LIKE log_entries INCLUDING DEFAULTS);
		ALTER TABLE copy_baseline ADD PRIMARY KEY (id)`); err != nil {
		return rate{}, 0, err
	}
	cols := []string{"id", "seq", "level", "message", "context", "source", "received_at"}
	total := o.Events * o.Entries
	per := o.Batch * o.Entries
	first := time.Now().UTC().Add(-time.Duration(total) * 100 * time.Microsecond)
	sources := []string{"api-0", "api-1", "api-2", "api-3"}
	ctxJSON := []byte(`{"user":42,"path":"/api/orders"}`)
	start := time.Now()
	for done := 0; done < total; {
		n := min(per, total-done)
		i := 0
		src := pgx.CopyFromFunc(func() ([]any, error) {
			if i == n {
				return nil, nil
			}
			k := done + i
			i++
			return []any{uuid.Must(uuid.NewV7()), int64(k/o.Entries + 1), logs.Levels[k%len(logs.Levels)],
				"request served", ctxJSON, sources[k%len(sources)], first.Add(time.Duration(k) * 100 * time.Microsecond)}, nil
		})
		err := pgx.BeginFunc(ctx, e.pool, func(tx pgx.Tx) error {
			_, err := tx.CopyFrom(ctx, pgx.Identifier{"copy_baseline"}, cols, src)
			return err
		})
		if err != nil {
			return rate{}, 0, fmt.Errorf("copy baseline: %w", err)
		}
		done += n
	}
	indexStart := time.Now()
	for _, ddl := range []string{
		`CREATE INDEX ON copy_baseline (received_at DESC, id DESC)`,
		`CREATE INDEX ON copy_baseline (level, received_at DESC, id DESC)`,
		`CREATE INDEX ON copy_baseline (source, received_at DESC, id DESC)`,
	} {
		if _, err := e.pool.Exec(ctx, `SET maintenance_work_mem = '256MB'; `+ddl); err != nil {
			return rate{}, 0, err
		}
	}
	r := rate{Events: int64(o.Events), Rows: int64(total), Seconds: time.Since(start).Seconds()}
	indexSeconds := time.Since(indexStart).Seconds()
	// Gone before the next measurements, so that autovacuum does not work
	// on it during them.
	if _, err := e.pool.Exec(ctx, `DROP TABLE copy_baseline`); err != nil {
		return rate{}, 0, err
	}
	return r, indexSeconds, nil
}
