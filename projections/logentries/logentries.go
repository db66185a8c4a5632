package logentries

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/eventline/eventline/domain/logs"
	"github.com/eventline/eventline/projections"
)

// Name is the name of the log entries projection (its checkpoint and
// consumer "proj_logs").
const Name = "logs"

// Table is the read model's table.
const Table = "log_entries"

// Spec describes the projection to the runtime and the operator tools. It is
// insert-only: each entry is inserted once, keyed by its id, so a bad entry
// can be parked and the rest applied.
func Spec() projections.Spec { return SpecWith(true) }

// SpecWith is Spec, its entries written with their search blocks' tokens
// when index, or in blocks nobody indexed (searches read them whole) when
// not: EVENTLINE_LOGS_SEARCH_INDEX=off, ingest's cost without the index.
func SpecWith(index bool) projections.Spec {
	return projections.Spec{
		Name:     Name,
		Stream:   logs.Stream,
		Subjects: []string{logs.Subject},
		Tables:   []projections.Table{{Name: Table, Key: "id", Seq: "seq", Ignore: []string{"persisted_at"}}},
		New: func(tables map[string]string) projections.Projection {
			p := New(tables[Table])
			p.unindexed = !index
			return p
		},
		Retained: func(ctx context.Context, pool *pgxpool.Pool) (*time.Time, int64, error) {
			st, err := ReadRetention(ctx, pool)
			return st.OldestRetained, st.Expired, err
		},
	}
}

// logColumns are the columns the projection writes, in COPY order.
var logColumns = []string{"id", "seq", "level", "message", "context", "source", "received_at",
	"trace_id", "span_id", "event_time", "observed_time"}

// Logs projects log.entries_received.v1 events into the log_entries table.
type Logs struct {
	table      string
	copySQL    string
	partitions partitionCache
	spare      *pgxpool.Pool // writes half of a large batch (UsePool); nil: one connection
	unindexed  bool          // write blocks without tokens (SpecWith)
}

// UsePool implements projections.SpareWriter: a batch of spareMinBytes or
// more is written half through the batch's transaction and half through a
// connection of pool, each PostgreSQL backend on a core of its own (the
// trigram index costs PostgreSQL about four times the COPY).
func (p *Logs) UsePool(pool *pgxpool.Pool) { p.spare = pool }

// spareMinBytes is the smallest batch, in payload bytes, written through
// two connections (about 1,000 entries): below it, one COPY is cheaper.
const spareMinBytes = 256 << 10

// spareAcquire bounds the wait for the spare connection: a pool that has
// none free at once is busy, and the batch is written through one.
const spareAcquire = 100 * time.Millisecond

// New returns the logs projection writing into table ("log_entries"
// when empty; a rebuild writes into a shadow table).
func New(table string) *Logs {
	if table == "" {
		table = Table
	}
	return &Logs{table: table, copySQL: `COPY ` + pgx.Identifier{table}.Sanitize() + ` (` +
		strings.Join(logColumns, ", ") + `) FROM STDIN (FORMAT binary)`}
}

// Name implements Projection.
func (p *Logs) Name() string { return Name }

// Stream implements Projection.
func (p *Logs) Stream() string { return logs.Stream }

// Subjects implements Projection.
func (p *Logs) Subjects() []string { return []string{logs.Subject} }

// Rows turns events into log_entries rows.
func (p *Logs) Rows(events []projections.Event) ([][]any, error) {
	return collectRows(&logEntries{events: events})
}

// collectRows turns what it yields into log_entries rows.
func collectRows(it *logEntries) ([][]any, error) {
	var rows [][]any
	for {
		e, seq, ok := it.next()
		if !ok {
			return rows, it.err
		}
		var ctx any
		if len(e.Context) > 0 {
			ctx = []byte(e.Context)
		}
		rows = append(rows, []any{e.ID, int64(seq), e.Level, e.Message, ctx, e.Source, e.ReceivedAt,
			nullText(e.TraceID), nullText(e.SpanID), nullTime(e.Time), nullTime(e.ObservedTime)})
	}
}

// Apply implements Projection. The common case, no entry stored before, is a
// plain COPY; a redelivered batch hits the primary key and is written again
// with INSERT … ON CONFLICT DO NOTHING, so duplicates change nothing.
func (p *Logs) Apply(ctx context.Context, tx pgx.Tx, events []projections.Event) (int64, error) {
	if len(events) == 0 {
		return 0, nil
	}
	if k := p.splitAt(events); k > 0 {
		return p.applySplit(ctx, tx, events[:k], events[k:])
	}
	return p.write(ctx, tx, func() logEntries { return logEntries{events: events} }, nil)
}

// splitAt returns where a batch worth writing through two connections is cut
// in halves of about the same payload, or 0.
func (p *Logs) splitAt(events []projections.Event) int {
	if p.spare == nil || len(events) < 2 {
		return 0
	}
	total := 0
	for _, ev := range events {
		total += len(ev.Envelope.Data)
	}
	if total < spareMinBytes {
		return 0
	}
	half := 0
	for i, ev := range events {
		if half += len(ev.Envelope.Data); half >= total/2 {
			return min(i+1, len(events)-1)
		}
	}
	return len(events) - 1
}

// applySplit writes head through tx and tail through a transaction of its
// own on the spare pool, at the same time. The spare one commits first, so
// that once tx commits (with the checkpoint) every row of the batch is
// there; tx writes its counts into log_volume only after the spare one has
// ended, so neither waits on rows the other holds. When the spare write
// fails for any reason, tx writes tail itself, as a one-connection batch
// would; when tx then fails, the batch comes again and the rows the spare
// one committed are skipped as duplicates (and not counted twice).
func (p *Logs) applySplit(ctx context.Context, tx pgx.Tx, head, tail []projections.Event) (int64, error) {
	done := make(chan spareResult, 1)
	go func() { done <- p.writeSpare(ctx, tail) }()
	var spare *spareResult
	wait := func() {
		if spare == nil {
			r := <-done
			spare = &r
		}
	}
	n, err := p.write(ctx, tx, func() logEntries { return logEntries{events: head} }, wait)
	wait()
	if err != nil {
		return 0, err
	}
	if spare.err == nil {
		return n + spare.rows, nil
	}
	m, err := p.write(ctx, tx, func() logEntries { return logEntries{events: tail} }, nil)
	return n + m, err
}

type spareResult struct {
	rows int64
	err  error
}

// writeSpare writes events through a transaction of the spare pool and
// commits it. It makes no partition: a day without one fails it, and the
// batch's own transaction, which makes them, writes these events instead.
func (p *Logs) writeSpare(ctx context.Context, events []projections.Event) spareResult {
	actx, cancel := context.WithTimeout(ctx, spareAcquire)
	conn, err := p.spare.Acquire(actx)
	cancel()
	if err != nil {
		return spareResult{err: err}
	}
	defer conn.Release()
	var rows int64
	err = pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
		// The batch's transaction waits for this one to end: this one must
		// never wait long on a lock (behind another session's DDL queued
		// after the batch's transaction, say). It gives up, and the batch's
		// transaction writes these events itself.
		if _, err := tx.Exec(ctx, `SET LOCAL lock_timeout = '1s'`); err != nil {
			return err
		}
		rows, err = p.writeOnce(ctx, tx, func() logEntries { return logEntries{events: events} }, nil)
		return err
	})
	return spareResult{rows: rows, err: err}
}

// ApplyItems implements ItemProjection: the entries of ev (those named by
// ids, when not nil) are written in groups, each in a savepoint; a group
// that fails for good is split in halves down to single entries, so the
// entries that fail are found with a few COPYs and the others land.
func (p *Logs) ApplyItems(ctx context.Context, tx pgx.Tx, ev projections.Event, ids []string) (int64, []projections.ItemFailure, error) {
	if ev.Envelope.Type != logs.EntriesReceivedV1 {
		return 0, nil, projections.Permanent(fmt.Errorf("event #%d: unexpected type %q", ev.Seq, ev.Envelope.Type))
	}
	entries, undecodable, err := decodeEntriesApart(ev)
	if err != nil {
		return 0, nil, err
	}
	var failed []projections.ItemFailure
	if ids == nil {
		failed = undecodable
	} else {
		want := make(map[string]bool, len(ids))
		for _, id := range ids {
			want[id] = true
		}
		kept := entries[:0:0]
		for _, e := range entries {
			if id := e.ID.String(); want[id] {
				kept = append(kept, e)
				delete(want, id)
			}
		}
		entries = kept
		for _, f := range undecodable {
			if want[f.ID] {
				failed = append(failed, f)
				delete(want, f.ID)
			}
		}
		for id := range want {
			failed = append(failed, projections.ItemFailure{ID: id, Err: projections.Permanent(fmt.Errorf("event #%d holds no entry %s", ev.Seq, id))})
		}
	}
	n, bad, err := p.bisect(ctx, tx, ev.Seq, entries)
	return n, append(failed, bad...), err
}

// bisect writes entries of event seq, splitting on permanent failures.
func (p *Logs) bisect(ctx context.Context, tx pgx.Tx, seq uint64, entries []logs.Entry) (int64, []projections.ItemFailure, error) {
	if len(entries) == 0 {
		return 0, nil, nil
	}
	n, err := p.write(ctx, tx, func() logEntries { return logEntries{pending: entries, seq: seq} }, nil)
	if err == nil {
		return n, nil, nil
	}
	if !projections.IsPermanent(err) {
		return 0, nil, err
	}
	if len(entries) == 1 {
		data, _ := logs.EncodeEntry(entries[0])
		return 0, []projections.ItemFailure{{ID: entries[0].ID.String(), Data: data, Err: err}}, nil
	}
	mid := len(entries) / 2
	left, lf, err := p.bisect(ctx, tx, seq, entries[:mid])
	if err != nil {
		return 0, nil, err
	}
	right, rf, err := p.bisect(ctx, tx, seq, entries[mid:])
	if err != nil {
		return 0, nil, err
	}
	return left + right, append(lf, rf...), nil
}

// write inserts the entries src yields inside a savepoint of tx: a COPY,
// or, when an entry is stored already, an upsert that skips it. src is
// called again for the upsert. tx is usable after a failure. beforeCount,
// when not nil, is called before tx writes into log_volume or makes
// partitions (locks a spare write could wait on).
func (p *Logs) write(ctx context.Context, tx pgx.Tx, src func() logEntries, beforeCount func()) (int64, error) {
	n, err := p.writeOnce(ctx, tx, src, beforeCount)
	if !isNoPartition(err) {
		return n, err
	}
	// A day without its partition (a rebuild of older entries, a clock
	// past the days made ahead, a partition dropped meanwhile): make them
	// and write again.
	// Making partitions locks the parent table, on which a spare write may
	// wait: it must have ended first.
	if beforeCount != nil {
		beforeCount()
	}
	p.partitions.forget(p.table)
	days, err := entryDays(src)
	if err != nil {
		return 0, err
	}
	if err := p.partitions.ensure(ctx, tx, p.table, days); err != nil {
		return 0, err
	}
	return p.writeOnce(ctx, tx, src, beforeCount)
}

// isNoPartition recognises a row for which the partitioned table has no
// partition (SQLSTATE 23514, "no partition of relation … found for row").
func isNoPartition(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == "23514" && strings.Contains(pgErr.Message, "no partition")
}

// entryDays returns the days of the entries src yields.
func entryDays(src func() logEntries) (map[Day]bool, error) {
	it := src()
	days := map[Day]bool{}
	for {
		e, _, ok := it.next()
		if !ok {
			return days, it.err
		}
		days[DayOf(e.ReceivedAt)] = true
	}
}

// writeOnce is write without making missing partitions.
func (p *Logs) writeOnce(ctx context.Context, tx pgx.Tx, src func() logEntries, beforeCount func()) (int64, error) {
	if beforeCount == nil {
		beforeCount = func() {}
	}
	sp, err := tx.Begin(ctx)
	if err != nil {
		return 0, fmt.Errorf("savepoint: %w", err)
	}
	// Rows are decoded while COPY streams, so that PostgreSQL works on the
	// first rows while the later ones are still being decoded.
	r := &logCopyReader{entries: src(), blocks: newBlockBuilder(!p.unindexed)}
	_, err = sp.Conn().PgConn().CopyFrom(ctx, r, p.copySQL)
	r.stop()
	blocks := r.blocks.finish()
	if r.entries.err != nil {
		_ = sp.Rollback(ctx)
		return 0, r.entries.err
	}
	if err == nil {
		if err := writeBlocks(ctx, sp, p.table, blocks); err != nil {
			_ = sp.Rollback(ctx)
			return 0, err
		}
		beforeCount()
		if err := p.countVolume(ctx, sp, &r.volume); err != nil {
			_ = sp.Rollback(ctx)
			return 0, err
		}
		if err := sp.Commit(ctx); err != nil {
			return 0, fmt.Errorf("release savepoint: %w", err)
		}
		return r.rows, nil
	}
	_ = sp.Rollback(ctx)
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) || pgErr.Code != "23505" {
		if isNoPartition(err) {
			return 0, err // write makes the partitions and calls again
		}
		return 0, fmt.Errorf("copy into %s: %w", p.table, err)
	}
	it := src()
	rows, err := collectRows(&it)
	if err != nil {
		return 0, err
	}
	beforeCount()
	// The blocks cover every entry of the batch, those stored already
	// too: a block may overlap another, a search reads both.
	b := newBlockBuilder(!p.unindexed)
	for it := src(); ; {
		e, _, ok := it.next()
		if !ok {
			break
		}
		b.add(e.ReceivedAt, e.Message, e.Context)
	}
	blocks = b.finish()
	var n int64
	err = pgx.BeginFunc(ctx, tx, func(sp pgx.Tx) (err error) { // a savepoint
		if n, err = p.upsert(ctx, sp, rows); err != nil {
			return err
		}
		return writeBlocks(ctx, sp, p.table, blocks)
	})
	return n, err
}

// decodeEntriesApart decodes the entries of ev; when the payload as a whole
// does not decode, each entry is decoded on its own and those that do not
// are returned as failures, named by their "id" when it can be read (else
// "#" and their position). An error means the entries cannot be told apart.
func decodeEntriesApart(ev projections.Event) ([]logs.Entry, []projections.ItemFailure, error) {
	entries, err := logs.DecodeEntriesReceived(ev.Envelope.Data)
	if err == nil {
		return entries, nil, nil
	}
	var raw struct {
		Entries []json.RawMessage `json:"entries"`
	}
	if jerr := json.Unmarshal(ev.Envelope.Data, &raw); jerr != nil {
		return nil, nil, projections.Permanent(fmt.Errorf("event #%d: %w", ev.Seq, err))
	}
	var bad []projections.ItemFailure
	for i, r := range raw.Entries {
		one, err := logs.DecodeEntriesReceived(append(append([]byte(`{"entries":[`), r...), `]}`...))
		if err == nil && len(one) == 1 {
			entries = append(entries, one[0])
			continue
		}
		if err == nil {
			err = fmt.Errorf("entry %d decodes to %d entries", i, len(one))
		}
		var named struct {
			ID any `json:"id"`
		}
		id := fmt.Sprintf("#%d", i)
		if json.Unmarshal(r, &named) == nil && named.ID != nil {
			id = fmt.Sprint(named.ID)
		}
		bad = append(bad, projections.ItemFailure{ID: id, Data: r, Err: projections.Permanent(fmt.Errorf("event #%d: entry %d: %w", ev.Seq, i, err))})
	}
	return entries, bad, nil
}

// decodeLogEvent decodes ev through the logging domain's decode table.
func decodeLogEvent(ev projections.Event) ([]logs.Entry, error) {
	v, err := logs.Decode(ev.Envelope.Type, ev.Envelope.Data)
	if err != nil {
		return nil, projections.Permanent(fmt.Errorf("event #%d: %w", ev.Seq, err))
	}
	switch p := v.(type) {
	case *logs.EntriesReceived:
		return p.Entries, nil
	default:
		return nil, projections.Permanent(fmt.Errorf("event #%d: %s holds no entries", ev.Seq, ev.Envelope.Type))
	}
}

func (p *Logs) upsert(ctx context.Context, tx pgx.Tx, rows [][]any) (int64, error) {
	cols := make([][]any, len(logColumns))
	for i := range cols {
		cols[i] = make([]any, len(rows))
	}
	for r, row := range rows {
		for c, v := range row {
			cols[c][r] = v
		}
	}
	// The entries inserted (not those stored already) are added to their
	// minute and level's count in the same statement.
	var n int64
	err := tx.QueryRow(ctx, `WITH ins AS (
			INSERT INTO `+pgx.Identifier{p.table}.Sanitize()+` (`+strings.Join(logColumns, ", ")+`)
			SELECT * FROM unnest($1::uuid[], $2::bigint[], $3::text[], $4::text[], $5::jsonb[], $6::text[], $7::timestamptz[],
				$8::text[], $9::text[], $10::timestamptz[], $11::timestamptz[])
			ON CONFLICT (id, received_at) DO NOTHING
			RETURNING received_at, level),
		counted AS (
			INSERT INTO log_volume (tbl, minute, level, entries)
			SELECT to_regclass($12), date_trunc('minute', received_at, 'UTC') AS m, level, count(*) FROM ins
			GROUP BY m, level ORDER BY m, level
			ON CONFLICT (tbl, minute, level) DO UPDATE SET entries = log_volume.entries + excluded.entries)
		SELECT count(*) FROM ins`, cols[0], cols[1], cols[2], cols[3], cols[4], cols[5], cols[6], cols[7], cols[8], cols[9], cols[10],
		pgx.Identifier{p.table}.Sanitize()).Scan(&n)
	if err != nil {
		if isNoPartition(err) {
			return 0, err
		}
		return 0, fmt.Errorf("upsert into %s: %w", p.table, err)
	}
	return n, nil
}

// countVolume adds the entries just written to their minute and level's
// count in log_volume, in the order of the key, so that two writers never
// wait on each other's rows in opposite orders.
func (p *Logs) countVolume(ctx context.Context, tx pgx.Tx, v *volumeTally) error {
	if len(v.counts) == 0 {
		return nil
	}
	keys := slices.SortedFunc(maps.Keys(v.counts), func(a, b volumeKey) int {
		return cmp.Or(cmp.Compare(a.minute, b.minute), cmp.Compare(a.level, b.level))
	})
	minutes := make([]time.Time, len(keys))
	levels := make([]string, len(keys))
	ns := make([]int64, len(keys))
	for i, k := range keys {
		minutes[i], levels[i], ns[i] = time.Unix(k.minute*60, 0).UTC(), k.level, v.counts[k]
	}
	_, err := tx.Exec(ctx, `INSERT INTO log_volume (tbl, minute, level, entries)
		SELECT to_regclass($1), m, l, n FROM unnest($2::timestamptz[], $3::text[], $4::bigint[]) AS u(m, l, n)
		ON CONFLICT (tbl, minute, level) DO UPDATE SET entries = log_volume.entries + excluded.entries`,
		pgx.Identifier{p.table}.Sanitize(), minutes, levels, ns)
	if err != nil {
		return fmt.Errorf("count the entries of %s by minute: %w", p.table, err)
	}
	return nil
}

// volumeKey is one minute (since the Unix epoch) and level.
type volumeKey struct {
	minute int64
	level  string
}

// volumeTally counts entries by minute and level as they are written.
type volumeTally struct {
	counts map[volumeKey]int64
}

// add counts an entry of level received at t.
func (v *volumeTally) add(at time.Time, level string) {
	if v.counts == nil {
		v.counts = map[volumeKey]int64{}
	}
	v.counts[volumeKey{minute: floorDiv(at.Unix(), 60), level: level}]++
}

// floorDiv is a / b rounded down (b > 0).
func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && a < 0 {
		q--
	}
	return q
}

// nullText is s, or NULL when empty.
func nullText(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// nullTime is t, or NULL when zero.
func nullTime(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t
}
