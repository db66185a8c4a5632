package orders

import (
	"context"
	"time"

	"github.com/eventline/eventline/domain/saga"
	"github.com/eventline/eventline/eventstore"
)

// shortTimer is how far ahead a timer is also fired from memory: JetStream
// schedules fire on whole seconds (a 50 ms retry delay would wait up to a
// second), so a timer due this soon is stored as usual — it fires on the
// next whole second if this process dies — and fired at its time by this
// process as well. Whichever comes second decides nothing (a stale Fire).
const shortTimer = 2 * time.Second

// maxShortTimers bounds the timers fired from memory at once; past it the
// stored timer alone fires them (up to a second late).
const maxShortTimers = 4096

// fireSoon fires timer t of saga s from memory at its time, when it is due
// within shortTimer: a sub-second retry delay or attempt timeout keeps its
// time instead of waiting for the schedule's next whole second.
func (m *Manager) fireSoon(s saga.State, t saga.Timer, now time.Time) {
	wait := t.At.Sub(now)
	if wait <= 0 || wait >= shortTimer || m.nshort.Load() >= maxShortTimers {
		return
	}
	m.nshort.Add(1)
	started := m.goBackground(func() {
		defer m.nshort.Add(-1)
		tm := time.NewTimer(wait)
		defer tm.Stop()
		select {
		case <-m.base.Done():
			return
		case <-tm.C:
		}
		p, err := m.publish(s.ID, FiredSubject(t.SagaID), TimerV1, t, eventstore.WithDedupeID("fired:"+t.ID()))
		if err == nil {
			ctx, cancel := context.WithTimeout(m.base, 10*time.Second)
			defer cancel()
			_, err = p.Wait(ctx)
		}
		if err != nil && m.base.Err() == nil {
			m.log.Debug("firing a short saga timer from memory failed; the stored one fires it", "saga", s.ID, "err", err)
		}
	})
	if !started {
		m.nshort.Add(-1)
	}
}
