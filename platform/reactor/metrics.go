package reactor

import (
	"github.com/eventline/eventline/internal/promreg"
	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the reactors' Prometheus series, labelled by reactor name.
type metrics struct {
	handled  *prometheus.CounterVec
	failed   *prometheus.CounterVec
	parked   *prometheus.CounterVec
	duration *prometheus.HistogramVec
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		handled: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "eventline_reactor_handled_total", Help: "Messages a reactor handled successfully.",
		}, []string{"reactor"}),
		failed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "eventline_reactor_failed_total", Help: "Handler failures (each failed delivery), retried or parked.",
		}, []string{"reactor"}),
		parked: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "eventline_reactor_parked_total", Help: "Messages parked after a permanent failure or spent attempts.",
		}, []string{"reactor"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "eventline_reactor_handle_duration_seconds", Help: "Time a handler took, effects included.",
			Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 10},
		}, []string{"reactor"}),
	}
	if reg == nil {
		return m, nil
	}
	m.handled = promreg.Register(reg, m.handled)
	m.failed = promreg.Register(reg, m.failed)
	m.parked = promreg.Register(reg, m.parked)
	m.duration = promreg.Register(reg, m.duration)
	return m, nil
}
