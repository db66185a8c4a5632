package partitions

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// Defaults of Config.
const (
	// DefaultTick is how often ticks and heartbeats are published, and
	// how long one pull waits.
	DefaultTick = 500 * time.Millisecond
	// DefaultPinnedTTL is how long the server keeps a pin after its holder
	// stopped pulling: with DefaultTick, an owner killed is replaced about
	// 3.5 s later.
	DefaultPinnedTTL = 3 * time.Second
)

// Config configures an Owner.
type Config struct {
	// Group names the partitioned work ("sagas"); it names subjects and
	// consumers ([A-Za-z0-9_-]).
	Group string
	// Count is the number of partitions; every process of the group must
	// use the same.
	Count int
	// ProcessID names this process ([A-Za-z0-9_-]); Host, PID and Roles
	// are announced beside it.
	ProcessID string
	Host      string
	PID       int
	Roles     []string
	// Replicas is the replica count of the stream and the bucket.
	Replicas int
	// Tick, PinnedTTL and Lease (DefaultTick, DefaultPinnedTTL, and four
	// times PinnedTTL): a process that got no tick for Lease gives its
	// partition up. An owner learns that its pin went to another process
	// at its next pull (a 423), so the lease only matters while no pull
	// is answered at all — the partition's consumer electing a leader
	// after a NATS node died, or this process cut off from NATS — and it
	// outlasts an election, so that an owner keeps its partitions through
	// one instead of every process competing for them again.
	Tick, PinnedTTL, Lease time.Duration
	// Gained is called with the partitions this process just took over
	// (from one goroutine, one call at a time, calls coalesced); Lost
	// with those it just gave up (it must return quickly).
	Gained func(ctx context.Context, parts []int)
	Lost   func(parts []int)
	// Note is called with each note (Router.Notify) of a partition owned
	// here; it must return quickly.
	Note func(p int, key string, data []byte)
	// Log receives ownership changes (slog.Default when nil).
	Log *slog.Logger
}

// Owner takes part in a group's partitions: it owns some of them, as the
// pinned puller of their consumers, for as long as it runs.
type Owner struct {
	*Router
	cfg     Config
	log     *slog.Logger
	st      jetstream.Stream
	cons    []jetstream.Consumer
	kv      jetstream.KeyValue
	started time.Time
	// gained holds the partitions taken over that Gained has not been
	// told of yet (under mu); gainSignal wakes the dispatcher.
	gained     map[int]bool
	gainSignal chan struct{}

	mu          sync.Mutex
	parts       []partState
	members     map[string]seenMember // by process id, others only
	lastRelease time.Time
}

type partState struct {
	owned        bool
	pin          string
	since        time.Time // owned since
	lastTick     time.Time
	fetch        bool // pull on it: owned, or competing for it
	release      bool // give it up at the next pull
	orphanSince  time.Time
	publishTicks bool
}

type seenMember struct {
	m    Member
	seen time.Time // local time of its last heartbeat
}

// New sets up the stream, the consumers and the bucket of cfg's group and
// returns an owner that takes part once Run runs.
func New(ctx context.Context, js jetstream.JetStream, cfg Config) (*Owner, error) {
	cfg.Tick = cmp.Or(cfg.Tick, DefaultTick)
	cfg.PinnedTTL = cmp.Or(cfg.PinnedTTL, DefaultPinnedTTL)
	cfg.Lease = cmp.Or(cfg.Lease, 4*cfg.PinnedTTL)
	if cfg.ProcessID == "" || cfg.Group == "" {
		return nil, errors.New("partitions: a group and a process id are required")
	}
	r, err := NewRouter(ctx, js, cfg.Group, cfg.Count, cfg.Replicas)
	if err != nil {
		return nil, err
	}
	o := &Owner{Router: r, cfg: cfg, log: cmp.Or(cfg.Log, slog.Default()), gained: map[int]bool{}, gainSignal: make(chan struct{}, 1),
		parts: make([]partState, cfg.Count), members: map[string]seenMember{}}
	if o.st, err = r.stream(ctx, max(cfg.Replicas, 1)); err != nil {
		return nil, fmt.Errorf("partitions %s: %w", cfg.Group, err)
	}
	if o.cons, err = r.consumers(ctx, o.st, cfg.PinnedTTL); err != nil {
		return nil, fmt.Errorf("partitions %s: %w", cfg.Group, err)
	}
	if o.kv, err = membersBucket(ctx, js, max(cfg.Replicas, 1)); err != nil {
		return nil, fmt.Errorf("partitions %s: %w", cfg.Group, err)
	}
	return o, nil
}

// Owns reports whether this process owns partition p now: it holds p's
// pin and got a tick with it less than Lease ago.
func (o *Owner) Owns(p int) bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.parts[p].owned
}

// OwnsKey reports whether this process owns key's partition.
func (o *Owner) OwnsKey(key string) bool { return o.Owns(o.Of(key)) }

// Owned returns the partitions this process owns, in order.
func (o *Owner) Owned() []int {
	o.mu.Lock()
	defer o.mu.Unlock()
	var out []int
	for p, s := range o.parts {
		if s.owned {
			out = append(out, p)
		}
	}
	return out
}

// Run takes part until ctx ends, then gives up what it owns (unpinned, so
// that another process takes over at its next tick, not PinnedTTL later)
// and withdraws its announcement.
func (o *Owner) Run(ctx context.Context) error {
	o.started = time.Now()
	var wg sync.WaitGroup
	run := func(f func()) { wg.Add(1); go func() { defer wg.Done(); f() }() }
	run(func() { o.watchMembers(ctx) })
	run(func() { o.dispatchGains(ctx) })
	for p := range o.cfg.Count {
		run(func() { o.pull(ctx, p) })
	}
	t := time.NewTicker(o.cfg.Tick)
	defer t.Stop()
	for ctx.Err() == nil {
		o.balance(time.Now())
		o.publish(ctx)
		select {
		case <-ctx.Done():
		case <-t.C:
		}
	}
	wg.Wait()
	o.leave()
	return nil
}

// leave unpins what this process owns and deletes its announcement.
func (o *Owner) leave() {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	owned := o.Owned()
	for _, p := range owned {
		if err := o.st.UnpinConsumer(ctx, o.consumerName(p), priorityGroup); err != nil {
			o.log.Debug("unpin on stop", "partition", p, "err", err)
		}
	}
	o.lose(owned, "stopping")
	if err := o.kv.Delete(ctx, o.memberKey()); err != nil {
		o.log.Debug("withdraw announcement", "err", err)
	}
}

// pull pulls partition p's messages while this process owns it or
// competes for it: a tick or a note received with a pin id means the
// server pinned this process.
func (o *Owner) pull(ctx context.Context, p int) {
	idle := func() {
		select {
		case <-ctx.Done():
		case <-time.After(o.cfg.Tick):
		}
	}
	for ctx.Err() == nil {
		o.mu.Lock()
		s := o.parts[p]
		o.mu.Unlock()
		if s.release {
			o.giveUp(ctx, p)
			continue
		}
		if !s.fetch {
			idle()
			continue
		}
		batch, err := o.cons[p].Fetch(256, jetstream.FetchMaxWait(o.cfg.Tick), jetstream.FetchPriorityGroup(priorityGroup))
		if err != nil {
			o.log.Debug("pull partition", "partition", p, "err", err)
			idle()
			continue
		}
		for msg := range batch.Messages() {
			pin := msg.Headers().Get("Nats-Pin-Id")
			if pin == "" || !o.ticked(p, pin) {
				continue
			}
			if key, ok := strings.CutPrefix(msg.Subject(), o.prefix(p)+".note."); ok && o.cfg.Note != nil {
				o.cfg.Note(p, key, msg.Data())
			}
		}
		if err := batch.Error(); errors.Is(err, jetstream.ErrPinIDMismatch) {
			o.lose([]int{p}, "its pin was handed to another process")
		} else if err != nil && !errors.Is(err, jetstream.ErrNoMessages) && !errors.Is(err, context.DeadlineExceeded) {
			o.log.Debug("pull partition", "partition", p, "err", err)
			idle()
		}
	}
}

// ticked records a message received on p with pin; it reports whether
// this process owns p (a gain is announced).
func (o *Owner) ticked(p int, pin string) bool {
	now := time.Now()
	o.mu.Lock()
	s := &o.parts[p]
	gained := !s.owned
	if gained {
		s.owned, s.since, s.orphanSince = true, now, time.Time{}
		o.gained[p] = true
	}
	s.pin, s.lastTick, s.fetch = pin, now, true
	o.mu.Unlock()
	if gained {
		o.log.Info("partition taken over", "group", o.cfg.Group, "partition", p)
		select { // never blocks: a pull loop must go on pulling
		case o.gainSignal <- struct{}{}:
		default:
		}
	}
	return true
}

// giveUp unpins p (a release to balance), so that a process that wants it
// is pinned at the next tick.
func (o *Owner) giveUp(ctx context.Context, p int) {
	o.mu.Lock()
	o.parts[p].release, o.parts[p].fetch = false, false
	o.mu.Unlock()
	uctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	if err := o.st.UnpinConsumer(uctx, o.consumerName(p), priorityGroup); err != nil {
		o.log.Warn("releasing a partition failed; it moves when its pin expires", "partition", p, "err", err)
	}
	o.lose([]int{p}, "released to balance the processes")
}

// lose marks parts as not owned here and tells Lost of those that were.
func (o *Owner) lose(parts []int, why string) {
	var lost []int
	o.mu.Lock()
	for _, p := range parts {
		s := &o.parts[p]
		if s.owned {
			lost = append(lost, p)
		}
		s.owned, s.pin = false, ""
	}
	o.mu.Unlock()
	if len(lost) == 0 {
		return
	}
	o.log.Info("partitions given up", "group", o.cfg.Group, "partitions", lost, "why", why)
	if o.cfg.Lost != nil {
		o.cfg.Lost(lost)
	}
}

// dispatchGains calls Gained with the partitions taken over, coalescing
// those that come together (or while Gained was busy), leaving out those
// given up again meanwhile.
func (o *Owner) dispatchGains(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-o.gainSignal:
		}
		var parts []int
		o.mu.Lock()
		for p := range o.gained {
			if o.parts[p].owned {
				parts = append(parts, p)
			}
		}
		clear(o.gained)
		o.mu.Unlock()
		if len(parts) > 0 && o.cfg.Gained != nil {
			slices.Sort(parts)
			o.cfg.Gained(ctx, parts)
		}
	}
}

// balance decides, from the announcements, which partitions to pull and
// which to release, and gives up those whose lease ran out.
func (o *Owner) balance(now time.Time) {
	var expired []int
	o.mu.Lock()
	live := 1
	ownedElsewhere := make([]bool, o.cfg.Count)
	for id, sm := range o.members {
		if now.Sub(sm.seen) > o.cfg.PinnedTTL {
			delete(o.members, id) // stopped announcing: what it owned is an orphan
			continue
		}
		live++
		for _, p := range sm.m.Owned {
			if p >= 0 && p < o.cfg.Count {
				ownedElsewhere[p] = true
			}
		}
	}
	fair := (o.cfg.Count + live - 1) / live
	mine := 0
	for p := range o.parts {
		s := &o.parts[p]
		if s.owned && now.Sub(s.lastTick) > o.cfg.Lease {
			expired = append(expired, p) // given up below, after the lock
		} else if s.owned {
			mine++
		}
	}
	for p := range o.parts {
		s := &o.parts[p]
		switch {
		case s.owned && !slices.Contains(expired, p):
			s.fetch = true
		case ownedElsewhere[p]:
			s.fetch, s.orphanSince = false, time.Time{}
		default:
			if s.orphanSince.IsZero() {
				s.orphanSince = now
			}
			// Under the fair share, or nobody took it for a while.
			s.fetch = mine < fair || now.Sub(s.orphanSince) > 3*o.cfg.PinnedTTL
		}
	}
	settle := 2 * o.cfg.PinnedTTL
	if mine > fair && now.Sub(o.lastRelease) > settle && now.Sub(o.started) > settle {
		o.lastRelease = now
		for p := len(o.parts) - 1; p >= 0 && mine > fair; p-- {
			if o.parts[p].owned && !o.parts[p].release {
				o.parts[p].release = true
				mine--
			}
		}
	}
	o.mu.Unlock()
	if len(expired) > 0 {
		o.lose(expired, "no tick within the lease")
	}
}

// publish publishes a tick on every partition pulled here, and this
// process's announcement.
func (o *Owner) publish(ctx context.Context) {
	n := time.Now().UnixNano() / int64(o.cfg.Tick)
	o.mu.Lock()
	var ticks []int
	for p, s := range o.parts {
		if s.fetch {
			ticks = append(ticks, p)
		}
	}
	o.mu.Unlock()
	for _, p := range ticks {
		// One tick per period however many processes publish it.
		_, err := o.js.PublishAsync(o.tickSubject(p), nil, jetstream.WithMsgID(fmt.Sprintf("%d.%d", p, n)))
		if err != nil {
			o.log.Debug("publish tick", "partition", p, "err", err)
			break
		}
	}
	o.announce(ctx)
}
