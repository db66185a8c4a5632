package projections_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/stretchr/testify/require"

	"github.com/eventline/eventline/internal/testenv"
	"github.com/eventline/eventline/projections"
)

func TestInPlaceHoldsTheAggregateOfAPoisonEvent(t *testing.T) {
	for _, tc := range []struct {
		name      string
		batchSize int
	}{
		{"whole history in one batch", 1000},
		{"one event per batch", 1},
		{"batches of three", 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			st, _ := testenv.Store(t)
			pool := testenv.Pool(t, testenv.Postgres(t))
			createAccounts(t, pool, accountsTable)
			lenient := &atomic.Bool{}
			spec := accountsSpec(lenient)
			seqs := appendAccounts(t, st,
				opened("a"), opened("b"), deposit("a", "10"), deposit("b", "3"),
				deposit("a", `"5"`), // poison: the amount is a string
				deposit("b", "4"), withdraw("a", "2"), deposit("a", "1"), withdraw("b", "1"))
			poison := seqs[4]

			r, stop := runAccounts(t, st, pool, spec, projections.Config{BatchSize: tc.batchSize})
			waitAccountsCheckpoint(t, pool, seqs[len(seqs)-1])
			require.Equal(t, []string{"a 10 open,+10", "b 6 open,+3,+4,-1"}, accountRows(t, pool, accountsTable),
				"a stops before its poison event; b flows on")
			held := fmt.Sprintf("held:%d", poison)
			require.Equal(t, []string{
				fmt.Sprintf("%d events.acct.a cause", poison),
				fmt.Sprintf("%d events.acct.a %s", seqs[6], held),
				fmt.Sprintf("%d events.acct.a %s", seqs[7], held),
			}, parkedStates(t, pool))
			require.Equal(t, int64(3), r.Stats().Parked)

			// A restart while a is held keeps holding it: known from
			// projection_parked, not from memory.
			stop()
			more := appendAccounts(t, st, deposit("a", "100"), deposit("b", "100"))
			_, _ = runAccounts(t, st, pool, spec, projections.Config{BatchSize: tc.batchSize})
			waitAccountsCheckpoint(t, pool, more[1])
			require.Equal(t, []string{"a 10 open,+10", "b 106 open,+3,+4,-1,+100"}, accountRows(t, pool, accountsTable))
			require.Contains(t, parkedStates(t, pool), fmt.Sprintf("%d events.acct.a %s", more[0], held))

			// Retrying before the fix changes nothing.
			retrier := projections.NewRetrier(st, pool, spec)
			res, err := retrier.Retry(ctx)
			require.NoError(t, err)
			require.Equal(t, 1, res.Retried)
			require.Equal(t, 0, res.Applied)
			require.Len(t, res.StillParked, 4)
			require.Equal(t, "10 open,+10", accountRows(t, pool, accountsTable)[0][2:])

			// After the fix, retry applies a's events in order, while the
			// live projector keeps running.
			lenient.Store(true)
			res, err = retrier.Retry(ctx)
			require.NoError(t, err)
			require.Equal(t, 4, res.Applied)
			require.Empty(t, res.StillParked)
			require.Empty(t, parkedStates(t, pool))
			require.Equal(t, cleanAccounts(t, st, pool), accountRows(t, pool, accountsTable))
			require.Equal(t, "a 114 open,+10,+5,-2,+1,+100", accountRows(t, pool, accountsTable)[0])

			// a is released: its next event is applied live.
			last := appendAccounts(t, st, withdraw("a", "14"))
			waitAccountsCheckpoint(t, pool, last[0])
			require.Eventually(t, func() bool {
				return accountRows(t, pool, accountsTable)[0] == "a 100 open,+10,+5,-2,+1,+100,-14"
			}, 10*time.Second, 10*time.Millisecond)
			require.Empty(t, parkedStates(t, pool))
		})
	}
}

func TestInPlaceRetryStopsAtTheFirstThatStillFails(t *testing.T) {
	ctx := context.Background()
	st, _ := testenv.Store(t)
	pool := testenv.Pool(t, testenv.Postgres(t))
	createAccounts(t, pool, accountsTable)
	lenient := &atomic.Bool{}
	spec := accountsSpec(lenient)
	// Two poison events in a's history: the second is bad even for the fix.
	seqs := appendAccounts(t, st, opened("a"), deposit("a", `"5"`), deposit("a", "1"), deposit("a", `"x"`), deposit("a", "2"), opened("b"))
	_, _ = runAccounts(t, st, pool, spec, projections.Config{})
	waitAccountsCheckpoint(t, pool, seqs[5])
	require.Equal(t, []string{"a 0 open", "b 0 open"}, accountRows(t, pool, accountsTable))
	status, err := projections.NewStatusReader(st.JetStream(), pool).Status(ctx, spec)
	require.NoError(t, err)
	require.Equal(t, "updated-in-place", status.Kind)
	require.Equal(t, int64(1), status.HeldAggregates)
	require.Equal(t, int64(4), status.Parked)

	lenient.Store(true)
	res, err := projections.NewRetrier(st, pool, spec).Retry(ctx)
	require.NoError(t, err)
	require.Equal(t, 2, res.Applied, "#2 and #3 apply, #4 still fails")
	require.Equal(t, []string{"a 6 open,+5,+1", "b 0 open"}, accountRows(t, pool, accountsTable))
	require.Equal(t, []string{
		fmt.Sprintf("%d events.acct.a cause", seqs[3]),
		fmt.Sprintf("%d events.acct.a held:%d", seqs[4], seqs[3]),
	}, parkedStates(t, pool), "the event that still fails is now the one the rest waits behind")
	require.Len(t, res.StillParked, 2)
	require.Contains(t, res.StillParked[0].Error, "amount")
	require.Contains(t, res.StillParked[1].Error, fmt.Sprintf("waiting for #%d", seqs[3]))
}

func TestInPlaceSkipRecordsTheOperatorAndReleasesTheHeld(t *testing.T) {
	ctx := context.Background()
	st, _ := testenv.Store(t)
	pool := testenv.Pool(t, testenv.Postgres(t))
	createAccounts(t, pool, accountsTable)
	spec := accountsSpec(&atomic.Bool{}) // never fixed: the bad event is skipped
	seqs := appendAccounts(t, st, opened("a"), deposit("a", `"5"`), deposit("a", "2"), withdraw("a", "1"), opened("b"))
	_, _ = runAccounts(t, st, pool, spec, projections.Config{})
	waitAccountsCheckpoint(t, pool, seqs[4])
	require.Len(t, parkedStates(t, pool), 3)

	r := projections.NewRetrier(st, pool, spec)
	skipped, err := r.Skip(ctx, seqs[1], "", "alice", "amount sent as a string by a client bug")
	require.NoError(t, err)
	require.Len(t, skipped, 1)
	require.Equal(t, "events.acct.a", skipped[0].Aggregate)
	res, err := r.Retry(ctx)
	require.NoError(t, err)
	require.Equal(t, 2, res.Applied)
	require.Empty(t, parkedStates(t, pool))
	require.Equal(t, cleanAccounts(t, st, pool, seqs[1]), accountRows(t, pool, accountsTable))
	require.Equal(t, []string{"a 1 open,+2,-1", "b 0 open"}, accountRows(t, pool, accountsTable))

	var by, reason, agg string
	require.NoError(t, pool.QueryRow(ctx, `SELECT skipped_by, reason, aggregate FROM projection_skipped WHERE projection = $1 AND seq = $2`,
		accountsName, int64(seqs[1])).Scan(&by, &reason, &agg))
	require.Equal(t, []string{"alice", "amount sent as a string by a client bug", "events.acct.a"}, []string{by, reason, agg})

	_, err = r.Skip(ctx, seqs[1], "", "alice", "again")
	require.ErrorIs(t, err, projections.ErrNotParked)
}

func TestInPlaceTransientErrorsParkNothing(t *testing.T) {
	ctx := context.Background()
	st, _ := testenv.Store(t)
	url := testenv.Postgres(t)
	pool := testenv.Pool(t, url)
	createAccounts(t, pool, accountsTable)
	spec := accountsSpec(&atomic.Bool{})
	first := appendAccounts(t, st, opened("a"), opened("b"), deposit("a", "1"))
	r, _ := runAccounts(t, st, pool, spec, projections.Config{BatchSize: 2})
	waitAccountsCheckpoint(t, pool, first[2])

	// The table goes missing (42P01) while events arrive: retried, not parked.
	_, err := pool.Exec(ctx, `ALTER TABLE accounts RENAME TO accounts_away`)
	require.NoError(t, err)
	second := appendAccounts(t, st, deposit("a", "2"), deposit("b", "3"), withdraw("a", "1"))
	require.Eventually(t, func() bool { return r.Stats().Retries >= 2 }, 20*time.Second, 10*time.Millisecond)
	require.Empty(t, parkedStates(t, pool))
	_, err = pool.Exec(ctx, `ALTER TABLE accounts_away RENAME TO accounts`)
	require.NoError(t, err)
	waitAccountsCheckpoint(t, pool, second[2])

	// Every connection of the database is killed, again and again, while
	// the projector works.
	var evs []acctEvent
	for i := range 60 {
		evs = append(evs, deposit([]string{"a", "b", "c"}[i%3], "1"))
	}
	evs = append([]acctEvent{opened("c")}, evs...)
	killer := testenv.Pool(t, url)
	stopKill := make(chan struct{})
	killed := make(chan int64, 1)
	go func() {
		var n int64
		defer func() { killed <- n }()
		for {
			select {
			case <-stopKill:
				return
			case <-time.After(15 * time.Millisecond):
			}
			var k int64
			if killer.QueryRow(ctx, `SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
				WHERE datname = current_database() AND pid <> pg_backend_pid()`).Scan(&k) == nil {
				n += k
			}
		}
	}()
	third := appendAccounts(t, st, evs...)
	require.Eventually(t, func() bool {
		cp, err := projections.LoadCheckpoint(ctx, killer, accountsName)
		return err == nil && cp.LastSeq >= third[len(third)-1]
	}, 60*time.Second, 50*time.Millisecond)
	close(stopKill)
	require.Positive(t, <-killed)

	check := testenv.Pool(t, url)
	require.Empty(t, parkedStates(t, check), "nothing transient is parked")
	require.Equal(t, cleanAccounts(t, st, check), accountRows(t, check, accountsTable))
}

func TestInPlaceUndecodableEventHoldsItsAggregate(t *testing.T) {
	ctx := context.Background()
	st, _ := testenv.Store(t)
	pool := testenv.Pool(t, testenv.Postgres(t))
	createAccounts(t, pool, accountsTable)
	spec := accountsSpec(&atomic.Bool{})
	first := appendAccounts(t, st, opened("a"), opened("b"))
	// Not an envelope at all, in the middle of a's history.
	ack, err := st.JetStream().PublishMsg(ctx, &nats.Msg{Subject: "events.acct.a", Data: []byte("garbage"), Header: nats.Header{}})
	require.NoError(t, err)
	rest := appendAccounts(t, st, deposit("a", "1"), deposit("b", "2"))
	_, _ = runAccounts(t, st, pool, spec, projections.Config{})
	waitAccountsCheckpoint(t, pool, rest[1])
	require.Equal(t, []string{"a 0 open", "b 2 open,+2"}, accountRows(t, pool, accountsTable))
	require.Equal(t, []string{
		fmt.Sprintf("%d events.acct.a cause", ack.Sequence),
		fmt.Sprintf("%d events.acct.a held:%d", rest[0], ack.Sequence),
	}, parkedStates(t, pool))
	require.Equal(t, uint64(2), first[1])

	// It can never be decoded: skipping it releases a.
	r := projections.NewRetrier(st, pool, spec)
	_, err = r.Skip(ctx, ack.Sequence, "", "carol", "garbage")
	require.NoError(t, err)
	res, err := r.Retry(ctx)
	require.NoError(t, err)
	require.Equal(t, 1, res.Applied)
	require.Equal(t, []string{"a 1 open,+1", "b 2 open,+2"}, accountRows(t, pool, accountsTable))
	require.Empty(t, parkedStates(t, pool))
}

func TestInPlaceLockAndStatementTimeoutsParkNothing(t *testing.T) {
	for _, tc := range []struct {
		name, setting string
	}{
		{"lock timeout 55P03", "lock_timeout"},
		{"statement timeout 57014", "statement_timeout"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			st, _ := testenv.Store(t)
			url := testenv.Postgres(t)
			admin := testenv.Pool(t, url)
			createAccounts(t, admin, accountsTable)
			_, err := admin.Exec(ctx, `DO $$ BEGIN EXECUTE format('ALTER DATABASE %I SET `+tc.setting+` = ''200ms''', current_database()); END $$`)
			require.NoError(t, err)
			pool := testenv.Pool(t, url) // its sessions time out
			spec := accountsSpec(&atomic.Bool{})
			first := appendAccounts(t, st, opened("a"))
			r, _ := runAccounts(t, st, pool, spec, projections.Config{})
			waitAccountsCheckpoint(t, admin, first[0])

			// Another transaction holds the table while events arrive.
			tx, err := admin.Begin(ctx)
			require.NoError(t, err)
			_, err = tx.Exec(ctx, `LOCK TABLE accounts IN ACCESS EXCLUSIVE MODE`)
			require.NoError(t, err)
			more := appendAccounts(t, st, deposit("a", "1"), deposit("a", "2"))
			require.Eventually(t, func() bool { return r.Stats().Retries >= 2 }, 20*time.Second, 10*time.Millisecond)
			require.NoError(t, tx.Rollback(ctx))
			waitAccountsCheckpoint(t, admin, more[1])
			require.Empty(t, parkedStates(t, admin))
			require.Equal(t, []string{"a 3 open,+1,+2"}, accountRows(t, admin, accountsTable))
		})
	}
}

// A projection updated in place waits InPlaceWait, not BatchWait, to fill a
// batch: an aggregate's events that come apart in time are written in one
// transaction, its row once. (On the code before InPlaceWait the runner
// committed the first event alone, 5ms after it came: two batches.)
func TestInPlaceBatchWaitsLongerSoThatARowIsWrittenOnce(t *testing.T) {
	st, _ := testenv.Store(t)
	pool := testenv.Pool(t, testenv.Postgres(t))
	createAccounts(t, pool, accountsTable)
	spec := accountsSpec(&atomic.Bool{})
	r, _ := runAccounts(t, st, pool, spec, projections.Config{BatchWait: 5 * time.Millisecond, InPlaceWait: time.Second})
	first := appendAccounts(t, st, opened("a"))
	time.Sleep(200 * time.Millisecond) // far past BatchWait, well within InPlaceWait
	last := appendAccounts(t, st, deposit("a", "10"))
	waitAccountsCheckpoint(t, pool, last[0])
	require.Equal(t, []string{"a 10 open,+10"}, accountRows(t, pool, accountsTable))
	require.Equal(t, int64(1), r.Stats().Batches, "events #%d and #%d, 200ms apart, in one batch", first[0], last[0])
}
