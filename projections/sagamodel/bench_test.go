package sagamodel_test

import (
	"context"
	json "github.com/go-json-experiment/json/v1"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/eventline/eventline/domain/saga"
	"github.com/eventline/eventline/eventstore"
	"github.com/eventline/eventline/internal/testenv"
	"github.com/eventline/eventline/projections"
	"github.com/eventline/eventline/projections/sagamodel"
)

// happyEvents returns the 12 events of n happy order sagas, numbered from
// seq and interleaved as 200 sagas in flight append them: the first event
// of 200 sagas, then their second, and so on.
func happyEvents(b *testing.B, n int, seq uint64) []projections.Event {
	b.Helper()
	def := saga.OrderSaga(saga.Policy{Attempts: 3, FirstDelay: time.Second, AttemptTimeout: 10 * time.Second,
		CompensationTimeout: 30 * time.Second})
	perSaga := func(id string) [][2]any {
		out := [][2]any{{saga.StartedV1, saga.Started{SagaID: id, Definition: def, Input: json.RawMessage(`{}`), At: base}}}
		for _, st := range def.Steps {
			out = append(out, [2]any{saga.StepStartedV1, saga.StepStarted{Step: st.Name, Attempt: 1, RoundStart: 1, At: base}},
				[2]any{saga.StepCompletedV1, saga.StepCompleted{Step: st.Name, Attempt: 1, At: base}})
		}
		return append(out, [2]any{saga.CompletedV1, saga.Completed{At: base}})
	}
	var out []projections.Event
	for start := 0; start < n; start += 200 {
		ids := make([]string, min(200, n-start))
		evs := make([][][2]any, len(ids))
		for i := range ids {
			ids[i] = uuid.NewString()
			evs[i] = perSaga(ids[i])
		}
		for k := range evs[0] {
			for i, id := range ids {
				raw, err := json.Marshal(evs[i][k][1])
				require.NoError(b, err)
				seq++
				out = append(out, projections.Event{Seq: seq, Subject: saga.Subject(id), Envelope: eventstore.Envelope{
					ID: uuid.New(), Type: evs[i][k][0].(string), OccurredAt: base, Data: raw}})
			}
		}
	}
	return out
}

// BenchmarkSagas1k applies the 12,000 events of 1,000 happy sagas in
// batches of 1,000 (the runner's default), one transaction each, and
// reports sagas projected per second; rowByRow applies the same events one
// Apply (three round trips) per event, the baseline the batching beats.
func BenchmarkSagas1k(b *testing.B) {
	pool := testenv.Pool(b, testenv.Postgres(b))
	ctx := context.Background()
	for _, mode := range []string{"batched", "rowByRow"} {
		b.Run(mode, func(b *testing.B) {
			var seq uint64
			for b.Loop() {
				b.StopTimer()
				events := happyEvents(b, 1000, seq)
				seq += uint64(len(events))
				b.StartTimer()
				for len(events) > 0 {
					batch := events[:min(1000, len(events))]
					events = events[len(batch):]
					require.NoError(b, pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
						p := sagamodel.NewSagas(nil)
						if mode == "batched" {
							_, err := p.Apply(ctx, tx, batch)
							return err
						}
						for i := range batch {
							if _, err := p.Apply(ctx, tx, batch[i:i+1]); err != nil {
								return err
							}
						}
						return nil
					}))
				}
			}
			b.ReportMetric(1000*float64(b.N)/b.Elapsed().Seconds(), "sagas/s")
		})
	}
}
