package pgcluster

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/cenkalti/backoff/v5"
)

// SupervisorConfig tunes a Supervisor; zero fields take the defaults.
type SupervisorConfig struct {
	// Interval is how often the postmaster's liveness is checked (1 s).
	Interval time.Duration
	// MinBackoff is the wait after a failed restart, doubled after each
	// further failure (500 ms).
	MinBackoff time.Duration
	// MaxBackoff caps the wait between restarts (30 s).
	MaxBackoff time.Duration
	// StableAfter is how long the server must stay up before the backoff
	// starts again from MinBackoff (1 min).
	StableAfter time.Duration
}

func (c SupervisorConfig) withDefaults() SupervisorConfig {
	if c.Interval <= 0 {
		c.Interval = time.Second
	}
	if c.MinBackoff <= 0 {
		c.MinBackoff = 500 * time.Millisecond
	}
	if c.MaxBackoff <= 0 {
		c.MaxBackoff = 30 * time.Second
	}
	if c.StableAfter <= 0 {
		c.StableAfter = time.Minute
	}
	return c
}

// Supervisor restarts a managed cluster's server when its postmaster dies
// (a crash, a kill -9, the OOM killer), with capped exponential backoff.
type Supervisor struct {
	cluster *Cluster
	cfg     SupervisorConfig
	log     *slog.Logger
}

// NewSupervisor returns a supervisor of c.
func NewSupervisor(c *Cluster, cfg SupervisorConfig, log *slog.Logger) *Supervisor {
	if log == nil {
		log = slog.Default()
	}
	return &Supervisor{cluster: c, cfg: cfg.withDefaults(), log: log}
}

// Run watches the postmaster until ctx ends or the cluster is stopped on
// purpose, restarting it whenever it is found dead; every restart and
// every failed attempt is logged. It returns nil: a server that cannot be
// restarted is retried, never fatal.
func (s *Supervisor) Run(ctx context.Context) error {
	tick := time.NewTicker(s.cfg.Interval)
	defer tick.Stop()
	delays := &backoff.ExponentialBackOff{InitialInterval: s.cfg.MinBackoff, Multiplier: 2, MaxInterval: s.cfg.MaxBackoff}
	var restartedAt time.Time
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
		if s.cluster.Alive() {
			continue
		}
		if restartedAt.IsZero() || time.Since(restartedAt) >= s.cfg.StableAfter {
			delays.Reset()
		} else {
			// It died again soon after a restart: do not restart in a
			// tight loop.
			d := delays.NextBackOff()
			s.log.Warn("managed postgres died again soon after a restart", "dir", s.cluster.Dir, "retry_in", d)
			if !sleep(ctx, d) {
				return nil
			}
		}
		s.log.Warn("managed postgres is down; restarting", "dir", s.cluster.Dir, "port", s.cluster.Port)
		for attempt := 1; ; attempt++ {
			err := s.cluster.Restart(ctx)
			if err == nil {
				s.log.Info("managed postgres restarted", "dir", s.cluster.Dir, "port", s.cluster.Port, "pid", s.cluster.PID(), "attempt", attempt)
				restartedAt = time.Now()
				break
			}
			if errors.Is(err, ErrStopped) || ctx.Err() != nil {
				return nil
			}
			d := delays.NextBackOff()
			s.log.Error("restart managed postgres failed", "err", err, "attempt", attempt, "retry_in", d)
			if !sleep(ctx, d) {
				return nil
			}
		}
	}
}

// sleep waits d; false when ctx ended first.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
