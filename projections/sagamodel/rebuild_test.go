package sagamodel_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/eventline/eventline/projections"
	"github.com/eventline/eventline/projections/sagamodel"
)

func TestRebuildMatchesAndFindsACorruptedRow(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	stop := e.run(t)
	happySaga(t, e)
	compensatedSaga(t, e)
	attentionSaga(t, e)
	runParticipants(t, e)
	e.wait(t)
	stop()
	before := dump(t, e.pool)

	for _, spec := range []projections.Spec{sagamodel.SagasSpec(), sagamodel.OrdersSpec()} {
		res, err := projections.NewRebuilder(e.st, e.pool, spec, projections.RebuildOptions{}).Run(ctx)
		require.NoError(t, err, spec.Name)
		require.True(t, res.Swapped, spec.Name)
		require.Len(t, res.Compared, len(spec.Tables), spec.Name)
		for _, c := range res.Compared {
			require.True(t, c.Match, c.Table)
		}
	}
	require.Equal(t, before, dump(t, e.pool), "the rebuilt rows are the live ones")

	for _, tc := range []struct {
		name, corrupt, table string
		spec                 projections.Spec
	}{
		{"a saga", `UPDATE sagas SET status = 'running' WHERE status = 'failed' OR status = 'compensated'`, "sagas",
			sagamodel.SagasSpec()},
		{"a step", `UPDATE saga_steps SET attempts = 9 WHERE name = 'process_payment' AND attempts = 2`, "saga_steps",
			sagamodel.SagasSpec()},
		{"a product", `UPDATE products SET reserved = reserved + 1 WHERE id = 'p1'`, "products", sagamodel.OrdersSpec()},
		{"a payment", `UPDATE payments SET status = 'charged' WHERE key = 's2:pay'`, "payments", sagamodel.OrdersSpec()},
		{"a resurrected order", `INSERT INTO orders SELECT 'o3', user_id, 'cancelled', total_cents, items, reason,
			created_at, updated_at, seq FROM orders LIMIT 1`, "orders", sagamodel.OrdersSpec()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := e.pool.Exec(ctx, tc.corrupt)
			require.NoError(t, err)
			_, err = projections.NewRebuilder(e.st, e.pool, tc.spec, projections.RebuildOptions{DryRun: true}).Run(ctx)
			require.ErrorIs(t, err, projections.ErrMismatch)
			require.ErrorContains(t, err, tc.table+": 1 row differs")

			res, err := projections.NewRebuilder(e.st, e.pool, tc.spec, projections.RebuildOptions{Force: true}).Run(ctx)
			require.NoError(t, err)
			require.True(t, res.Swapped)
			require.Equal(t, before, dump(t, e.pool), "the forced rebuild puts it right")
		})
	}
}

func TestAnEventThatCannotBeAppliedHoldsItsSagaOnly(t *testing.T) {
	e := newEnv(t)
	e.run(t)
	a, b := newScript(t, e), newScript(t, e)
	a.ok("validate_user", 1)
	bad := e.emit(t, "SAGAS", "saga."+a.id, "saga.step_started.v1", map[string]any{"step": 42})
	a.ok("reserve_inventory", 1)
	b.ok("validate_user", 1)
	e.wait(t)

	parked, err := projections.ListParked(context.Background(), e.pool, sagamodel.SagasName)
	require.NoError(t, err)
	require.Len(t, parked, 3, "the bad event and the two held behind it")
	require.Equal(t, bad, parked[0].Seq)
	require.Equal(t, "saga."+a.id, parked[0].Aggregate)
	require.Equal(t, "pending", readSaga(t, e.pool, a.id).Steps[1].Status, "a waits behind its bad event")
	require.Equal(t, b.want(), readSaga(t, e.pool, b.id), "b flows on")
}
