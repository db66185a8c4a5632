package opsdash

import (
	"context"
	"sync"
	"time"

	"golang.org/x/sync/singleflight"

	"github.com/eventline/eventline/eventstore/partitions"
	"github.com/eventline/eventline/platform/opsapi"
	"github.com/eventline/eventline/projections"
)

// snapshotTTL is how long one reading of JetStream and PostgreSQL serves
// every fragment and card that asks: the page's three fragments, the
// overview's card and every open tab share it, so that n viewers cost
// NATS one reading per TTL, not n × 4. Shorter than the 2 s poll.
const snapshotTTL = 500 * time.Millisecond

// snapshot is one reading of the streams, consumers and projections; each
// part has its own error, so that one failing part leaves the others shown.
type snapshot struct {
	at             time.Time
	streams        []opsapi.StreamView
	streamsErr     error
	consumers      []opsapi.ConsumerView
	consumersErr   error
	projections    []projections.Status
	projectionsErr error
	partitions     []partitions.View
	partitionsErr  error
}

// snapshots reads and shares snapshots.
type snapshots struct {
	in    *opsapi.Inspector
	group singleflight.Group
	mu    sync.Mutex
	last  *snapshot
}

// get returns a snapshot younger than snapshotTTL, reading one (a single
// reading for every concurrent caller) when there is none. The reading is
// bounded by fragmentTimeout and does not end with the first caller's
// request; ctx bounds this caller's wait.
func (s *snapshots) get(ctx context.Context) (*snapshot, error) {
	s.mu.Lock()
	last := s.last
	s.mu.Unlock()
	if last != nil && time.Since(last.at) < snapshotTTL {
		return last, nil
	}
	ch := s.group.DoChan("snapshot", func() (any, error) {
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), fragmentTimeout)
		defer cancel()
		snap := s.read(rctx)
		s.mu.Lock()
		s.last = snap
		s.mu.Unlock()
		return snap, nil
	})
	select {
	case res := <-ch:
		return res.Val.(*snapshot), nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// read reads the three parts at the same time.
func (s *snapshots) read(ctx context.Context) *snapshot {
	snap := &snapshot{}
	var wg sync.WaitGroup
	wg.Go(func() { snap.streams, snap.streamsErr = s.in.Streams(ctx) })
	wg.Go(func() { snap.consumers, snap.consumersErr = s.in.Consumers(ctx, "") })
	wg.Go(func() { snap.projections, snap.projectionsErr = s.in.Projections(ctx) })
	wg.Go(func() { snap.partitions, snap.partitionsErr = s.in.Partitions(ctx) })
	wg.Wait()
	snap.at = time.Now()
	return snap
}
