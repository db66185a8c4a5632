package eventstore

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/synadia-io/orbit.go/jetstreamext"
	"golang.org/x/sync/errgroup"
)

// GroupCommit configures group commit (Options.GroupCommit): single
// appends that arrive together on one stream, from any aggregates, are
// stored as one atomic batch (ADR-50), so that they share its disk syncs.
//
// Why: with the server's `sync: always` a plain publish is one write and
// one fsync under the stream's locks, with nothing shared between
// publishes; an atomic batch on a one-replica stream is stored with about
// four fsyncs whatever its size (nats-server 2.15.2, stream.go
// processJetStreamBatchMsg: the commit turns the file store's per-write
// sync into one flush at the end, PR #8539). TestGroupCommitSharesDiskSyncs
// shows a regression of that.
//
// Each append keeps its own subject, message id and expected subject
// sequence, and its caller is answered only once the group is stored. A
// group the server rejects (all or nothing, without saying which append
// was at fault) is sorted out: on a conflict the appends whose expected
// sequence is no longer their subject's last are sent alone as plain
// publishes (so each gets exactly a plain append's answer) and the others
// go again together; any other rejection (a duplicate message id) sends
// each append alone. Which appends may share a group: see takeLocked.
//
// The groups live in this process's memory only while their appends'
// callers wait: nothing is acknowledged before it is stored, so a process
// that dies loses only unacknowledged appends, which its callers (or
// theirs) retry as they would a failed publish.
type GroupCommit struct {
	// Enabled turns group commit on for the streams EnsureStreams creates
	// with StreamSpec.AllowAtomicPublish.
	Enabled bool
	// MaxInFlight bounds the groups in flight per stream at once (1 when
	// 0). An append that finds a free slot is sent at once, alone; appends
	// that arrive while every slot is taken queue and go together in the
	// next group. Fewer slots mean bigger groups, and so fewer of the
	// batches whose staging costs the server most of its CPU (MinBatch):
	// with one slot instead of two the saga bench under `sync: always` ran
	// 672 and 756 sagas/s against 631 and 645, alternated, and serve spent
	// 1.70–1.86 ms of CPU per saga instead of 1.97–2.03 (issue 27).
	MaxInFlight int
	// MinBatch is the smallest group sent as an atomic batch (16 when 0):
	// a smaller one is sent as that many plain publishes, pipelined. A
	// batch's cost is mostly fixed: the server stages it in a file store of
	// its own, made, synced and removed per batch (about 10 ms on this
	// machine's disk, against 0.5 ms for an fsync'd plain publish).
	MinBatch int
	// MaxQueued bounds the appends queued or in flight per stream (16,384
	// when 0); past it an append waits for room, within its context.
	MaxQueued int
	// Timeout bounds one group's publish (10 s when 0).
	Timeout time.Duration
}

func (g *GroupCommit) defaults() {
	if g.MaxInFlight <= 0 {
		g.MaxInFlight = 1
	}
	if g.MinBatch <= 0 {
		g.MinBatch = 16
	}
	if g.MaxQueued <= 0 {
		g.MaxQueued = 16384
	}
	if g.Timeout <= 0 {
		g.Timeout = 10 * time.Second
	}
}

// maxGroupBytes bounds the payload of one group: the server stages an
// atomic batch whole before it commits it.
const maxGroupBytes = 8 << 20

// committer groups the single appends to one stream.
type committer struct {
	s       *Store
	stream  string
	filters []string
	cfg     GroupCommit

	mu       sync.Mutex
	queue    []*groupItem
	inFlight int
	// busy counts the appends in flight per subject: a later append to a
	// subject waits for them, so that each subject keeps its order (two
	// groups in flight may be stored in either order).
	busy map[string]int
	// room bounds the appends queued or in flight (cfg.MaxQueued).
	room chan struct{}

	stats GroupStats
}

// GroupStats counts what a stream's group commit did.
type GroupStats struct {
	// Appends is how many appends went through group commit.
	Appends atomic.Int64
	// Batches is how many atomic batches were stored, and BatchedAppends
	// how many appends they held.
	Batches, BatchedAppends atomic.Int64
	// Singles is how many appends were sent as plain publishes.
	Singles atomic.Int64
	// Rejected is how many atomic batches the server refused (a conflict,
	// a duplicate), and Conflicts how many appends were then found with a
	// stale expected sequence and sent alone.
	Rejected, Conflicts atomic.Int64
}

// groupItem is one append waiting for its group.
type groupItem struct {
	subject  string
	msg      *nats.Msg
	expected int64
	size     int
	// abandoned: its caller stopped waiting before the item was sent; it
	// is left out of the group.
	abandoned atomic.Bool
	done      chan groupResult
}

type groupResult struct {
	ack Ack
	err error
}

// enableGroupCommit routes the single appends to spec's subjects through
// a committer (EnsureStreams calls it).
func (s *Store) enableGroupCommit(spec StreamSpec) {
	if !s.group.Enabled || !spec.AllowAtomicPublish {
		return
	}
	s.groupMu.Lock()
	defer s.groupMu.Unlock()
	for _, c := range s.committers {
		if c.stream == spec.Name {
			c.filters = spec.Subjects
			return
		}
	}
	s.committers = append(s.committers, &committer{s: s, stream: spec.Name, filters: spec.Subjects, cfg: s.group,
		room: make(chan struct{}, s.group.MaxQueued)})
}

// committerFor returns the committer of subject's stream, nil when its
// appends are not grouped.
func (s *Store) committerFor(subject string) *committer {
	if !s.group.Enabled {
		return nil
	}
	s.groupMu.RLock()
	defer s.groupMu.RUnlock()
	for _, c := range s.committers {
		for _, f := range c.filters {
			if subjectMatches(f, subject) {
				return c
			}
		}
	}
	return nil
}

// GroupCommit reports whether this store groups appends
// (Options.GroupCommit.Enabled): it is set where every publish costs an
// fsync of its own (serve with the embedded server and sync always), so
// that fewer, fuller appends pay there.
func (s *Store) GroupCommit() bool { return s.group.Enabled }

// GroupStats returns the group commit counters of stream (nil when its
// appends are not grouped).
func (s *Store) GroupStats(stream string) *GroupStats {
	s.groupMu.RLock()
	defer s.groupMu.RUnlock()
	for _, c := range s.committers {
		if c.stream == stream {
			return &c.stats
		}
	}
	return nil
}

// GroupStatsAll returns the group commit counters of every stream whose
// appends are grouped, by stream name.
func (s *Store) GroupStatsAll() map[string]*GroupStats {
	s.groupMu.RLock()
	defer s.groupMu.RUnlock()
	out := make(map[string]*GroupStats, len(s.committers))
	for _, c := range s.committers {
		out[c.stream] = &c.stats
	}
	return out
}

// subjectMatches reports whether NATS subject filter (with * and >)
// matches subject.
func subjectMatches(filter, subject string) bool {
	for {
		ft, frest, fmore := strings.Cut(filter, ".")
		st, srest, smore := strings.Cut(subject, ".")
		switch {
		case ft == ">":
			return true
		case ft != "*" && ft != st:
			return false
		case fmore != smore:
			return false
		case !fmore:
			return true
		}
		filter, subject = frest, srest
	}
}

// submit queues m for the next group and returns the item to wait on.
func (c *committer) submit(ctx context.Context, subject string, m *nats.Msg, expected int64) (*groupItem, error) {
	select {
	case c.room <- struct{}{}:
	case <-ctx.Done():
		return nil, fmt.Errorf("append to %s: %w: %v", subject, ErrUnavailable, ctx.Err())
	}
	if expected != NoExpectation {
		m.Header.Set(jetstream.ExpectedLastSubjSeqHeader, strconv.FormatInt(expected, 10))
	}
	it := &groupItem{subject: subject, msg: m, expected: expected, size: len(m.Data) + len(m.Subject) + 256,
		done: make(chan groupResult, 1)}
	c.stats.Appends.Add(1)
	c.mu.Lock()
	c.queue = append(c.queue, it)
	if c.inFlight >= c.cfg.MaxInFlight {
		c.mu.Unlock()
		return it, nil
	}
	c.inFlight++
	group := c.takeLocked()
	c.mu.Unlock()
	go c.run(group)
	return it, nil
}

// wait waits for it's answer, or for ctx to end.
func (c *committer) wait(ctx context.Context, it *groupItem) (Ack, error) {
	select {
	case r := <-it.done:
		return r.ack, r.err
	case <-ctx.Done():
		it.abandoned.Store(true)
		return Ack{}, fmt.Errorf("append to %s: %w: %v", it.subject, ErrUnavailable, ctx.Err())
	}
}

// run stores group, then the groups queued meanwhile, until none is left.
func (c *committer) run(group []*groupItem) {
	for len(group) > 0 {
		c.store(group)
		c.mu.Lock()
		for _, it := range group {
			if c.busy[it.subject]--; c.busy[it.subject] <= 0 {
				delete(c.busy, it.subject)
			}
		}
		group = c.takeLocked()
		if len(group) == 0 {
			c.inFlight--
		}
		c.mu.Unlock()
	}
}

// takeLocked takes the next group off the queue, in order: at most
// MaxBatch appends and maxGroupBytes, and a subject appended with an
// expected sequence at most once, with no other append to it (the server
// checks an expectation against the stream before the batch), and no
// subject with an append in flight in another group. An append left out
// keeps its place, and so does every later one to its subject.
func (c *committer) takeLocked() []*groupItem {
	var group []*groupItem
	type use struct{ expect, plain bool }
	subjects := map[string]use{}
	blocked := map[string]bool{}
	rest := c.queue[:0]
	size := 0
	for _, it := range c.queue {
		if it.abandoned.Load() {
			<-c.room
			continue
		}
		u, seen := subjects[it.subject]
		fits := len(group) < MaxBatch && (len(group) == 0 || size+it.size <= maxGroupBytes) && !blocked[it.subject] &&
			c.busy[it.subject] == 0 && (!seen || (it.expected == NoExpectation && !u.expect))
		if !fits {
			blocked[it.subject] = true
			rest = append(rest, it)
			continue
		}
		if it.expected == NoExpectation {
			u.plain = true
		} else {
			u.expect = true
		}
		subjects[it.subject] = u
		group = append(group, it)
		size += it.size
	}
	clear(c.queue[len(rest):])
	c.queue = rest
	if c.busy == nil {
		c.busy = map[string]int{}
	}
	for _, it := range group {
		c.busy[it.subject]++
	}
	return group
}

// answer hands it its result and frees its place.
func (c *committer) answer(it *groupItem, ack Ack, err error) {
	it.done <- groupResult{ack: ack, err: err}
	<-c.room
}

// store stores group and answers each of its appends.
func (c *committer) store(group []*groupItem) {
	ctx, cancel := context.WithTimeout(context.Background(), c.cfg.Timeout)
	defer cancel()
	for len(group) >= c.cfg.MinBatch {
		rejected, err := c.storeBatch(ctx, group)
		if err == nil {
			return
		}
		if rejected == nil {
			// Not a rejection of the batch (the log unavailable): nothing may
			// be assumed stored, as for a plain publish.
			for _, it := range group {
				c.answer(it, Ack{}, classifyBatch(ctx, it.subject, err))
			}
			return
		}
		c.stats.Rejected.Add(1)
		if len(rejected) == 0 {
			// Rejected, and no expectation is found stale (a duplicate
			// message id, a message the stream refuses): plain publishes
			// give each append its own answer.
			break
		}
		// A conflict: the appends whose expectation is stale are sent
		// alone, as plain publishes, so that each gets exactly a plain
		// append's answer (ErrConflict, or a duplicate's ack when its
		// message id was stored already); the others go again together.
		var alone []*groupItem
		kept := make([]*groupItem, 0, len(group))
		for _, it := range group {
			if rejected[it] {
				alone = append(alone, it)
				continue
			}
			kept = append(kept, it)
		}
		c.stats.Conflicts.Add(int64(len(alone)))
		c.storeSingles(ctx, alone)
		group = kept
	}
	c.storeSingles(ctx, group)
}

// storeBatch stores group as one atomic batch and answers every append.
// When the server rejects the batch it answers none and returns the
// appends whose expected sequence is stale (empty when none is); a nil
// map with the error means the batch may not have reached the server.
func (c *committer) storeBatch(ctx context.Context, group []*groupItem) (map[*groupItem]bool, error) {
	msgs := make([]*nats.Msg, len(group))
	for i, it := range group {
		msgs[i] = it.msg
	}
	if !c.s.nc.IsConnected() {
		return nil, fmt.Errorf("%w: not connected", ErrUnavailable)
	}
	ack, err := c.s.publishBatch(ctx, msgs)
	if err == nil {
		c.stats.Batches.Add(1)
		c.stats.BatchedAppends.Add(int64(len(group)))
		first := ack.Sequence - uint64(len(group)) + 1
		for i, it := range group {
			c.answer(it, Ack{Seq: first + uint64(i)}, nil)
		}
		return nil, nil
	}
	var apiErr *jetstream.APIError
	if !errors.As(err, &apiErr) || apiErr.Code == 503 {
		return nil, err
	}
	switch apiErr.ErrorCode {
	case jetstream.JSErrCodeStreamWrongLastSequence, jetstream.JSErrCodeStreamWrongLastSequenceConstant:
		return c.stale(ctx, group), err
	}
	return map[*groupItem]bool{}, err
}

// stale returns the appends of group whose expected sequence is no longer
// their subject's last sequence. Sequences only grow: an expectation found
// stale after the batch's rejection was stale when it was checked, or
// would be at the next try.
func (c *committer) stale(ctx context.Context, group []*groupItem) map[*groupItem]bool {
	st, err := c.s.stream(ctx, c.stream)
	if err != nil {
		return map[*groupItem]bool{}
	}
	var mu sync.Mutex
	out := map[*groupItem]bool{}
	var g errgroup.Group
	g.SetLimit(16)
	for _, it := range group {
		if it.expected == NoExpectation {
			continue
		}
		g.Go(func() error {
			var last uint64
			m, err := st.GetLastMsgForSubject(ctx, it.subject)
			switch {
			case err == nil:
				last = m.Sequence
			case errors.Is(err, jetstream.ErrMsgNotFound):
			default:
				return nil // unknown: it goes again, and the server judges it
			}
			if last != uint64(it.expected) {
				mu.Lock()
				out[it] = true
				mu.Unlock()
			}
			return nil
		})
	}
	_ = g.Wait()
	return out
}

// storeSingles sends each append of group as a plain publish, all in
// flight at once, and answers each with its own result.
func (c *committer) storeSingles(ctx context.Context, group []*groupItem) {
	futures := make([]jetstream.PubAckFuture, len(group))
	for i, it := range group {
		for _, h := range []string{jetstreamext.BatchIDHeader, jetstreamext.BatchSeqHeader, jetstreamext.BatchCommitHeader} {
			it.msg.Header.Del(h)
		}
		f, err := c.s.js.PublishMsgAsync(it.msg, c.s.publishOpts...)
		if err != nil {
			c.answer(it, Ack{}, classifyPublish(ctx, it.subject, err))
			continue
		}
		futures[i] = f
	}
	c.stats.Singles.Add(int64(len(group)))
	for i, f := range futures {
		if f == nil {
			continue
		}
		it := group[i]
		select {
		case ack := <-f.Ok():
			c.answer(it, Ack{Seq: ack.Sequence, Duplicate: ack.Duplicate}, nil)
		case err := <-f.Err():
			c.answer(it, Ack{}, classifyPublish(ctx, it.subject, err))
		case <-ctx.Done():
			c.answer(it, Ack{}, fmt.Errorf("append to %s: %w: %v", it.subject, ErrUnavailable, ctx.Err()))
		}
	}
}
