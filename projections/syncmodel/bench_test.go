package syncmodel_test

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/eventline/eventline/domain/workflows"
	"github.com/eventline/eventline/eventstore"
	"github.com/eventline/eventline/internal/testenv"
	"github.com/eventline/eventline/projections"
	"github.com/eventline/eventline/projections/syncmodel"
)

// importEvents returns the events of a first sync of a new customer that
// creates n workflows, numbered from seq.
func importEvents(b *testing.B, n int, seq uint64) []projections.Event {
	b.Helper()
	c := uuid.New()
	subject := workflows.Subject(c.String())
	var out []projections.Event
	add := func(typ string, data any) {
		raw, err := json.Marshal(data)
		require.NoError(b, err)
		seq++
		out = append(out, projections.Event{Seq: seq, Subject: subject, Envelope: eventstore.Envelope{ID: uuid.New(),
			Type: typ, OccurredAt: base, Data: raw}})
	}
	add(workflows.CustomerCreatedV1, workflows.CustomerCreated{CustomerID: c.String(), Name: c.String(), CreatedAt: base})
	add(workflows.SyncStartedV1, workflows.SyncStarted{SyncID: "s-" + c.String(), Trigger: workflows.TriggerCLI, StartedAt: base})
	for i := range n {
		add(workflows.WorkflowCreatedV1, workflows.WorkflowChanged{SyncID: "s-" + c.String(),
			Workflow: wf(int64(i+1), "workflow with a name of a usual length", "Active", i)})
	}
	add(workflows.SyncCompletedV1, workflows.SyncCompleted{SyncID: "s-" + c.String(), Stats: workflows.Stats{Created: n, Total: n}, FinishedAt: base})
	return out
}

// BenchmarkImport10k applies the 10,003 events of a first sync of 10,000
// workflows in batches of 1,000 (the runner's default), one transaction
// each; rowByRow applies the same events one at a time (one Apply, two
// round trips, per event), the baseline the batching beats.
func BenchmarkImport10k(b *testing.B) {
	pool := testenv.Pool(b, testenv.Postgres(b))
	ctx := context.Background()
	for _, mode := range []string{"batched", "rowByRow"} {
		b.Run(mode, func(b *testing.B) {
			var seq uint64
			for b.Loop() {
				b.StopTimer()
				events := importEvents(b, 10_000, seq)
				seq += uint64(len(events))
				b.StartTimer()
				for len(events) > 0 {
					batch := events[:min(1000, len(events))]
					events = events[len(batch):]
					require.NoError(b, pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
						if mode == "batched" {
							_, err := syncmodel.New(nil).Apply(ctx, tx, batch)
							return err
						}
						for i := range batch {
							if _, err := syncmodel.New(nil).Apply(ctx, tx, batch[i:i+1]); err != nil {
								return err
							}
						}
						return nil
					}))
				}
			}
			b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "ms/10k")
		})
	}
}
