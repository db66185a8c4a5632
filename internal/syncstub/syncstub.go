// Package syncstub is a stand-in for the workflow-sync read model
// (projections/syncmodel) in the sync worker's tests and benchmark, until
// that projection is merged: it creates the tables of the shared design
// when they are missing and keeps them from stream WORKFLOWS the way the
// design describes (mark-and-sweep deletion on sync.completed, marks
// cleared on sync.failed), one transaction per fetched batch, with a
// checkpoint row in projection_checkpoints. It is test support, not a
// projection: no parking, no rebuild.
package syncstub

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/eventline/eventline/domain/workflows"
	"github.com/eventline/eventline/eventstore"
	"github.com/eventline/eventline/projections"
)

// Name is the checkpoint name the stand-in keeps.
const Name = "syncstub"

// schema is the read model of the shared design, created when missing.
const schema = `
CREATE TABLE IF NOT EXISTS customers (
  id uuid PRIMARY KEY, name text NOT NULL, base_url text NOT NULL, client_id text NOT NULL,
  created_at timestamptz NOT NULL, last_sync_id text, last_sync_status text, last_sync_at timestamptz,
  seq bigint NOT NULL);
CREATE TABLE IF NOT EXISTS workflows (
  id uuid PRIMARY KEY, customer_id uuid NOT NULL, zuora_id bigint NOT NULL, name text NOT NULL,
  description text NOT NULL, status text NOT NULL, created_at timestamptz NOT NULL, updated_at timestamptz NOT NULL,
  last_synced_at timestamptz, deleting_sync text, seq bigint NOT NULL, UNIQUE (customer_id, zuora_id));
CREATE TABLE IF NOT EXISTS sync_runs (
  sync_id text PRIMARY KEY, customer_id uuid NOT NULL, status text NOT NULL, trigger text NOT NULL,
  slot text NOT NULL DEFAULT '', started_at timestamptz NOT NULL, finished_at timestamptz,
  created int NOT NULL DEFAULT 0, updated int NOT NULL DEFAULT 0, deleted int NOT NULL DEFAULT 0,
  unchanged int NOT NULL DEFAULT 0, total int NOT NULL DEFAULT 0, errors jsonb NOT NULL DEFAULT '[]',
  pages int NOT NULL DEFAULT 0, reason text NOT NULL DEFAULT '', seq bigint NOT NULL);
`

// EnsureSchema creates the read model's tables when they are missing.
func EnsureSchema(ctx context.Context, pool *pgxpool.Pool) error {
	if _, err := pool.Exec(ctx, schema); err != nil {
		return fmt.Errorf("syncstub schema: %w", err)
	}
	return nil
}

// workflowNamespace is the UUIDv5 namespace of workflow row ids (stand-in's own).
var workflowNamespace = uuid.MustParse("9d3c1f4e-7a2b-5c8d-9e0f-1a2b3c4d5e6f")

// Run keeps the tables from stream WORKFLOWS until ctx ends.
func Run(ctx context.Context, store *eventstore.Store, pool *pgxpool.Pool) error {
	cp, err := projections.LoadCheckpoint(ctx, pool, Name)
	if err != nil {
		return err
	}
	st, err := store.JetStream().Stream(ctx, workflows.Stream)
	if err != nil {
		return fmt.Errorf("syncstub: %w", err)
	}
	cons, err := st.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{
		DeliverPolicy: jetstream.DeliverByStartSequencePolicy, OptStartSeq: cp.LastSeq + 1,
	})
	if err != nil {
		return fmt.Errorf("syncstub: %w", err)
	}
	reg := eventstore.NewRegistry()
	reg.RegisterAll(workflows.Events())
	for ctx.Err() == nil {
		batch, err := cons.Fetch(2000, jetstream.FetchMaxWait(50*time.Millisecond))
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("syncstub fetch: %w", err)
		}
		var msgs []jetstream.Msg
		for m := range batch.Messages() {
			msgs = append(msgs, m)
		}
		if len(msgs) == 0 {
			continue
		}
		if err := apply(ctx, pool, reg, msgs); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
	}
	return nil
}

// apply writes msgs and the checkpoint in one transaction.
func apply(ctx context.Context, pool *pgxpool.Pool, reg *eventstore.Registry, msgs []jetstream.Msg) error {
	b := &pgx.Batch{}
	var last uint64
	for _, m := range msgs {
		md, err := m.Metadata()
		if err != nil {
			return err
		}
		last = md.Sequence.Stream
		env, err := eventstore.UnmarshalEnvelope(m.Data())
		if err != nil {
			return err
		}
		data, err := reg.Decode(env)
		if err != nil {
			return err
		}
		queue(b, customerOf(m.Subject()), int64(last), md.Timestamp, data)
	}
	b.Queue(`INSERT INTO projection_checkpoints (name, last_seq, events, updated_at) VALUES ($1, $2, $3, now())
		ON CONFLICT (name) DO UPDATE SET last_seq = GREATEST(projection_checkpoints.last_seq, EXCLUDED.last_seq),
		events = projection_checkpoints.events + EXCLUDED.events, updated_at = now()`, Name, int64(last), len(msgs))
	return pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		return tx.SendBatch(ctx, b).Close()
	})
}

func customerOf(subject string) string {
	const prefix = "customer."
	if len(subject) > len(prefix) {
		return subject[len(prefix):]
	}
	return subject
}

// queue adds the statements of one event to b.
func queue(b *pgx.Batch, customer string, seq int64, at time.Time, data any) {
	switch e := data.(type) {
	case *workflows.CustomerCreated:
		b.Queue(`INSERT INTO customers (id, name, base_url, client_id, created_at, seq) VALUES ($1,$2,$3,$4,$5,$6)
			ON CONFLICT (id) DO NOTHING`, customer, e.Name, e.BaseURL, e.ClientID, e.CreatedAt, seq)
	case *workflows.SyncStarted:
		b.Queue(`INSERT INTO sync_runs (sync_id, customer_id, status, trigger, slot, started_at, seq)
			VALUES ($1,$2,'running',$3,$4,$5,$6) ON CONFLICT (sync_id) DO NOTHING`,
			e.SyncID, customer, string(e.Trigger), e.Slot, e.StartedAt, seq)
	case *workflows.WorkflowChanged:
		w := e.Workflow
		id := uuid.NewSHA1(workflowNamespace, fmt.Appendf(nil, "%s:%d", customer, w.ZuoraID))
		b.Queue(`INSERT INTO workflows (id, customer_id, zuora_id, name, description, status, created_at, updated_at,
			last_synced_at, seq) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10)
			ON CONFLICT (customer_id, zuora_id) DO UPDATE SET name = EXCLUDED.name, description = EXCLUDED.description,
			status = EXCLUDED.status, created_at = EXCLUDED.created_at, updated_at = EXCLUDED.updated_at,
			last_synced_at = EXCLUDED.last_synced_at, deleting_sync = NULL, seq = EXCLUDED.seq
			WHERE workflows.seq < EXCLUDED.seq`,
			id, customer, w.ZuoraID, w.Name, w.Description, w.Status, w.CreatedAt, w.UpdatedAt, at, seq)
	case *workflows.WorkflowDeleted:
		b.Queue(`UPDATE workflows SET deleting_sync = $3, seq = $4 WHERE customer_id = $1 AND zuora_id = $2 AND seq < $4`,
			customer, e.ZuoraID, e.SyncID, seq)
	case *workflows.SyncCompleted:
		b.Queue(`DELETE FROM workflows WHERE customer_id = $1 AND deleting_sync = $2`, customer, e.SyncID)
		b.Queue(`UPDATE workflows SET last_synced_at = $2 WHERE customer_id = $1`, customer, e.FinishedAt)
		finish(b, customer, seq, e.SyncID, "completed", "", e.Stats, e.Pages, e.FinishedAt)
	case *workflows.SyncFailed:
		b.Queue(`UPDATE workflows SET deleting_sync = NULL WHERE customer_id = $1 AND deleting_sync = $2`, customer, e.SyncID)
		finish(b, customer, seq, e.SyncID, "failed", e.Reason, e.Stats, e.Pages, e.FinishedAt)
	}
}

// finish records the end of a sync.
func finish(b *pgx.Batch, customer string, seq int64, syncID, status, reason string, st workflows.Stats, pages int, at time.Time) {
	errs := st.Errors
	if errs == nil {
		errs = []string{}
	}
	b.Queue(`UPDATE sync_runs SET status = $2, reason = $3, created = $4, updated = $5, deleted = $6, unchanged = $7,
		total = $8, errors = $9, pages = $10, finished_at = $11, seq = $12 WHERE sync_id = $1 AND seq < $12`,
		syncID, status, reason, st.Created, st.Updated, st.Deleted, st.Unchanged, st.Total, errs, pages, at, seq)
	b.Queue(`UPDATE customers SET last_sync_id = $2, last_sync_status = $3, last_sync_at = $4, seq = $5
		WHERE id = $1 AND seq < $5`, customer, syncID, status, at, seq)
}

// ErrTimeout is returned by WaitCaughtUp when the stand-in did not reach a sequence in time.
var ErrTimeout = errors.New("syncstub: not caught up in time")

// WaitCaughtUp waits until the stand-in's checkpoint reaches seq.
func WaitCaughtUp(ctx context.Context, pool *pgxpool.Pool, seq uint64, within time.Duration) error {
	deadline := time.Now().Add(within)
	for {
		cp, err := projections.LoadCheckpoint(ctx, pool, Name)
		if err != nil {
			return err
		}
		if cp.LastSeq >= seq {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%w: at %d, want %d", ErrTimeout, cp.LastSeq, seq)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
