package partitions_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/eventline/eventline/eventstore/partitions"
	"github.com/eventline/eventline/internal/testenv"
)

const count = 8

// process is one Owner on a connection of its own, as a process would be.
type process struct {
	id     string
	nc     *nats.Conn
	owner  *partitions.Owner
	cancel context.CancelFunc
	done   chan struct{}

	mu     sync.Mutex
	gained []int
	lost   []int
	notes  []string
}

func start(t *testing.T, url, id string) *process {
	t.Helper()
	nc, err := nats.Connect(url, nats.Name(id))
	require.NoError(t, err)
	js, err := jetstream.New(nc)
	require.NoError(t, err)
	p := &process{id: id, nc: nc, done: make(chan struct{})}
	p.owner, err = partitions.New(context.Background(), js, partitions.Config{
		Group: "test", Count: count, ProcessID: id, Replicas: 1,
		Tick: 100 * time.Millisecond, PinnedTTL: time.Second,
		Gained: func(_ context.Context, parts []int) {
			p.mu.Lock()
			p.gained = append(p.gained, parts...)
			p.mu.Unlock()
		},
		Lost: func(parts []int) { p.mu.Lock(); p.lost = append(p.lost, parts...); p.mu.Unlock() },
		Note: func(_ int, key string, _ []byte) { p.mu.Lock(); p.notes = append(p.notes, key); p.mu.Unlock() },
	})
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	p.cancel = cancel
	go func() { defer close(p.done); _ = p.owner.Run(ctx) }()
	t.Cleanup(func() { p.stop(); nc.Close() })
	return p
}

// lostSoFar returns the partitions the process was told it lost so far.
// No assertion may hold p.mu: a failed one would leave it locked, and the
// owner's Lost, which stop waits for, would never return.
func (p *process) lostSoFar() []int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.lost)
}

// stop stops the process as a clean shutdown does.
func (p *process) stop() {
	p.cancel()
	<-p.done
}

// kill cuts the process off as kill -9 would: its connection goes first,
// so it unpins nothing and withdraws nothing.
func (p *process) kill() {
	p.nc.Close()
	p.stop()
}

// settled waits until every partition is owned by exactly one of procs,
// each owning between lo and hi, and returns the owner of each partition.
func settled(t *testing.T, procs []*process, lo, hi int, within time.Duration) map[int]string {
	t.Helper()
	var owners map[int]string
	var last string
	require.Eventually(t, func() bool {
		owners = map[int]string{}
		ok := true
		last = ""
		for _, p := range procs {
			owned := p.owner.Owned()
			last += fmt.Sprintf("%s:%v ", p.id, owned)
			if len(owned) < lo || len(owned) > hi {
				ok = false
			}
			for _, part := range owned {
				if _, dup := owners[part]; dup {
					ok = false
				}
				owners[part] = p.id
			}
		}
		return ok && len(owners) == count
	}, within, 20*time.Millisecond, "ownership did not settle: %s", func() string { return last }())
	return owners
}

func TestEachPartitionHasOneOwnerAndTheyShare(t *testing.T) {
	url := testenv.NATS(t).ClientURL()
	procs := []*process{start(t, url, "a"), start(t, url, "b"), start(t, url, "c")}
	owners := settled(t, procs, 2, 3, 15*time.Second)
	require.Len(t, owners, count)

	// The operator's view names the same owners.
	nc, err := nats.Connect(url)
	require.NoError(t, err)
	defer nc.Close()
	js, err := jetstream.New(nc)
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		v, err := partitions.Inspect(context.Background(), js, "test")
		if err != nil || len(v.Partition) != count || len(v.Members) != 3 {
			return false
		}
		for _, p := range v.Partition {
			if p.Owner != owners[p.Partition] {
				return false
			}
		}
		return true
	}, 5*time.Second, 50*time.Millisecond)
}

func TestAKilledOwnersPartitionsAreTakenOverWithinSeconds(t *testing.T) {
	url := testenv.NATS(t).ClientURL()
	a, b := start(t, url, "a"), start(t, url, "b")
	owners := settled(t, []*process{a, b}, 4, 4, 15*time.Second)
	var ofB []int
	for part, id := range owners {
		if id == "b" {
			ofB = append(ofB, part)
		}
	}
	killed := time.Now()
	b.kill()
	settled(t, []*process{a}, count, count, 10*time.Second)
	t.Logf("takeover after the owner's connection died: %v (pinned TTL 1s, tick 100ms)", time.Since(killed).Round(time.Millisecond))
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, part := range ofB {
		require.Contains(t, a.gained, part, "Gained names every partition taken over")
	}
}

func TestAProcessThatJoinsGetsItsShareAndAStoppedOneHandsOver(t *testing.T) {
	url := testenv.NATS(t).ClientURL()
	a := start(t, url, "a")
	settled(t, []*process{a}, count, count, 10*time.Second)
	b := start(t, url, "b")
	owners := settled(t, []*process{a, b}, 4, 4, 15*time.Second)
	// a released each partition the newcomer holds now (on a loaded
	// machine a partition may also have gone back and forth on the way,
	// so a may have released more than four).
	lost := a.lostSoFar()
	for part, id := range owners {
		if id == "b" {
			require.Contains(t, lost, part, "a released partition %d to the newcomer", part)
		}
	}

	// A clean stop unpins: b is pinned at its next tick, well before the
	// pinned TTL would have handed the partitions on.
	a.stop()
	settled(t, []*process{b}, count, count, 10*time.Second)
}

func TestNotesReachTheOwnerOfTheKeysPartition(t *testing.T) {
	url := testenv.NATS(t).ClientURL()
	a, b := start(t, url, "a"), start(t, url, "b")
	owners := settled(t, []*process{a, b}, 4, 4, 15*time.Second)
	moves := func() int {
		n := 0
		for _, p := range []*process{a, b} {
			p.mu.Lock()
			n += len(p.lost)
			p.mu.Unlock()
		}
		return n
	}
	movedBefore := moves()
	nc, err := nats.Connect(url)
	require.NoError(t, err)
	defer nc.Close()
	js, err := jetstream.New(nc)
	require.NoError(t, err)
	r, err := partitions.NewRouter(context.Background(), js, "test", count, 1)
	require.NoError(t, err)
	keys := []string{"saga-1", "saga-2", "saga-3", "saga-4", "saga-5", "saga-6"}
	for _, k := range keys {
		require.NoError(t, r.Notify(context.Background(), k, []byte("drive")))
	}
	// Each note reaches one process, once: the owner of its partition
	// (ownership can move on a loaded machine, so the owner at delivery
	// is checked when it has not).
	require.Eventually(t, func() bool {
		var got []string
		for _, p := range []*process{a, b} {
			p.mu.Lock()
			got = append(got, p.notes...)
			p.mu.Unlock()
		}
		slices.Sort(got)
		return slices.Equal(got, keys)
	}, 5*time.Second, 20*time.Millisecond, "every note delivered once")
	if moves() == movedBefore { // nothing moved: each went to its partition's owner
		for _, p := range []*process{a, b} {
			for _, k := range p.notes {
				require.Equal(t, p.id, owners[r.Of(k)], "note %s", k)
			}
		}
	}
}
