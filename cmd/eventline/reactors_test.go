package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/eventline/eventline/eventstore"
	"github.com/eventline/eventline/platform/module"
	"github.com/eventline/eventline/platform/reactor"
)

// reactors runs `eventline reactors …` with the reactors of reg as the
// binary's.
func (c *opsCLI) reactors(t *testing.T, reg *reactor.Registry, args ...string) string {
	t.Helper()
	cfg, err := loadConfig(func(k string) string { return c.vars[k] })
	require.NoError(t, err)
	var out, errOut bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	mods := module.Set{{Name: "test", ReactorRole: "saga", Reactors: func(module.Deps) []reactor.Reactor { return reg.All() }}}
	err = reactorsCmd(ctx, cfg, mods, args, func(k string) string { return c.vars[k] }, &out, &errOut)
	require.NoError(t, err, "reactors %v\nstderr: %s", args, errOut.String())
	return out.String()
}

// A test reactor parks what it cannot handle; the CLI lists it, skips one
// with who and why, and retries the other after the fix.
func TestReactorsParkedRetryAndSkip(t *testing.T) {
	c := newOpsCLI(t)
	c.mustRun(t, "migrate")
	ctx := context.Background()
	require.NoError(t, c.store.EnsureStreams(ctx, []eventstore.StreamSpec{{Name: "RTEST", Subjects: []string{"rtest.>"}}}))
	var broken atomic.Bool
	broken.Store(true)
	r := reactor.Reactor{Name: "clitest", Stream: "RTEST", Subjects: []string{"rtest.in.>"},
		Policy: reactor.Policy{MinBackoff: time.Millisecond},
		Handler: func(ctx context.Context, ev reactor.Event, fx *reactor.Effects) error {
			if broken.Load() {
				return reactor.Permanent(errTestBroken)
			}
			_, err := fx.Append(ctx, "rtest.out", eventstore.NoExpectation, "test.out.v1", map[string]int{"n": 1})
			return err
		}}
	reg := reactor.NewRegistry()
	require.NoError(t, reg.Add(r))

	pool, err := pgxpool.New(ctx, c.vars["DATABASE_URL"])
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	rt, err := reactor.NewRuntime(c.store, pool, reg.All(), reactor.Config{})
	require.NoError(t, err)
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- rt.Run(rctx) }()
	t.Cleanup(func() { cancel(); <-done })

	var seqs []uint64
	for i := range 2 {
		env, err := eventstore.NewEnvelope("test.in.v1", map[string]int{"i": i})
		require.NoError(t, err)
		ack, err := c.store.Append(ctx, "rtest.in."+strconv.Itoa(i), eventstore.NoExpectation, env)
		require.NoError(t, err)
		seqs = append(seqs, ack.Seq)
	}
	var parked struct {
		Parked []reactor.Parked `json:"parked"`
	}
	require.Eventually(t, func() bool {
		require.NoError(t, json.Unmarshal([]byte(c.reactors(t, reg, "parked", "clitest", "--json")), &parked))
		return len(parked.Parked) == 2
	}, 20*time.Second, 20*time.Millisecond)
	require.Contains(t, c.reactors(t, reg, "parked", "clitest"), errTestBroken.Error())

	var list struct {
		Reactors []reactorStatus `json:"reactors"`
	}
	require.NoError(t, json.Unmarshal([]byte(c.reactors(t, reg, "list", "--json")), &list))
	require.Len(t, list.Reactors, 1)
	require.Equal(t, int64(2), list.Reactors[0].Parked)
	require.Equal(t, "react_clitest", list.Reactors[0].Consumer)
	require.Contains(t, c.mustRun(t, "consumers", "--json", "--stream", "RTEST"), `"reactor":"clitest"`)

	out := c.reactors(t, reg, "retry", "clitest", "--skip", strconv.FormatUint(seqs[0], 10), "--by", "bob", "--reason", "bad data")
	require.Contains(t, out, "skipped #"+strconv.FormatUint(seqs[0], 10))
	var by, reason string
	require.NoError(t, pool.QueryRow(ctx, `SELECT skipped_by, reason FROM reactor_skipped WHERE reactor = 'clitest'`).Scan(&by, &reason))
	require.Equal(t, "bob", by)
	require.Equal(t, "bad data", reason)

	broken.Store(false)
	out = c.reactors(t, reg, "retry", "clitest")
	require.Contains(t, out, "retried 1 parked: 1 handled, 0 still parked")
	require.NoError(t, json.Unmarshal([]byte(c.reactors(t, reg, "parked", "clitest", "--json")), &parked))
	require.Empty(t, parked.Parked)
	evs, _, err := c.store.Load(ctx, "RTEST", "rtest.out")
	require.NoError(t, err)
	require.Len(t, evs, 1)
}

var errTestBroken = errors.New("test reactor is broken")
