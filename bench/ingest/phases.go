package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"path/filepath"
	"strconv"
	"time"

	"github.com/eventline/eventline/bench/internal/benchserve"
	"github.com/eventline/eventline/internal/pgcluster"
)

// Bounds every load loop in count as well as time.
const (
	maxSingleReqs = 5_000_000
	maxBatchReqs  = 20_000
	maxRawMsgs    = 20_000_000
	idleTimeout   = 60 * time.Second
	lagBound      = 30 * time.Second
)

// bench runs the phases; each phase owns one server process.
type bench struct {
	o    options
	p    *payloads
	bin  string
	base string
	logf func(string, ...any)
}

// results is everything measured; report.go turns it into the table.
type results struct {
	Options       options          `json:"options"`
	Machine       machine          `json:"machine"`
	AvgEntryBytes int              `json:"avg_entry_bytes"`
	Full          fullResults      `json:"full_server"`
	Interval      modeResults      `json:"interval"`
	Always        modeResults      `json:"always"`
	Drain         drainResult      `json:"drain"`
	Integrity     integrity        `json:"drain_integrity"`
	Copy          rawResult        `json:"copy_baseline"`
	RSS           map[string]int64 `json:"peak_rss_bytes"`
	Wall          time.Duration    `json:"wall_ns"`
	Errors        []string         `json:"errors,omitempty"`
}

// fullResults are measured on a server running every role, as `make run`
// does: the projector and PostgreSQL share the machine with the API.
type fullResults struct {
	Healthz *loadResult `json:"healthz"`
	Single  *loadResult `json:"single"`
	// PacedRate is the request rate of the lag measurement: half of Single.
	PacedRate float64     `json:"paced_rate"`
	Paced     *loadResult `json:"paced"`
	Lag       lagResult   `json:"lag"`
}

// modeResults are one NATS sync mode's ingest figures on an api-only server.
type modeResults struct {
	Sync     string      `json:"sync"`
	Healthz  *loadResult `json:"healthz"`
	Single   *loadResult `json:"single"`
	Batch    *loadResult `json:"batch"`
	RawEntry rawResult   `json:"raw_per_entry"`
	RawBatch rawResult   `json:"raw_per_batch"`
	// PGRows is PostgreSQL's per-row INSERT rate at the same connections
	// (synchronous_commit=on), measured after Single (issue 27).
	PGRows *loadResult `json:"pg_rows,omitempty"`
	// Accepted counts the entries answered 202; Received is what
	// GET /api/logs/stats counts in the log afterwards (they must match).
	Accepted int64 `json:"entries_accepted"`
	Received int64 `json:"log_entries_received"`
}

// integrity compares the rows phase C's projector wrote with the entries
// phase B's log holds.
type integrity struct {
	LogEntries int64 `json:"log_entries"`
	Rows       int64 `json:"rows"`
}

// backlogInfo is what phase B leaves in the log for phase C.
type backlogInfo struct {
	dataDir    string
	batchSeq   uint64 // the last event of the batch ingest
	finalSeq   uint64 // the last event of the log
	batchItems int64
	logEntries int64 // entries in the log at the end of phase B
}

func (b *bench) start(ctx context.Context, name, dataDir, sync, roles string) (*server, *profiler, error) {
	cfg := serverConfig{Name: name, DataDir: dataDir, Sync: sync, Roles: roles}
	var prof *profiler
	if b.o.ProfileDir != "" {
		port, err := pgcluster.FreePort()
		if err != nil {
			return nil, nil, err
		}
		cfg.PprofAddr = "127.0.0.1:" + strconv.Itoa(port)
		prof = &profiler{dir: b.o.ProfileDir, addr: cfg.PprofAddr}
	}
	s, err := startServer(ctx, b.bin, cfg)
	if err != nil {
		return nil, nil, err
	}
	b.logf("  %s listening on %s (nats %s)", name, s.HTTPAddr(), s.NATSURL())
	return s, prof, nil
}

// finish records the server's peak RSS and stops it. Phases that run
// baselines against the server note its peak around their own loads only;
// the others take the whole life's VmHWM.
func (b *bench) finish(s *server, r *results, err error) error {
	select {
	case <-s.Exited():
		err = errors.Join(err, fmt.Errorf("%s exited by itself during the phase (%v)", s.Name(), s.WaitErr()))
	default:
	}
	if s.peak == 0 {
		s.notePeak()
	}
	if s.peak > 0 {
		r.RSS[s.Name()] = s.peak
	}
	if serr := s.Stop(); serr != nil {
		err = errors.Join(err, serr)
	}
	if err != nil {
		err = fmt.Errorf("%w (server log: %s)", err, s.LogTail(10))
	}
	return err
}

func (b *bench) singleReq(base string) func(w, i int) request {
	return func(w, i int) request {
		return request{method: http.MethodPost, url: base + "/api/logs", contentType: "application/json",
			body: b.p.singles[(w*7919+i)%len(b.p.singles)], want: http.StatusAccepted}
	}
}

func healthzReq(base string) func(w, i int) request {
	return func(int, int) request {
		return request{method: http.MethodGet, url: base + "/healthz", want: http.StatusOK}
	}
}

func (b *bench) batchReq(base string) func(w, i int) request {
	return func(w, i int) request {
		return request{method: http.MethodPost, url: base + "/api/logs/batch", contentType: "application/json",
			body: b.p.batches[(w*5+i)%len(b.p.batches)], want: http.StatusAccepted}
	}
}

// singleVsHealthz alternates /healthz and single POSTs at o.Conns
// connections, o.Rounds times, after a warm-up. With a projector running
// (idle true) each load starts once it has caught up.
func (b *bench) singleVsHealthz(ctx context.Context, s *server, c *http.Client, prof *profiler, label string, idle bool) (h, p *loadResult, warmItems int64, err error) {
	base := s.BaseURL()
	settle := func() error {
		if !idle {
			return nil
		}
		return waitIdle(ctx, c, base, idleTimeout)
	}
	warmItems = closedLoop(ctx, c, b.o.Conns, time.Second, maxSingleReqs, b.singleReq(base), false, false).Items
	closedLoop(ctx, c, b.o.Conns, time.Second, maxSingleReqs, healthzReq(base), false, false)
	slice := b.o.Duration / time.Duration(b.o.Rounds)
	h, p = &loadResult{}, &loadResult{}
	for r := 0; r < b.o.Rounds && ctx.Err() == nil; r++ {
		if err := settle(); err != nil {
			return h, p, warmItems, err
		}
		wait := func() {}
		if r == 0 {
			wait = prof.during(label+"-healthz", slice)
		}
		h.merge(closedLoop(ctx, c, b.o.Conns, slice, maxSingleReqs, healthzReq(base), false, false))
		wait()
		if err := settle(); err != nil {
			return h, p, warmItems, err
		}
		if r == 0 {
			wait = prof.during(label+"-single", slice)
		}
		p.merge(closedLoop(ctx, c, b.o.Conns, slice, maxSingleReqs, b.singleReq(base), false, false))
		wait()
	}
	b.logf("  %s: /healthz %.0f req/s p99 %.1fms; POST /api/logs %.0f req/s p50 %.1fms p99 %.1fms (errors %d)",
		label, h.RPS, h.P99, p.RPS, p.P50, p.P99, p.Errors)
	return h, p, warmItems, ctx.Err()
}

// fullServer is phase A: every role in one process, NATS sync interval.
// (a) single POST vs /healthz, (d) paced end-to-end lag, (e) RSS.
func (b *bench) fullServer(ctx context.Context, r *results) (err error) {
	s, prof, err := b.start(ctx, "A-interval-all", filepath.Join(b.base, "a"), "interval", "all")
	if err != nil {
		return err
	}
	defer func() { err = b.finish(s, r, err) }()
	c := benchserve.NewClient(b.o.Conns, clientTimeout)
	defer c.CloseIdleConnections()
	h, p, _, err := b.singleVsHealthz(ctx, s, c, prof, "A", true)
	r.Full.Healthz, r.Full.Single = h, p
	if err != nil {
		return err
	}
	if p.RPS <= 0 {
		return fmt.Errorf("no single POST succeeded: %s", p.FirstErr)
	}
	if err := waitIdle(ctx, c, s.BaseURL(), idleTimeout); err != nil {
		return err
	}
	pgURL, err := s.PostgresURL()
	if err != nil {
		return err
	}
	rate := p.RPS / 2
	r.Full.PacedRate = rate
	poller, err := startPoller(ctx, pgURL, 5*time.Millisecond)
	if err != nil {
		return err
	}
	wait := prof.during("A-paced", b.o.Duration)
	one := b.singleReq(s.BaseURL())
	paced := pacedLoop(ctx, c, b.o.Conns, rate, b.o.Duration, func(i int) request { return one(0, i) })
	wait()
	var maxSeq uint64
	for _, rep := range paced.reps {
		maxSeq = max(maxSeq, rep.seq)
	}
	werr := waitCheckpoint(ctx, pgURL, maxSeq, lagBound)
	samples, perr := poller.finish()
	r.Full.Paced = paced
	r.Full.Lag = lags(paced.reps, samples, lagBound)
	b.logf("  A: paced %.0f req/s (got %.0f, p99 %.1fms): lag p50 %.0fms p99 %.0fms max %.0fms",
		rate, paced.RPS, paced.P99, r.Full.Lag.P50, r.Full.Lag.P99, r.Full.Lag.Max)
	return errors.Join(werr, perr)
}

// ingestServer is phases B and D: an api-only server (no projector on the
// machine's two cores) in one sync mode. (b) batch ingest vs raw JetStream
// publish of the same entries, then (f) single POST vs /healthz. Phase B's
// log is the backlog phase C drains.
func (b *bench) ingestServer(ctx context.Context, r *results, name, sync string) (m modeResults, bl backlogInfo, err error) {
	m.Sync = sync
	bl.dataDir = filepath.Join(b.base, name)
	s, prof, err := b.start(ctx, name, bl.dataDir, sync, "api")
	if err != nil {
		return m, bl, err
	}
	defer func() { err = b.finish(s, r, err) }()
	c := benchserve.NewClient(max(b.o.Conns, b.o.BatchClients), clientTimeout)
	defer c.CloseIdleConnections()
	creds, err := s.NATSCredentials()
	if err != nil {
		return m, bl, err
	}
	raw, err := newRawPublisher(ctx, s.NATSURL(), creds, b.o.InFlight, b.o.BatchInFlight)
	if err != nil {
		return m, bl, err
	}
	defer raw.close(context.WithoutCancel(ctx))

	base := s.BaseURL()
	warm := closedLoop(ctx, c, b.o.BatchClients, time.Second, maxBatchReqs, b.batchReq(base), true, false)
	bl.batchItems += warm.Items
	if warm.Items == 0 {
		return m, bl, fmt.Errorf("no batch accepted: %s", warm.FirstErr)
	}
	if _, err := raw.publish(ctx, b.p.batchEntries, 1, time.Second/2, maxRawMsgs); err != nil {
		return m, bl, err
	}
	slice := b.o.Duration / time.Duration(b.o.Rounds)
	m.Batch = &loadResult{}
	for rd := 0; rd < b.o.Rounds && ctx.Err() == nil; rd++ {
		wait := func() {}
		if rd == 0 {
			wait = prof.during(name+"-batch", slice)
		}
		s.ResetPeakRSS()
		m.Batch.merge(closedLoop(ctx, c, b.o.BatchClients, slice, maxBatchReqs, b.batchReq(base), true, false))
		s.notePeak()
		wait()
		if rd == 0 {
			wait = prof.during(name+"-raw", slice)
		}
		re, err := raw.publish(ctx, b.p.batchEntries, 1, slice, maxRawMsgs)
		wait()
		if err != nil {
			return m, bl, err
		}
		rb, err := raw.publish(ctx, b.p.batches, b.p.perBatch, slice/2, maxRawMsgs)
		if err != nil {
			return m, bl, err
		}
		m.RawEntry = addRaw(m.RawEntry, re)
		m.RawBatch = addRaw(m.RawBatch, rb)
	}
	bl.batchItems += m.Batch.Items
	b.logf("  %s: batch %.0f entries/s (p99 %.0fms, errors %d); raw per-entry %.0f/s; raw 1000-entry msgs %.0f entries/s",
		name, m.Batch.IPS, m.Batch.P99, m.Batch.Errors, m.RawEntry.IPS, m.RawBatch.IPS)
	st, err := getStats(ctx, c, base)
	if err != nil {
		return m, bl, err
	}
	bl.batchSeq = st.StreamLastSeq
	if st.Received != bl.batchItems {
		b.logf("  %s: WARNING: %d batch entries answered 202 but the log holds %d", name, bl.batchItems, st.Received)
	}
	s.ResetPeakRSS()
	var warmItems int64
	m.Healthz, m.Single, warmItems, err = b.singleVsHealthz(ctx, s, c, prof, name, false)
	s.notePeak()
	if err != nil {
		return m, bl, err
	}
	st, err = getStats(ctx, c, base)
	if err != nil {
		return m, bl, err
	}
	bl.finalSeq = st.StreamLastSeq
	if sync == "always" {
		pgURL, err := s.PostgresURL()
		if err != nil {
			return m, bl, err
		}
		if m.PGRows, err = rowBaseline(ctx, pgURL, b.p.entries, b.o.Conns, b.o.Duration); err != nil {
			return m, bl, err
		}
		b.logf("  %s: PostgreSQL per-row INSERT, %d connections, synchronous_commit=on: %.0f rows/s p99 %.1fms (errors %d)",
			name, b.o.Conns, m.PGRows.RPS, m.PGRows.P99, m.PGRows.Errors)
	}
	// Every entry answered 202 must be in the log (an api-only server
	// counts the log's entries from their events' headers).
	m.Accepted = bl.batchItems + warmItems + m.Single.Items
	m.Received = st.Received
	bl.logEntries = st.Received
	if m.Accepted != m.Received {
		b.logf("  %s: WARNING: %d entries answered 202 but the log holds %d", name, m.Accepted, m.Received)
	}
	return m, bl, nil
}

func addRaw(a, b rawResult) rawResult {
	a.Messages += b.Messages
	a.Items += b.Items
	a.Errors += b.Errors
	if a.FirstErr == "" {
		a.FirstErr = b.FirstErr
	}
	a.Elapsed += b.Elapsed
	if a.Elapsed > 0 {
		a.IPS = float64(a.Items) / a.Elapsed.Seconds()
	}
	return a
}

// drainServer is phase C: a server with every role starts on phase B's data
// and its projector drains the backlog; then raw CopyFrom writes as many
// rows into an identical table in the same PostgreSQL.
func (b *bench) drainServer(ctx context.Context, r *results, bl backlogInfo) (err error) {
	if bl.batchSeq == 0 {
		return errors.New("phase B left no backlog")
	}
	s, prof, err := b.start(ctx, "C-interval-all-drain", bl.dataDir, "interval", "all")
	if err != nil {
		return err
	}
	defer func() { err = b.finish(s, r, err) }()
	pgURL, err := s.PostgresURL()
	if err != nil {
		return err
	}
	wait := prof.during("C-drain", b.o.Duration)
	heapDone := make(chan struct{})
	go func() { // in-use heap while the drain runs (profiling runs only)
		defer close(heapDone)
		for i, at := range []time.Duration{time.Second, 3 * time.Second, 6 * time.Second} {
			select {
			case <-ctx.Done():
				return
			case <-time.After(at - []time.Duration{0, time.Second, 3 * time.Second}[i]):
			}
			prof.heap(fmt.Sprintf("C-drain-%ds", int(at.Seconds())))
		}
	}()
	r.Drain, err = measureDrain(ctx, pgURL, bl.batchSeq, bl.finalSeq, 3*time.Minute)
	wait()
	<-heapDone
	if err != nil {
		return err
	}
	// Integrity: once the checkpoint has reached the end of the log, every
	// entry of the log must be a row.
	r.Integrity.LogEntries = bl.logEntries
	r.Integrity.Rows, err = countRows(ctx, pgURL)
	if err != nil {
		return err
	}
	if r.Integrity.Rows != bl.logEntries {
		b.logf("  C: WARNING: the checkpoint is at the end of the log but log_entries holds %d rows for %d entries",
			r.Integrity.Rows, bl.logEntries)
	}
	batches, rows, err := checkpointBatches(ctx, pgURL)
	if err == nil && batches > 0 {
		r.Drain.Batches = batches
		r.Drain.AvgBatch = float64(rows) / float64(batches)
	}
	b.logf("  C: drained %d rows in %v: %.0f rows/s (%d transactions for %d rows in all; %d rows before the first sample)",
		r.Drain.Rows, r.Drain.Elapsed.Round(time.Millisecond), r.Drain.RPS, batches, rows, r.Drain.Skipped)
	b.logf("  C: checkpoint timeline [ms, rows]: %v", r.Drain.Timeline)
	superURL, err := s.PostgresSuperURL(ctx)
	if err != nil {
		return err
	}
	r.Copy, err = copyBaseline(ctx, pgURL, superURL, b.p.entries, bl.batchItems, b.p.perBatch)
	if err != nil {
		return err
	}
	b.logf("  C: raw CopyFrom %d rows in %v: %.0f rows/s", r.Copy.Items, r.Copy.Elapsed.Round(time.Millisecond), r.Copy.IPS)
	return nil
}
