package projections

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// Checkpoint is a projection's progress as stored with its rows.
type Checkpoint struct {
	Name        string     `json:"name"`
	LastSeq     uint64     `json:"last_seq"`
	Events      int64      `json:"events"`
	Rows        int64      `json:"rows"`
	Batches     int64      `json:"batches"`
	LastFlushAt *time.Time `json:"last_flush_at"`
	UpdatedAt   time.Time  `json:"updated_at"`
	// Stream and StreamCreated identify the stream incarnation LastSeq
	// counts in (StreamCreated nil: not recorded, a checkpoint written
	// before identities were).
	Stream        string     `json:"stream,omitempty"`
	StreamCreated *time.Time `json:"stream_created,omitempty"`
}

// HasStream reports whether the checkpoint records its stream's identity.
func (c Checkpoint) HasStream() bool { return c.StreamCreated != nil }

// querier is what reading a checkpoint needs: a pool, a connection or a tx.
type querier interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// LoadCheckpoint reads name's checkpoint; a projection that never committed
// has a zero checkpoint.
func LoadCheckpoint(ctx context.Context, q querier, name string) (Checkpoint, error) {
	c := Checkpoint{Name: name}
	var last int64
	err := q.QueryRow(ctx, `SELECT last_seq, events, rows, batches, last_flush_at, updated_at, stream, stream_created
		FROM projection_checkpoints WHERE name = $1`, name).
		Scan(&last, &c.Events, &c.Rows, &c.Batches, &c.LastFlushAt, &c.UpdatedAt, &c.Stream, &c.StreamCreated)
	if errors.Is(err, pgx.ErrNoRows) {
		return c, nil
	}
	if err != nil {
		return c, fmt.Errorf("load checkpoint %s: %w", name, err)
	}
	c.LastSeq = uint64(last)
	return c, nil
}

// saveCheckpoint advances name's checkpoint inside tx and records the
// stream it counts in (when pos names one). The sequence only moves forward,
// so a redelivered older batch cannot move it back.
func saveCheckpoint(ctx context.Context, tx pgx.Tx, name string, pos StreamPosition, lastSeq uint64, events, rows int64) error {
	var created *time.Time
	if pos.Name != "" {
		c := pos.created()
		created = &c
	}
	_, err := tx.Exec(ctx, `INSERT INTO projection_checkpoints (name, last_seq, events, rows, batches, last_flush_at, updated_at, stream, stream_created)
		VALUES ($1, $2, $3, $4, 1, now(), now(), $5, $6)
		ON CONFLICT (name) DO UPDATE SET
			last_seq = GREATEST(projection_checkpoints.last_seq, EXCLUDED.last_seq),
			events = projection_checkpoints.events + EXCLUDED.events,
			rows = projection_checkpoints.rows + EXCLUDED.rows,
			batches = projection_checkpoints.batches + 1,
			last_flush_at = now(), updated_at = now(),
			stream = coalesce(nullif(EXCLUDED.stream, ''), projection_checkpoints.stream),
			stream_created = coalesce(EXCLUDED.stream_created, projection_checkpoints.stream_created)`,
		name, int64(lastSeq), events, rows, pos.Name, created)
	if err != nil {
		return fmt.Errorf("save checkpoint %s: %w", name, err)
	}
	return nil
}

// Parked is an event, or one item of an event, a projection could not apply.
type Parked struct {
	Projection string `json:"projection"`
	Seq        uint64 `json:"seq"`
	// Item is the id of the parked item within the event (a log entry's
	// id); empty when the whole event is parked.
	Item string `json:"item,omitempty"`
	// Items is how many items (log entries) the record holds: 1 for an
	// item, the event's count for a whole event.
	Items     int64     `json:"items"`
	Subject   string    `json:"subject"`
	EventType string    `json:"event_type"`
	Error     string    `json:"error"`
	ParkedAt  time.Time `json:"parked_at"`
	// Aggregate is the aggregate of an updated-in-place projection's event
	// (empty for an insert-only projection).
	Aggregate string `json:"aggregate,omitempty"`
	// HeldBy, when not 0, is the parked event of the same aggregate this one
	// waits behind: it was not applied because that earlier one was not.
	// 0 for the cause itself.
	HeldBy uint64 `json:"held_by,omitempty"`
}

// Held reports whether p waits behind an earlier parked event of its
// aggregate instead of having failed itself.
func (p Parked) Held() bool { return p.HeldBy != 0 }

type parkRecord struct {
	seq     uint64
	subject string
	typ     string
	item    string
	items   int64
	reason  string
	data    []byte
	// aggregate and heldBy are Parked.Aggregate and Parked.HeldBy.
	aggregate string
	heldBy    uint64
}

// countItems is how many items recs hold.
func countItems(recs []parkRecord) int64 {
	var n int64
	for _, p := range recs {
		n += max(p.items, 1)
	}
	return n
}

// park records recs under projection name inside tx, in one round trip.
func park(ctx context.Context, tx pgx.Tx, name string, recs []parkRecord) error {
	if len(recs) == 0 {
		return nil
	}
	b := &pgx.Batch{}
	for _, p := range recs {
		b.Queue(`INSERT INTO projection_parked (projection, seq, item, items, subject, event_type, error, data, aggregate, held_by)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) ON CONFLICT (projection, seq, item) DO NOTHING`,
			name, int64(p.seq), p.item, max(p.items, 1), p.subject, p.typ, p.reason, p.data, p.aggregate, int64(p.heldBy))
	}
	br := tx.SendBatch(ctx, b)
	for _, p := range recs {
		if _, err := br.Exec(); err != nil {
			_ = br.Close()
			return fmt.Errorf("park %s #%d %s: %w", name, p.seq, p.item, err)
		}
	}
	if err := br.Close(); err != nil {
		return fmt.Errorf("park %s: %w", name, err)
	}
	return nil
}

// CountParked returns how many items (log entries; an event without items
// counts as one) name has parked.
func CountParked(ctx context.Context, q querier, name string) (int64, error) {
	var n int64
	if err := q.QueryRow(ctx, `SELECT coalesce(sum(items), 0)::bigint FROM projection_parked WHERE projection = $1`, name).Scan(&n); err != nil {
		return 0, fmt.Errorf("count parked %s: %w", name, err)
	}
	return n, nil
}

// CountSkipped returns how many parked items of name an operator dropped.
func CountSkipped(ctx context.Context, q querier, name string) (int64, error) {
	var n int64
	if err := q.QueryRow(ctx, `SELECT coalesce(sum(items), 0)::bigint FROM projection_skipped WHERE projection = $1`, name).Scan(&n); err != nil {
		return 0, fmt.Errorf("count skipped %s: %w", name, err)
	}
	return n, nil
}

// LockProjection takes the transaction-scoped lock that every writer of
// projection name holds while it writes: live batches and the atomic table
// swap of a rebuild. A batch that starts after a swap therefore sees the
// swapped tables.
func LockProjection(ctx context.Context, tx pgx.Tx, name string) error {
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtext('eventline.projection.' || $1))`, name); err != nil {
		return fmt.Errorf("lock projection %s: %w", name, err)
	}
	return nil
}
