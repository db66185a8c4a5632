package natsserver

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/eventline/eventline/eventstore"
)

// DefaultMinFree is the space a DiskGuard keeps free on the log's filesystem:
// room for one largest message (24 MiB embedded) and more again for the server's
// own files (indexes, consumer state, the idempotency bucket).
const DefaultMinFree = 64 << 20

// measureEvery bounds how stale the free space an append is judged by may be.
// In between, the bytes admitted are subtracted from the last measure.
const measureEvery = 50 * time.Millisecond

// restartBackoff bounds how often a DiskGuard restarts the embedded JetStream.
const restartBackoff = 5 * time.Second

// DiskGuardConfig configures a DiskGuard.
type DiskGuardConfig struct {
	// Dir is a directory on the filesystem that holds the log's store.
	Dir string
	// MinFree is the space appends must leave free (DefaultMinFree when 0).
	MinFree int64
	// Interval is how often Run measures the free space (1s when 0).
	Interval time.Duration
	// Server, when set, is the embedded server whose store is in Dir. JetStream
	// keeps refusing writes to a stream once a write to it failed (a disk
	// filled by someone else), even after space is freed: the guard then
	// refuses appends at once instead of letting them wait for an ack that
	// never comes, and restarts the server's JetStream once space is back.
	Server *Server
	// Logger receives the guard's state changes.
	Logger *slog.Logger
}

// DiskGuard refuses appends with eventstore.ErrStorageFull before the filesystem
// holding the log fills up, so that a full disk is answered at once, and
// admits them again as soon as space is freed.
type DiskGuard struct {
	cfg     DiskGuardConfig
	restart *jetStreamRestarter // nil without an embedded server

	mu         sync.Mutex
	measuredAt time.Time
	free       int64 // at measuredAt, minus the bytes admitted since
	known      bool  // false where free space cannot be measured

	storeErr       atomic.Pointer[error] // the embedded server's write error
	full           atomic.Bool           // for logging the transitions
	measureFailing atomic.Bool           // for logging the transitions
	lastRestart    time.Time
}

// NewDiskGuard returns a guard over cfg.Dir's filesystem, measured once;
// call Run to keep it current and to recover the embedded server.
func NewDiskGuard(cfg DiskGuardConfig) *DiskGuard {
	if cfg.MinFree <= 0 {
		cfg.MinFree = DefaultMinFree
	}
	if cfg.Interval <= 0 {
		cfg.Interval = time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	g := &DiskGuard{cfg: cfg}
	if cfg.Server != nil {
		g.restart = newJetStreamRestarter(cfg.Server)
	}
	g.mu.Lock()
	// A failure is measured again, and reported, by the first append.
	_ = g.measureLocked()
	g.mu.Unlock()
	return g
}

// measureLocked reads the free space of the filesystem; g.mu is held. When
// it cannot, the guard admits every append and leaves refusals to the
// server.
func (g *DiskGuard) measureLocked() error {
	free, err := freeBytes(g.cfg.Dir)
	g.measuredAt = time.Now()
	g.free, g.known = free, err == nil
	if err != nil && !errors.Is(err, errFreeSpaceUnknown) {
		return fmt.Errorf("free space of %s: %w", g.cfg.Dir, err)
	}
	return nil
}

// Admit reserves n bytes for an append, or refuses it at once: with
// eventstore.ErrStorageFull when less than MinFree would remain, with eventstore.ErrUnavailable
// when the embedded server cannot write for another reason.
func (g *DiskGuard) Admit(n int64) error {
	if err := g.storeError(); err != nil {
		return err
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if time.Since(g.measuredAt) >= measureEvery {
		_ = g.measureLocked() // Run logs failures
	}
	if !g.known {
		return nil
	}
	if g.free-n < g.cfg.MinFree {
		return g.fullError(g.free)
	}
	g.free -= n
	return nil
}

func (g *DiskGuard) fullError(free int64) error {
	return fmt.Errorf("%w: %d MiB free, %d MiB kept free", eventstore.ErrStorageFull, max(free, 0)>>20, g.cfg.MinFree>>20)
}

// storeError is the embedded server's write error as the guard last saw it,
// classified.
func (g *DiskGuard) storeError() error {
	p := g.storeErr.Load()
	if p == nil {
		return nil
	}
	if strings.Contains((*p).Error(), "no space left") {
		return fmt.Errorf("%w: %v", eventstore.ErrStorageFull, *p)
	}
	return fmt.Errorf("%w: %v", eventstore.ErrUnavailable, *p)
}

// Check is a readiness check: nil while appends are admitted, a short
// reason otherwise.
func (g *DiskGuard) Check(context.Context) error {
	if err := g.storeError(); err != nil {
		if errors.Is(err, eventstore.ErrStorageFull) {
			return errors.New("log storage full")
		}
		return errors.New("log storage cannot write")
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	_ = g.measureLocked() // Run logs failures
	if g.known && g.free < g.cfg.MinFree {
		return errors.New("log storage full")
	}
	return nil
}

// Run measures the free space every Interval until ctx ends. With an
// embedded server it also watches for a stream JetStream stopped writing to,
// and restarts JetStream once at least MinFree is free again, so that the
// log recovers by itself.
func (g *DiskGuard) Run(ctx context.Context) error {
	t := time.NewTicker(g.cfg.Interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		g.poll()
	}
}

// poll runs one round of Run.
func (g *DiskGuard) poll() {
	g.mu.Lock()
	err := g.measureLocked()
	free, known := g.free, g.known
	g.mu.Unlock()
	if failing := err != nil; g.measureFailing.Swap(failing) != failing {
		if failing {
			g.cfg.Logger.Warn("cannot measure the log's free space; not guarding it", "err", err)
		} else {
			g.cfg.Logger.Info("measuring the log's free space again")
		}
	}
	roomy := !known || free >= g.cfg.MinFree
	if g.full.Swap(!roomy) == roomy {
		if roomy {
			g.cfg.Logger.Info("log storage has room again; accepting writes", "free_mib", free>>20)
		} else {
			g.cfg.Logger.Error("log storage full; refusing writes until space is freed",
				"dir", g.cfg.Dir, "free_mib", free>>20, "min_free_mib", g.cfg.MinFree>>20)
		}
	}
	if g.restart == nil {
		return
	}
	werr := g.restart.writeErr()
	if werr == nil {
		g.storeErr.Store(nil)
		return
	}
	if g.storeErr.Swap(&werr) == nil {
		g.cfg.Logger.Error("log store stopped writing; refusing writes until it recovers", "err", werr)
	}
	if !roomy || time.Since(g.lastRestart) < restartBackoff {
		return
	}
	g.lastRestart = time.Now()
	g.cfg.Logger.Warn("restarting JetStream to clear the write error", "err", werr)
	if err := g.restart.restart(); err != nil {
		g.cfg.Logger.Error("restart JetStream", "err", err)
		return
	}
	if werr := g.restart.writeErr(); werr != nil {
		g.cfg.Logger.Error("JetStream still cannot write after a restart", "err", werr)
		return
	}
	g.storeErr.Store(nil)
	g.cfg.Logger.Info("JetStream restarted; accepting writes")
}
