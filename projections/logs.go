package projections

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/eventline/eventline/domain/logs"
	"github.com/eventline/eventline/eventstore"
)

// LogsName is the name of the log entries projection.
const LogsName = "logs"

// logColumns are the columns the projection writes, in COPY order.
var logColumns = []string{"id", "seq", "level", "message", "context", "source", "received_at"}

// Logs projects log.entries_received.v1 events into the log_entries table.
type Logs struct {
	table string
}

// NewLogs returns the logs projection writing into table ("log_entries"
// when empty; a rebuild writes into a shadow table).
func NewLogs(table string) *Logs {
	if table == "" {
		table = "log_entries"
	}
	return &Logs{table: table}
}

// Name implements Projection.
func (p *Logs) Name() string { return LogsName }

// Stream implements Projection.
func (p *Logs) Stream() string { return eventstore.LogsStream }

// Subjects implements Projection.
func (p *Logs) Subjects() []string { return []string{eventstore.LogsSubject} }

// Rows turns events into log_entries rows.
func (p *Logs) Rows(events []Event) ([][]any, error) {
	src := &logRowSource{events: events}
	var rows [][]any
	for src.Next() {
		rows = append(rows, src.row)
	}
	return rows, src.Err()
}

// Apply implements Projection. The common case, no entry stored before, is a
// plain COPY; a redelivered batch hits the primary key and is written again
// with INSERT … ON CONFLICT DO NOTHING, so duplicates change nothing.
func (p *Logs) Apply(ctx context.Context, tx pgx.Tx, events []Event) (int64, error) {
	if len(events) == 0 {
		return 0, nil
	}
	sp, err := tx.Begin(ctx)
	if err != nil {
		return 0, fmt.Errorf("savepoint: %w", err)
	}
	// Rows are decoded while COPY streams, so that PostgreSQL works on the
	// first rows while the later ones are still being decoded.
	src := &logRowSource{events: events}
	n, err := sp.CopyFrom(ctx, pgx.Identifier{p.table}, logColumns, src)
	if src.err != nil {
		_ = sp.Rollback(ctx)
		return 0, src.err
	}
	if err == nil {
		if err := sp.Commit(ctx); err != nil {
			return 0, fmt.Errorf("release savepoint: %w", err)
		}
		return n, nil
	}
	_ = sp.Rollback(ctx)
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) || pgErr.Code != "23505" {
		return 0, fmt.Errorf("copy into %s: %w", p.table, err)
	}
	rows, err := p.Rows(events)
	if err != nil {
		return 0, err
	}
	return p.upsert(ctx, tx, rows)
}

// logRowSource feeds COPY one entry at a time, decoding each event's payload
// when COPY reaches it.
type logRowSource struct {
	events  []Event
	next    int
	entries []logs.Entry
	seq     uint64
	row     []any
	err     error
}

func (s *logRowSource) Next() bool {
	for len(s.entries) == 0 {
		if s.next == len(s.events) || s.err != nil {
			return false
		}
		ev := s.events[s.next]
		s.next++
		s.entries, s.err = decodeLogEvent(ev)
		s.seq = ev.Seq
	}
	e := s.entries[0]
	s.entries = s.entries[1:]
	var ctx any
	if len(e.Context) > 0 {
		ctx = []byte(e.Context)
	}
	s.row = []any{e.ID, int64(s.seq), e.Level, e.Message, ctx, e.Source, e.ReceivedAt}
	return true
}

func (s *logRowSource) Values() ([]any, error) { return s.row, nil }

func (s *logRowSource) Err() error { return s.err }

func decodeLogEvent(ev Event) ([]logs.Entry, error) {
	if ev.Envelope.Type != logs.EntriesReceivedV1 {
		return nil, Permanent(fmt.Errorf("event #%d: unexpected type %q", ev.Seq, ev.Envelope.Type))
	}
	entries, err := logs.DecodeEntriesReceived(ev.Envelope.Data)
	if err != nil {
		return nil, Permanent(fmt.Errorf("event #%d: %w", ev.Seq, err))
	}
	return entries, nil
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
	tag, err := tx.Exec(ctx, `INSERT INTO `+pgx.Identifier{p.table}.Sanitize()+` (id, seq, level, message, context, source, received_at)
		SELECT * FROM unnest($1::uuid[], $2::bigint[], $3::text[], $4::text[], $5::jsonb[], $6::text[], $7::timestamptz[])
		ON CONFLICT (id) DO NOTHING`, cols[0], cols[1], cols[2], cols[3], cols[4], cols[5], cols[6])
	if err != nil {
		return 0, fmt.Errorf("upsert into %s: %w", p.table, err)
	}
	return tag.RowsAffected(), nil
}
