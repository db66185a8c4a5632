package saga_test

import (
	"errors"
	"fmt"
	json "github.com/go-json-experiment/json/v1"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/eventline/eventline/domain/saga"
)

// TestRandomHistories drives many sagas through seeded random sequences of
// replies (success, transient, permanent; redelivered), timers (late,
// repeated, stale) and operator commands, and checks what must hold for
// every history.
func TestRandomHistories(t *testing.T) {
	seen := map[saga.Status]int{}
	for seed := uint64(1); seed <= 400; seed++ {
		r := simulate(t, seed)
		checkHistory(t, seed, r)
		seen[r.s.Status]++
	}
	t.Logf("final statuses over 400 seeds: %v", seen)
	for _, st := range []saga.Status{saga.StatusCompleted, saga.StatusCompensated, saga.StatusNeedsAttention, saga.StatusFailed} {
		require.Positive(t, seen[st], "the generator reaches %s", st)
	}
}

// simulate runs one saga until it is terminal and no operator acts on it
// any more.
func simulate(t *testing.T, seed uint64) *run {
	t.Helper()
	rng := rand.New(rand.NewPCG(seed, 0x5a6a))
	r := newRun(t)
	var cmds []saga.Command
	var timers []saga.Timer
	add := func(d saga.Decision) {
		cmds, timers = append(cmds, d.Commands...), append(timers, d.Timers...)
	}
	add(saga.Decision{Commands: r.cmds, Timers: r.timers})
	retries := 0
	for range 5000 {
		if r.s.Status.Terminal() {
			if (r.s.Status == saga.StatusNeedsAttention || r.s.Status == saga.StatusFailed) && retries < 2 && rng.IntN(2) == 0 {
				retries++
				add(r.do(saga.Retry{By: "ops", Now: r.now}))
				continue
			}
			return r
		}
		r.jitter = rng.Float64()
		if rng.IntN(60) == 0 {
			d, err := r.try(saga.Abort{Now: r.now})
			if err != nil {
				require.True(t, errors.Is(err, saga.ErrAbortRefused) || errors.Is(err, saga.ErrNotRunning), "seed %d: %v", seed, err)
			}
			add(d)
			continue
		}
		n := len(cmds) + len(timers)
		require.Positive(t, n, "seed %d: a %s saga with nothing pending is stuck", seed, r.s.Status)
		k := rng.IntN(n)
		if k < len(cmds) {
			c := cmds[k]
			reply := saga.Reply{Step: c.Step, Attempt: c.Attempt, Compensation: c.Compensation, Now: r.now, Jitter: r.jitter}
			transient, permanent := 15, 10 // percent, of an action's replies
			if c.Compensation {
				transient, permanent = 20, 2
			}
			switch p := rng.IntN(100); {
			case p < transient:
				reply.Failure, reply.Error = saga.Transient, "flaky"
			case p < transient+permanent:
				reply.Failure, reply.Error = saga.Permanent, "no"
			default:
				reply.Output = json.RawMessage(`{"n":1}`)
			}
			add(r.do(reply))
			if rng.IntN(100) < 85 { // else it is redelivered later
				cmds = append(cmds[:k], cmds[k+1:]...)
			}
			continue
		}
		k -= len(cmds)
		tm := timers[k]
		if tm.At.After(r.now) {
			r.now = tm.At
		}
		add(r.do(saga.Fire{Timer: tm, Now: r.now, Jitter: r.jitter}))
		if rng.IntN(100) < 85 { // else it fires again later
			timers = append(timers[:k], timers[k+1:]...)
		}
	}
	t.Fatalf("seed %d: no terminal status after 5000 inputs (%s)", seed, r.s.Status)
	return nil
}

// checkHistory checks what must hold for every saga history.
func checkHistory(t *testing.T, seed uint64, r *run) {
	t.Helper()
	def := r.s.Definition
	index := func(step string) int { return r.s.StepIndex(step) }
	pivot := -1
	for i, st := range def.Steps {
		if st.Kind == saga.Pivot {
			pivot = i
		}
	}

	require.True(t, r.s.Status.Terminal(), "seed %d", seed)

	// One command per key and attempt.
	sent := map[string]bool{}
	for _, c := range r.cmds {
		id := fmt.Sprintf("%s#%d", c.Key, c.Attempt)
		require.False(t, sent[id], "seed %d: %s attempt %d sent twice", seed, c.Key, c.Attempt)
		sent[id] = true
	}

	completed, timedOut := map[string]int{}, map[string]bool{}
	var compOrder []int
	compensating, pivotDone := false, false
	lastAttempt := map[string]int{}
	for _, e := range r.log {
		switch d := e.Data.(type) {
		case *saga.StepStarted:
			require.False(t, compensating, "seed %d: step %s started after compensation began", seed, d.Step)
			require.Greater(t, d.Attempt, lastAttempt[d.Step], "seed %d: attempts of %s increase", seed, d.Step)
			lastAttempt[d.Step] = d.Attempt
		case *saga.StepCompleted:
			completed[d.Step]++
			if index(d.Step) == pivot {
				pivotDone = true
			}
		case *saga.StepTimedOut:
			timedOut[d.Step] = true
		case *saga.CompensationStarted:
			require.False(t, pivotDone, "seed %d: compensation after the pivot succeeded", seed)
			compensating = true
			i := index(d.Step)
			if len(compOrder) == 0 || compOrder[len(compOrder)-1] != i {
				if len(compOrder) > 0 {
					require.Less(t, i, compOrder[len(compOrder)-1], "seed %d: compensations run in reverse order", seed)
				}
				compOrder = append(compOrder, i)
			}
			st := r.s.Steps[i]
			require.True(t, completed[d.Step] == 1 || st.Uncertain,
				"seed %d: %s compensated though it neither completed nor has an unknown outcome", seed, d.Step)
			require.True(t, completed[d.Step] == 1 || timedOut[d.Step] || r.s.Aborted, "seed %d: %s uncertain without cause", seed, d.Step)
			require.NotEmpty(t, def.Steps[i].Compensation)
		}
	}
	for step, n := range completed {
		require.Equal(t, 1, n, "seed %d: %s completed once", seed, step)
	}

	switch r.s.Status {
	case saga.StatusCompleted:
		require.Len(t, completed, len(def.Steps), "seed %d", seed)
		require.Empty(t, compOrder, "seed %d", seed)
	case saga.StatusCompensated:
		for i, st := range r.s.Steps {
			if def.Steps[i].Compensation != "" && (st.Status == saga.StepStatusCompleted || st.Uncertain) &&
				st.Compensation != saga.CompDone {
				t.Fatalf("seed %d: compensated saga left %s (%s) undone", seed, st.Name, st.Status)
			}
		}
		require.False(t, pivotDone, "seed %d", seed)
	case saga.StatusNeedsAttention:
		require.Empty(t, compOrder, "seed %d: needs_attention never compensates", seed)
		require.GreaterOrEqual(t, r.s.Current, pivot, "seed %d", seed)
	case saga.StatusFailed:
		require.Equal(t, saga.CompFailed, r.s.Steps[r.s.Current].Compensation, "seed %d", seed)
	}
}
