package projections

import "github.com/prometheus/client_golang/prometheus"

// Metrics are the Prometheus collectors of the projection runtime, shared by
// every runner and labelled by projection.
type Metrics struct {
	batchSize     *prometheus.HistogramVec
	flushSeconds  *prometheus.HistogramVec
	retries       *prometheus.CounterVec
	failedFlushes *prometheus.CounterVec
	parked        *prometheus.CounterVec
	applied       *prometheus.CounterVec
	pending       *prometheus.GaugeVec
}

// NewMetrics creates the collectors and registers them with reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		batchSize: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "eventline_projection_batch_size", Help: "Events per committed projection batch.",
			Buckets: prometheus.ExponentialBuckets(1, 4, 8),
		}, []string{"projection"}),
		flushSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "eventline_projection_flush_seconds", Help: "Time to write and commit one projection batch.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14),
		}, []string{"projection"}),
		retries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "eventline_projection_retries_total", Help: "Batch commits retried after a transient failure.",
		}, []string{"projection"}),
		failedFlushes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "eventline_projection_failed_flushes_total", Help: "Batch commits that failed.",
		}, []string{"projection"}),
		parked: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "eventline_projection_parked_total", Help: "Items (log entries) parked instead of applied; an event without items counts as one.",
		}, []string{"projection"}),
		applied: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "eventline_projection_events_total", Help: "Events committed by projections.",
		}, []string{"projection"}),
		pending: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "eventline_projection_pending", Help: "Stream messages not yet applied by the projection (consumer pending + ack pending).",
		}, []string{"projection"}),
	}
	if reg != nil {
		reg.MustRegister(m.batchSize, m.flushSeconds, m.retries, m.failedFlushes, m.parked, m.applied, m.pending)
	}
	return m
}
