package reactor

import (
	"errors"

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
	m.handled = register(reg, m.handled)
	m.failed = register(reg, m.failed)
	m.parked = register(reg, m.parked)
	m.duration = register(reg, m.duration)
	return m, nil
}

// register registers c, or returns the collector already registered under
// its name (several runtimes in one process share the series).
func register[C prometheus.Collector](reg prometheus.Registerer, c C) C {
	if err := reg.Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			if existing, ok := are.ExistingCollector.(C); ok {
				return existing
			}
		}
	}
	return c
}
