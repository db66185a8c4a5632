package orders

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/eventline/eventline/domain/saga"
	"github.com/eventline/eventline/internal/promreg"
)

// Metrics are the sagas' Prometheus metrics, counted by the process
// manager as it records decisions.
type Metrics struct {
	sagas   *prometheus.CounterVec
	steps   *prometheus.HistogramVec
	retries *prometheus.CounterVec
	drivers prometheus.Gauge

	// Ownership of partitions (ownership.go) and the sweep (sweep.go).
	takeovers    prometheus.Counter
	notesDropped prometheus.Counter
	sweepHits    prometheus.Counter
}

// NewMetrics returns the sagas' metrics registered on reg (none when nil;
// metrics registered already by another manager are shared).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	return &Metrics{
		sagas: register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "eventline_sagas_total",
			Help: "Sagas started and ended, by saga type and event: started, completed, compensated, needs_attention, failed, retried, aborted.",
		}, []string{"type", "event"})),
		steps: register(reg, prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "eventline_saga_step_duration_seconds",
			Help:    "Time from a step's first attempt to its outcome, retries included, by step and outcome (completed, failed for good).",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 5, 30, 120, 600},
		}, []string{"step", "outcome"})),
		retries: register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "eventline_saga_step_retries_total",
			Help: "Retries scheduled, by step and by whether it is a compensation's.",
		}, []string{"step", "compensation"})),
		drivers: register(reg, prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "eventline_saga_drivers",
			Help: "Sagas whose commands this process is running right now.",
		})),
		takeovers: register(reg, prometheus.NewCounter(prometheus.CounterOpts{
			Name: "eventline_saga_partitions_taken_over_total",
			Help: "Saga partitions this process took over, each resumed from the log.",
		})),
		notesDropped: register(reg, prometheus.NewCounter(prometheus.CounterOpts{
			Name: "eventline_saga_notes_dropped_total",
			Help: "Notes to drive a saga dropped because the owner's queue was full (the sweep or the next takeover resumes them).",
		})),
		sweepHits: register(reg, prometheus.NewCounter(prometheus.CounterOpts{
			Name: "eventline_saga_sweep_reissued_total",
			Help: "Sagas the safety-net sweep found idle past a step's timeout and re-issued: each one is a saga the owner-driven path lost.",
		})),
	}
}

// register registers c on reg (promreg.Register: one already registered
// is shared), or leaves it unregistered when reg is nil.
func register[C prometheus.Collector](reg prometheus.Registerer, c C) C {
	if reg == nil {
		return c
	}
	return promreg.Register(reg, c)
}

// observe counts the events of one decision, whose saga is s after them.
func (m *Metrics) observe(s saga.State, events []saga.Event) {
	typ := s.Definition.Type
	for _, e := range events {
		switch d := e.Data.(type) {
		case *saga.Started:
			m.sagas.WithLabelValues(typ, "started").Inc()
		case *saga.Completed:
			m.sagas.WithLabelValues(typ, "completed").Inc()
		case *saga.Compensated:
			m.sagas.WithLabelValues(typ, "compensated").Inc()
		case *saga.NeedsAttention:
			m.sagas.WithLabelValues(typ, "needs_attention").Inc()
		case *saga.SagaFailed:
			m.sagas.WithLabelValues(typ, "failed").Inc()
		case *saga.Retried:
			m.sagas.WithLabelValues(typ, "retried").Inc()
		case *saga.Aborted:
			m.sagas.WithLabelValues(typ, "aborted").Inc()
		case *saga.StepCompleted:
			m.step(s, d.Step, "completed", d.At)
		case *saga.StepFailed:
			if d.Final {
				m.step(s, d.Step, "failed", d.At)
			}
		case *saga.RetryScheduled:
			m.retries.WithLabelValues(d.Step, boolLabel(d.Compensation)).Inc()
		}
	}
}

// step observes step name's time from its first attempt to at.
func (m *Metrics) step(s saga.State, name, outcome string, at time.Time) {
	if i := s.StepIndex(name); i >= 0 && !s.Steps[i].StartedAt.IsZero() && !at.Before(s.Steps[i].StartedAt) {
		m.steps.WithLabelValues(name, outcome).Observe(at.Sub(s.Steps[i].StartedAt).Seconds())
	}
}

func boolLabel(b bool) string {
	if b {
		return "true"
	}
	return "false"
}
