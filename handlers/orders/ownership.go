package orders

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/eventline/eventline/eventstore"
	"github.com/eventline/eventline/eventstore/partitions"
)

// PartitionGroup is the partitions group of sagas (eventstore/partitions):
// each saga belongs to partition partitions.Of(id, count), and the owner
// of that partition drives it.
const PartitionGroup = "sagas"

// DefaultPartitions is the number of saga partitions when not configured.
const DefaultPartitions = 16

// ownership is what a Manager knows of the partitions of sagas: which
// ones this process owns (an Owner, on a process with the saga role) and
// how to reach the owner of the others (a Router). Both are set once the
// event store answered at start; until then this process owns nothing and
// reaches nobody, and what it decides goes to the reactors (ORDERS_CMD).
// A Manager with no ownership at all (SetPartitions never called: one
// process, tests) owns every saga.
type ownership struct {
	mu     sync.RWMutex
	set    bool
	owner  *partitions.Owner
	router *partitions.Router
}

// SetPartitions makes the manager drive only the sagas of the partitions
// owner owns (nil: none yet) and route the others' effects through router
// to their owner (nil: to the reactors). Call it once before serving, then
// as the owner and router become available.
func (m *Manager) SetPartitions(owner *partitions.Owner, router *partitions.Router) {
	m.own.mu.Lock()
	defer m.own.mu.Unlock()
	m.own.set, m.own.owner, m.own.router = true, owner, router
	if owner != nil {
		m.own.router = owner.Router
	}
}

// ownsSaga reports whether this process drives saga id: it owns the
// saga's partition (or the manager is not partitioned).
func (m *Manager) ownsSaga(id string) bool {
	m.own.mu.RLock()
	defer m.own.mu.RUnlock()
	if !m.own.set {
		return true
	}
	return m.own.owner != nil && m.own.owner.OwnsKey(id)
}

// maxIDTries bounds the ids NewSagaID draws looking for an owned
// partition: with a fair share of 1/n of the partitions, the chance that
// 64 draws all miss is (1-1/n)^64, about 10^-8 for n = 3.
const maxIDTries = 64

// NewSagaID returns a fresh saga id (a UUIDv7). When this process owns
// some partitions, the id is one of them, so that the saga is driven where
// it was started: no note to another process, no read of the saga there.
func (m *Manager) NewSagaID() string {
	id := uuid.Must(uuid.NewV7()).String()
	m.own.mu.RLock()
	owner := m.own.owner
	m.own.mu.RUnlock()
	if owner == nil || len(owner.Owned()) == 0 {
		return id
	}
	for range maxIDTries {
		if owner.OwnsKey(id) {
			return id
		}
		id = uuid.Must(uuid.NewV7()).String()
	}
	return id
}

// errNoRoute reports that the owners of sagas cannot be reached yet.
var errNoRoute = errors.New("no route to the owners of sagas yet")

// route tells the owner of saga id's partition to drive it: a note, which
// the owner turns into a Reissue of what the saga waits on, read from the
// log. The decision is already stored; the note only saves the owner the
// wait for the next takeover or sweep.
func (m *Manager) route(ctx context.Context, id string) error {
	m.own.mu.RLock()
	r := m.own.router
	m.own.mu.RUnlock()
	if r == nil {
		return errNoRoute
	}
	return r.Notify(ctx, id, nil)
}

// maxNoted bounds the notes waiting for a nudge worker; beyond it a note
// is dropped (counted): the saga is still taken on by the next takeover of
// its partition or the sweep.
const maxNoted = 8192

// noteTryTimeout bounds one try to drive a saga noted to this owner.
const noteTryTimeout = 5 * time.Second

// nudgeWorkers is how many notes are turned into drives at once.
const nudgeWorkers = 8

// Noted is partitions.Config.Note for sagas: saga key must be driven here.
func (m *Manager) Noted(_ int, key string, _ []byte) {
	m.nudgeOnce.Do(func() {
		m.nudges = make(chan string, maxNoted)
		for range nudgeWorkers {
			if !m.goBackground(m.nudgeLoop) {
				return
			}
		}
	})
	select {
	case m.nudges <- key:
	default:
		m.metrics.notesDropped.Inc()
	}
}

// nudgeLoop drives the sagas noted, until the manager closes.
func (m *Manager) nudgeLoop() {
	for {
		select {
		case <-m.base.Done():
			return
		case id := <-m.nudges:
			if !m.ownsSaga(id) || m.local.noteLater(id) {
				continue // it moved on, or a driver here has it (noted again when it stops)
			}
			// The note may be all this owner hears of the saga before the
			// sweep: while the log is unavailable (a NATS node died, its
			// streams elect leaders) it is tried again. Each try has a
			// bound of its own: a request sent as the connection came back
			// may never be answered.
			ctx, cancel := context.WithTimeout(m.base, 30*time.Second)
			err := m.retryUnavailable(ctx, func() error {
				tctx, cancel := context.WithTimeout(ctx, noteTryTimeout)
				defer cancel()
				_, err := m.reissueAll(tctx, []string{id}, 0)
				if err != nil && tctx.Err() != nil && ctx.Err() == nil {
					return fmt.Errorf("%w: %w", eventstore.ErrUnavailable, err)
				}
				return err
			})
			if err != nil && m.base.Err() == nil {
				m.log.Warn("driving a saga noted to this owner failed; its partition's next takeover or the sweep resumes it", "saga", id, "err", err)
			}
			cancel()
		}
	}
}

// ResumePartitions re-issues what every running saga of parts, partitions
// just taken over, waits on: the sagas their last owner drove in memory
// resume here from the log. It retries until it succeeds or ctx ends (the
// read model may be down), and logs how long the takeover took.
func (m *Manager) ResumePartitions(ctx context.Context, pool *pgxpool.Pool, parts []int) {
	gained := time.Now()
	in := make(map[int]bool, len(parts))
	for _, p := range parts {
		in[p] = true
	}
	m.own.mu.RLock()
	r := m.own.router
	m.own.mu.RUnlock()
	if r == nil {
		return
	}
	mine := func(id string) bool { return in[r.Of(id)] && m.ownsSaga(id) }
	resume := func() (int, error) { return m.resumeWhere(ctx, pool, mine) }
	if pool == nil { // no read model here: every saga the stream holds
		resume = func() (int, error) { return m.resumeSubjects(ctx, mine) }
	}
	resumed := 0
	for delay := 200 * time.Millisecond; ctx.Err() == nil; delay = min(2*delay, 10*time.Second) {
		n, err := resume()
		resumed += n
		if err == nil {
			m.log.Info("partitions taken over: their running sagas resumed", "partitions", parts, "sagas", resumed,
				"took", time.Since(gained).Round(time.Millisecond).String())
			m.metrics.takeovers.Add(float64(len(parts)))
			return
		}
		if re := (*reissueError)(nil); errors.As(err, &re) {
			// The others are resumed: only the sagas that failed are
			// tried again (those still of a partition this process owns).
			failed := slices.DeleteFunc(slices.Clone(re.ids), func(id string) bool { return !m.ownsSaga(id) })
			resume = func() (int, error) { return m.reissueAll(ctx, failed, 0) }
		}
		m.log.Warn("resuming the sagas of partitions taken over failed; retrying", "partitions", parts, "err", err, "in", delay.String())
		select {
		case <-ctx.Done():
		case <-time.After(delay):
		}
	}
}

// goBackground runs f on a goroutine the manager's Close waits for,
// unless the manager is closing (false).
func (m *Manager) goBackground(f func()) bool {
	m.closeMu.Lock()
	defer m.closeMu.Unlock()
	if m.closed {
		return false
	}
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		f()
	}()
	return true
}

// partitionOf names saga id's partition in logs ("-" when unpartitioned).
func (m *Manager) partitionOf(id string) string {
	m.own.mu.RLock()
	defer m.own.mu.RUnlock()
	if m.own.router == nil {
		return "-"
	}
	return fmt.Sprint(m.own.router.Of(id))
}
