package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/plog/plogotlp"

	"github.com/eventline/eventline/projections/logentries"
)

// bench holds what the phases share.
type bench struct {
	o      options
	base   string
	pool   *pgxpool.Pool
	client *http.Client
	logf   func(string, ...any)
}

// result is every figure of the run.
type result struct {
	Ingest    ingestResult
	Search    []searchResult
	Projector projectorResult
	Drop      dropResult
	Histogram histogramResult
	PeakRSS   int64
}

// histogramResult is the explorer's volume histogram over the seeded week.
type histogramResult struct {
	P50, P95, BaseP50, BaseP95 time.Duration
	Queries, BaseQueries       int
}

type ingestResult struct {
	OTLPPerSec, BatchPerSec float64
	OTLPErrors, BatchErrors int64
}

// load runs clients that each call send until the phase's seconds are over
// and returns the entries of 2xx answers per second and the other answers.
func (b *bench) load(ctx context.Context, perReq int, send func(i int) (*http.Request, error)) (float64, int64, error) {
	var ok, bad atomic.Int64
	var firstErr error
	var mu sync.Mutex
	deadline := time.Now().Add(time.Duration(b.o.Seconds) * time.Second)
	var next atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for range b.o.Clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(deadline) && ctx.Err() == nil {
				req, err := send(int(next.Add(1)))
				if err == nil {
					var resp *http.Response
					if resp, err = b.client.Do(req.WithContext(ctx)); err == nil {
						_, _ = io.Copy(io.Discard, resp.Body)
						resp.Body.Close()
						if resp.StatusCode/100 == 2 {
							ok.Add(1)
							continue
						}
						err = fmt.Errorf("status %d", resp.StatusCode)
					}
				}
				bad.Add(1)
				mu.Lock()
				if firstErr == nil {
					firstErr = err
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start).Seconds()
	if firstErr != nil {
		b.logf("  first failure: %v", firstErr)
	}
	return float64(ok.Load()*int64(perReq)) / elapsed, bad.Load(), ctx.Err()
}

// vocabulary is what messages start with, seeded and posted alike, so
// that the entries the bench posts look like the seeded ones to a search.
var vocabulary = []string{"GET /api/orders", "POST /api/payments", "cache miss for key", "user login from", "timeout talking to", "retrying job"}

// batchBody is a JSON array of n entries shaped as the seeded ones.
func batchBody(n int) []byte {
	var buf bytes.Buffer
	buf.WriteByte('[')
	for i := range n {
		if i > 0 {
			buf.WriteByte(',')
		}
		fmt.Fprintf(&buf, `{"level":"info","message":"%s %d","source":"svc-%d","context":{"attributes":{"user_id":%d,"http.status":200},"resource":{"service.name":"svc-%d"}}}`,
			vocabulary[i%len(vocabulary)], i, i%20, (i*7919)%50000, i%20)
	}
	buf.WriteByte(']')
	return buf.Bytes()
}

// otlpTemplate is a request of n records like batchBody's entries.
func otlpTemplate(n int) plog.Logs {
	ld := plog.NewLogs()
	rl := ld.ResourceLogs().AppendEmpty()
	rl.Resource().Attributes().PutStr("service.name", "svc-3")
	sl := rl.ScopeLogs().AppendEmpty()
	sl.Scope().SetName("bench")
	for i := range n {
		lr := sl.LogRecords().AppendEmpty()
		lr.SetSeverityNumber(plog.SeverityNumberInfo)
		lr.Body().SetStr(fmt.Sprintf("%s %d", vocabulary[i%len(vocabulary)], i))
		lr.Attributes().PutInt("user_id", int64((i*7919)%50000))
		lr.Attributes().PutInt("http.status", 200)
	}
	return ld
}

// ingest is phase 1: OTLP against /api/logs/batch, 100 per request.
func (b *bench) ingest(ctx context.Context) (ingestResult, error) {
	var r ingestResult
	const per = 100
	batch := batchBody(per)
	// Each phase starts with the projector caught up: the entries a phase
	// leaves behind would otherwise be projected during the next one, on
	// the same two cores (the OTLP phase measured 0.33-0.42 of batch after
	// it, and 2.1 of it before it). And with the server's memory settled:
	// see settle.
	if err := b.settle(ctx); err != nil {
		return r, err
	}
	b.logf("phase 1: POST /api/logs/batch of %d entries, %d clients, %ds", per, b.o.Clients, b.o.Seconds)
	var err error
	r.BatchPerSec, r.BatchErrors, err = b.load(ctx, per, func(int) (*http.Request, error) {
		req, err := http.NewRequest(http.MethodPost, b.base+"/api/logs/batch", bytes.NewReader(batch))
		if err == nil {
			req.Header.Set("Content-Type", "application/json")
		}
		return req, err
	})
	if err != nil {
		return r, err
	}
	b.logf("  %.0f entries/s, %d not 2xx", r.BatchPerSec, r.BatchErrors)
	if err := b.settle(ctx); err != nil {
		return r, err
	}
	tmpl := otlpTemplate(per)
	var mu sync.Mutex
	b.logf("phase 1: POST /v1/logs of %d records (protobuf, every record timed: deduplicated by content), %d clients, %ds", per, b.o.Clients, b.o.Seconds)
	r.OTLPPerSec, r.OTLPErrors, err = b.load(ctx, per, func(i int) (*http.Request, error) {
		// Each request's records carry their own times, as an SDK's do,
		// so no two bodies are equal (equal ones would be deduplicated).
		mu.Lock()
		recs := tmpl.ResourceLogs().At(0).ScopeLogs().At(0).LogRecords()
		ts := pcommon.NewTimestampFromTime(time.Now())
		for k := 0; k < recs.Len(); k++ {
			recs.At(k).SetTimestamp(ts + pcommon.Timestamp(i*per+k))
		}
		body, err := plogotlp.NewExportRequestFromLogs(tmpl).MarshalProto()
		mu.Unlock()
		if err != nil {
			return nil, err
		}
		req, err := http.NewRequest(http.MethodPost, b.base+"/v1/logs", bytes.NewReader(body))
		if err == nil {
			req.Header.Set("Content-Type", "application/x-protobuf")
		}
		return req, err
	})
	if err != nil {
		return r, err
	}
	b.logf("  %.0f entries/s, %d not 2xx", r.OTLPPerSec, r.OTLPErrors)
	return r, b.waitCaughtUp(ctx, 10*time.Minute)
}

// stats reads GET /api/logs/stats.
func (b *bench) stats(ctx context.Context) (persisted, pending int64, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, b.base+"/api/logs/stats", nil)
	if err != nil {
		return 0, 0, err
	}
	resp, err := b.client.Do(req)
	if err != nil {
		return 0, 0, err
	}
	defer resp.Body.Close()
	var v struct {
		Persisted, Pending int64
	}
	if err := json.NewDecoder(resp.Body).Decode(&v); err != nil {
		return 0, 0, err
	}
	return v.Persisted, v.Pending, nil
}

// settle waits for the projector to catch up, then for the block caches
// the embedded NATS server keeps of what the LOGS stream was written to
// expire (10 s after their last use, nats-server filestore.go
// defaultCacheBufferExpiration). They are memory in use: a phase started
// before they expire pays, in collections under serve's soft memory
// limit, for what the phase before it wrote (the OTLP phase measured 0.44
// and 0.48 of a batch phase that wrote 118,000 entries/s just before it).
func (b *bench) settle(ctx context.Context) error {
	if err := b.waitCaughtUp(ctx, 10*time.Minute); err != nil {
		return err
	}
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(natsCacheHold):
		return nil
	}
}

// natsCacheHold is how long after its last use the NATS server drops a
// block's cache, with a second of margin.
const natsCacheHold = 11 * time.Second

// waitCaughtUp waits until the projector has persisted everything.
func (b *bench) waitCaughtUp(ctx context.Context, within time.Duration) error {
	deadline := time.Now().Add(within)
	for {
		_, pending, err := b.stats(ctx)
		if err == nil && pending == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the projector did not catch up within %s (pending %d, %v)", within, pending, err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// seed fills log_entries with o.Rows entries over the last 7 days, around
// the projector, each day marked as a search block nobody indexed (they
// are indexed in phase 3, timed).
func (b *bench) seed(ctx context.Context) error {
	const chunk = 1_000_000
	start := time.Now()
	for from := int64(1); from <= b.o.Rows; from += chunk {
		to := min(from+chunk-1, b.o.Rows)
		_, err := b.pool.Exec(ctx, `INSERT INTO log_entries (id, seq, level, message, context, source, received_at)
			SELECT gen_random_uuid(), 1000000000 + i,
			       (ARRAY['debug','info','info','info','notice','warning','error','critical'])[1 + i % 8],
			       (ARRAY['GET /api/orders','POST /api/payments','cache miss for key','user login from','timeout talking to','retrying job'])[1 + i % 6]
			         || ' ' || i || ' ' || substr(md5(i::text), 1, 12) || CASE WHEN i % 100000 = 7 THEN ' zanzibar' ELSE '' END,
			       jsonb_build_object('attributes', jsonb_build_object('user_id', i % 50000, 'http.status', 200 + (i % 4) * 100),
			                          'resource', jsonb_build_object('service.name', 'svc-' || (i % 20))),
			       'svc-' || (i % 20),
			       now() - make_interval(secs => i::float8 * 604800 / $1)
			FROM generate_series($2::bigint, $3::bigint) AS i`, b.o.Rows, from, to)
		if err != nil {
			return fmt.Errorf("seed rows %d..%d: %w", from, to, err)
		}
		b.logf("seed: %d of %d rows (%s)", to, b.o.Rows, time.Since(start).Round(time.Second))
	}
	// The seed writes around the projector (idle meanwhile): it sets the
	// counts by minute and level the projector keeps, which the histogram
	// and retention read.
	err := pgx.BeginFunc(ctx, b.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `DELETE FROM log_volume WHERE tbl = 'log_entries'::regclass`); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `INSERT INTO log_volume (tbl, minute, level, entries)
			SELECT 'log_entries'::regclass, date_trunc('minute', received_at, 'UTC'), level, count(*) FROM log_entries GROUP BY 2, 3`)
		if err != nil {
			return err
		}
		rows, err := tx.Query(ctx, `SELECT min(minute), max(minute) + interval '1 minute', sum(entries)::bigint
			FROM log_volume WHERE tbl = 'log_entries'::regclass GROUP BY date_trunc('day', minute, 'UTC')`)
		if err != nil {
			return err
		}
		type day struct {
			first, last time.Time
			n           int64
		}
		days, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (day, error) {
			var d day
			return d, r.Scan(&d.first, &d.last, &d.n)
		})
		if err != nil {
			return err
		}
		for _, d := range days {
			if err := logentries.MarkUnindexed(ctx, tx, logentries.Table, d.first, d.last, d.n); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("seed: day counts: %w", err)
	}
	_, err = b.pool.Exec(ctx, `ANALYZE log_entries`)
	return err
}

// projectorResult is phase 3.
type projectorResult struct {
	WithIndexes, WithoutIndexes float64   // entries persisted per second, the mean of the rounds
	With, Without               []float64 // each round's
	Entries                     int64
	IndexBuild                  time.Duration
}

// persistRate posts entries (batches of 1000, as fast as the API takes
// them) and returns how many the projector persisted per second, from the
// first post to the last entry persisted.
func (b *bench) persistRate(ctx context.Context) (float64, int64, error) {
	if err := b.waitCaughtUp(ctx, 10*time.Minute); err != nil {
		return 0, 0, err
	}
	before, _, err := b.stats(ctx)
	if err != nil {
		return 0, 0, err
	}
	body := batchBody(1000)
	const requests = 300
	start := time.Now()
	var sent atomic.Int64
	var wg sync.WaitGroup
	var failed atomic.Int64
	for range b.o.Clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for sent.Add(1) <= requests {
				resp, err := b.client.Post(b.base+"/api/logs/batch", "application/json", bytes.NewReader(body))
				if err != nil {
					failed.Add(1)
					continue
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusAccepted {
					failed.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	if n := failed.Load(); n > 0 {
		return 0, 0, fmt.Errorf("%d batches refused", n)
	}
	if err := b.waitCaughtUp(ctx, 10*time.Minute); err != nil {
		return 0, 0, err
	}
	after, _, err := b.stats(ctx)
	if err != nil {
		return 0, 0, err
	}
	n := after - before
	return float64(n) / time.Since(start).Seconds(), n, nil
}

// projector is phase 3: the projector's rate with serve's search index off
// (EVENTLINE_LOGS_SEARCH_INDEX=off, as serve was started) and on, twice
// each, alternated (off, on, off, on; serve restarted between them), since
// one pair varied 0.63-0.93 with what PostgreSQL did in the background
// (checkpoints and autovacuum after the seed and the index build). The
// seeded entries are indexed after the first restart (timed), and the
// blocks the second off phase left unindexed before the second on phase.
func (b *bench) projector(ctx context.Context, restart func(ctx context.Context, index string) error) (projectorResult, error) {
	var r projectorResult
	indexPending := func() (time.Duration, error) {
		start := time.Now()
		for {
			n, err := logentries.IndexPending(ctx, b.pool, logentries.Table, 1000)
			if err != nil || n == 0 {
				return time.Since(start), err
			}
		}
	}
	var with, without []float64
	for round := range 2 {
		if round > 0 {
			if err := restart(ctx, "off"); err != nil {
				return r, err
			}
		}
		b.logf("phase 3: projector rate without the search index (300 batches of 1000), round %d", round+1)
		rate, n, err := b.persistRate(ctx)
		if err != nil {
			return r, err
		}
		b.logf("  %.0f entries/s", rate)
		without, r.Entries = append(without, rate), n
		if err := restart(ctx, "on"); err != nil {
			return r, err
		}
		took, err := indexPending()
		if err != nil {
			return r, err
		}
		if round == 0 {
			r.IndexBuild = took
			b.logf("  search blocks built for %d rows in %s", b.o.Rows, took.Round(time.Second))
		}
		b.logf("phase 3: projector rate with the search index, round %d", round+1)
		if rate, _, err = b.persistRate(ctx); err != nil {
			return r, err
		}
		b.logf("  %.0f entries/s", rate)
		with = append(with, rate)
	}
	r.With, r.Without = with, without
	r.WithIndexes, r.WithoutIndexes = mean(with), mean(without)
	return r, nil
}

func mean(v []float64) float64 {
	var sum float64
	for _, x := range v {
		sum += x
	}
	return sum / float64(len(v))
}

// searchResult is one search figure and its baseline.
type searchResult struct {
	Name, Query      string
	Rows             int
	P50, P95         time.Duration
	BaseP50, BaseP95 time.Duration
	BaseQueries      int
	BaseRows         int
}

// searches are the figures of phase 2: the API query, and the unindexed
// SQL the API ran for it before the search blocks (the baseline).
var searches = []struct {
	name, query, where string
	arg                any
}{
	{"q= common word (1 in 6)", "q=payments", `message ILIKE $1`, "%payments%"},
	{"q= rare word (1 in 100,000)", "q=zanzibar", `message ILIKE $1`, "%zanzibar%"},
	{"attr.user_id= (1 in 50,000)", "attr.user_id=4242", `(context @> $1::jsonb OR context @> $2::jsonb OR context @> $3::jsonb OR context @> $4::jsonb)`, nil},
	{"resource.service.name= (1 in 20)", "resource.service.name=svc-7", `(context @> $1::jsonb)`, `{"resource":{"service.name":"svc-7"}}`},
}

func percentile(d []time.Duration, p float64) time.Duration {
	slices.Sort(d)
	i := int(float64(len(d)-1) * p)
	return d[i]
}

// search is phase 2.
func (b *bench) search(ctx context.Context) ([]searchResult, error) {
	var out []searchResult
	// The baseline: the filter tested on the entries newest first (no
	// index serves it; enable_bitmapscan off in case one was made by hand).
	for _, s := range searches {
		r := searchResult{Name: s.name, Query: s.query}
		args := []any{s.arg}
		if s.arg == nil {
			args = []any{`{"attributes":{"user_id":"4242"}}`, `{"user_id":"4242"}`, `{"attributes":{"user_id":4242}}`, `{"user_id":4242}`}
		}
		sql := `SELECT id, seq, level, message, context, source, received_at, trace_id, span_id, event_time, observed_time
			FROM log_entries WHERE ` + s.where + ` ORDER BY received_at DESC, id DESC LIMIT 51`
		r.BaseQueries = min(5, b.o.Queries)
		var base []time.Duration
		for range r.BaseQueries {
			start := time.Now()
			err := pgx.BeginFunc(ctx, b.pool, func(tx pgx.Tx) error {
				if _, err := tx.Exec(ctx, `SET LOCAL enable_bitmapscan = off`); err != nil {
					return err
				}
				rows, err := tx.Query(ctx, sql, args...)
				if err != nil {
					return err
				}
				n := 0
				for rows.Next() {
					n++
				}
				r.BaseRows = n
				return rows.Err()
			})
			if err != nil {
				return nil, fmt.Errorf("baseline %s: %w", s.name, err)
			}
			base = append(base, time.Since(start))
		}
		r.BaseP50, r.BaseP95 = percentile(base, 0.5), percentile(base, 0.95)
		out = append(out, r)
		b.logf("phase 2 baseline: %s: p50 %s p95 %s (%d rows)", s.name, r.BaseP50, r.BaseP95, r.BaseRows)
	}
	return out, nil
}

// searchAPI is phase 2 through the API, once the indexes exist.
func (b *bench) searchAPI(ctx context.Context, out []searchResult) error {
	for i, s := range searches {
		var took []time.Duration
		for range b.o.Queries {
			start := time.Now()
			req, err := http.NewRequestWithContext(ctx, http.MethodGet, b.base+"/api/logs?limit=50&"+s.query, nil)
			if err != nil {
				return err
			}
			resp, err := b.client.Do(req)
			if err != nil {
				return err
			}
			var page struct {
				Items []json.RawMessage `json:"items"`
			}
			err = json.NewDecoder(resp.Body).Decode(&page)
			resp.Body.Close()
			if err != nil || resp.StatusCode != http.StatusOK {
				return fmt.Errorf("%s: status %d, %v", s.query, resp.StatusCode, err)
			}
			took = append(took, time.Since(start))
			out[i].Rows = len(page.Items)
		}
		out[i].P50, out[i].P95 = percentile(took, 0.5), percentile(took, 0.95)
		b.logf("phase 2: GET /api/logs?%s: p50 %s p95 %s (%d rows)", s.query, out[i].P50, out[i].P95, out[i].Rows)
	}
	return nil
}

// histogram times the explorer's histogram fragment over the last 7 days
// (counted from log_volume) against the SQL that counts the entries
// themselves over the same range (what the fragment ran before).
func (b *bench) histogram(ctx context.Context) (histogramResult, error) {
	var r histogramResult
	now := time.Now().UTC()
	since := now.Add(-7 * 24 * time.Hour)
	r.BaseQueries = min(5, b.o.Queries)
	var base []time.Duration
	for range r.BaseQueries {
		start := time.Now()
		rows, err := b.pool.Query(ctx, `SELECT floor(extract(epoch FROM received_at - $1::timestamptz) / $2)::int AS b, level, count(*)
			FROM log_entries WHERE received_at >= $1 AND received_at <= $3 GROUP BY 1, 2`, since, (7 * 24 * time.Hour / 60).Seconds(), now)
		if err != nil {
			return r, fmt.Errorf("histogram baseline: %w", err)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return r, fmt.Errorf("histogram baseline: %w", err)
		}
		base = append(base, time.Since(start))
	}
	r.BaseP50, r.BaseP95 = percentile(base, 0.5), percentile(base, 0.95)
	r.Queries = b.o.Queries
	var took []time.Duration
	u := b.base + "/logs/histogram?since=" + url.QueryEscape(since.Format(time.RFC3339)) + "&until=" + url.QueryEscape(now.Format(time.RFC3339))
	for range r.Queries {
		start := time.Now()
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
		if err != nil {
			return r, err
		}
		resp, err := b.client.Do(req)
		if err != nil {
			return r, err
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || resp.StatusCode != http.StatusOK || !bytes.Contains(body, []byte("hist-bar")) {
			return r, fmt.Errorf("GET /logs/histogram: status %d, %v: %.200s", resp.StatusCode, err, body)
		}
		took = append(took, time.Since(start))
	}
	r.P50, r.P95 = percentile(took, 0.5), percentile(took, 0.95)
	b.logf("histogram over 7 days: p50 %s p95 %s; counting the entries: p50 %s p95 %s", r.P50, r.P95, r.BaseP50, r.BaseP95)
	return r, nil
}

// dropResult is phase 4.
type dropResult struct {
	Dropped      []logentries.Dropped
	IngestPerSec float64
	NotOK        int64
}

// dropDay is phase 4: retention drops the oldest full day (and the partial
// one before it) while clients keep posting batches.
func (b *bench) dropDay(ctx context.Context) (dropResult, error) {
	var r dropResult
	parts, err := logentries.Partitions(ctx, b.pool, logentries.Table)
	if err != nil {
		return r, err
	}
	if len(parts) < 3 {
		return r, fmt.Errorf("only %d partitions", len(parts))
	}
	day, err := time.Parse(time.DateOnly, parts[1].Day)
	if err != nil {
		return r, err
	}
	now := time.Now()
	// Old enough for the two oldest days, not for the third.
	ret := logentries.Retention{MaxAge: now.Sub(day.AddDate(0, 0, 1)) - time.Minute}
	b.logf("phase 4: retention drops %s and %s while %d clients post batches of 100", parts[0].Name, parts[1].Name, b.o.Clients)
	body := batchBody(100)
	done := make(chan struct{})
	var loadErr error
	go func() {
		defer close(done)
		r.IngestPerSec, r.NotOK, loadErr = b.load(ctx, 100, func(int) (*http.Request, error) {
			req, err := http.NewRequest(http.MethodPost, b.base+"/api/logs/batch", bytes.NewReader(body))
			if err == nil {
				req.Header.Set("Content-Type", "application/json")
			}
			return req, err
		})
	}()
	time.Sleep(time.Duration(b.o.Seconds) * time.Second / 3) // ingest under way
	for {
		res, err := logentries.Maintain(ctx, b.pool, ret, now)
		if err != nil {
			return r, err
		}
		if !res.Skipped {
			r.Dropped = res.Dropped
			break
		}
		time.Sleep(50 * time.Millisecond) // serve's own retention run holds the lock
	}
	<-done
	if loadErr != nil {
		return r, loadErr
	}
	for _, d := range r.Dropped {
		b.logf("  dropped %s: %d entries in %s", d.Partition, d.Entries, d.Took.Round(time.Millisecond))
	}
	b.logf("  ingest meanwhile: %.0f entries/s, %d answers not 2xx", r.IngestPerSec, r.NotOK)
	return r, nil
}
