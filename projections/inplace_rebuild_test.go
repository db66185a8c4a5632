package projections_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/eventline/eventline/internal/testenv"
	"github.com/eventline/eventline/projections"
)

func TestInPlaceRebuildComparesWholeRows(t *testing.T) {
	ctx := context.Background()
	st, _ := testenv.Store(t)
	pool := testenv.Pool(t, testenv.Postgres(t))
	createAccounts(t, pool, accountsTable)
	spec := accountsSpec(&atomic.Bool{})
	seqs := appendAccounts(t, st, opened("a"), opened("b"), opened("c"), deposit("a", "5"), deposit("b", `"7"`),
		deposit("b", "1"), deposit("c", "2"), withdraw("a", "1"), opened("d"), deposit("d", "3"))
	_, stop := runAccounts(t, st, pool, spec, projections.Config{})
	waitAccountsCheckpoint(t, pool, seqs[len(seqs)-1])
	stop()
	before := accountRows(t, pool, accountsTable)
	parked := parkedStates(t, pool)
	require.Len(t, parked, 2, "b's poison event and the one held behind it")

	// A model with a held aggregate rebuilds to the same rows and the same
	// held events.
	res, err := projections.NewRebuilder(st, pool, spec, projections.RebuildOptions{}).Run(ctx)
	require.NoError(t, err)
	require.True(t, res.Swapped)
	require.True(t, res.Compared[0].Match)
	require.Equal(t, before, accountRows(t, pool, accountsTable))
	require.Equal(t, parked, parkedStates(t, pool))

	for _, tc := range []struct {
		name, corrupt string
	}{
		{"a number", `UPDATE accounts SET balance = balance + 1 WHERE id = 'c'`},
		{"a text", `UPDATE accounts SET history = history || ',+0' WHERE id = 'd'`},
		{"a row too many", `INSERT INTO accounts VALUES ('zz', 0, 'open', 1)`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := pool.Exec(ctx, tc.corrupt)
			require.NoError(t, err)
			res, err := projections.NewRebuilder(st, pool, spec, projections.RebuildOptions{DryRun: true}).Run(ctx)
			require.ErrorIs(t, err, projections.ErrMismatch)
			require.ErrorContains(t, err, "accounts: 1 row differs")
			require.Len(t, res.Compared, 1)
			require.False(t, res.Compared[0].Match)
			require.Equal(t, int64(1), res.Compared[0].DifferingRows)

			// Forced, the rebuild puts the row right.
			res, err = projections.NewRebuilder(st, pool, spec, projections.RebuildOptions{Force: true}).Run(ctx)
			require.NoError(t, err)
			require.True(t, res.Swapped)
			require.Equal(t, before, accountRows(t, pool, accountsTable))
			require.Equal(t, parked, parkedStates(t, pool))
		})
	}
}

func TestInPlaceRebuildLeavesOutSkippedEvents(t *testing.T) {
	ctx := context.Background()
	st, _ := testenv.Store(t)
	pool := testenv.Pool(t, testenv.Postgres(t))
	createAccounts(t, pool, accountsTable)
	spec := accountsSpec(&atomic.Bool{})
	seqs := appendAccounts(t, st, opened("a"), deposit("a", `"5"`), deposit("a", "2"))
	_, stop := runAccounts(t, st, pool, spec, projections.Config{})
	waitAccountsCheckpoint(t, pool, seqs[2])
	stop()
	r := projections.NewRetrier(st, pool, spec)
	_, err := r.Skip(ctx, seqs[1], "", "bob", "")
	require.NoError(t, err)
	_, err = r.Retry(ctx)
	require.NoError(t, err)
	require.Equal(t, []string{"a 2 open,+2"}, accountRows(t, pool, accountsTable))

	res, err := projections.NewRebuilder(st, pool, spec, projections.RebuildOptions{}).Run(ctx)
	require.NoError(t, err, "the shadow skips what the operator skipped, as the live model did")
	require.True(t, res.Compared[0].Match, fmt.Sprint(res.Compared))
	require.Empty(t, parkedStates(t, pool))
	require.Equal(t, []string{"a 2 open,+2"}, accountRows(t, pool, accountsTable))
}
