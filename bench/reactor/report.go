package main

import (
	"fmt"
	"io"
	"time"
)

// report prints the figures beside their same-run baselines and targets.
func report(w io.Writer, o options, r results) error {
	pct := func(a, b float64) float64 {
		if b == 0 {
			return 0
		}
		return 100 * a / b
	}
	verdict := func(ok bool) string {
		if ok {
			return "meets target"
		}
		return "MISSES target"
	}
	us := func(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }
	_, err := fmt.Fprintf(w, `reactor hop (event stored -> handler -> next event stored), in-process JetStream
  throughput, %d chains in flight:
    reactor (watermill runtime)      %9.0f hops/s   (target >= 20000: %s)   CPU %5.1f us/hop
    raw publish+consume (nats.go)    %9.0f hops/s   reactor = %.0f%% of raw      CPU %5.1f us/hop
  latency at %d hops/s for %s (source publish start -> effect stored):
    reactor   p50 %7.3f ms   p99 %7.3f ms   max %7.3f ms   (%d hops; targets p50 <= 1 ms: %s, p99 <= 10 ms: %s)
    raw       p50 %7.3f ms   p99 %7.3f ms   max %7.3f ms   (%d hops)
`, o.Chains, r.ReactorHopsPerSec, verdict(r.ReactorHopsPerSec >= 20000), us(r.ReactorCPUPerHop),
		r.RawHopsPerSec, pct(r.ReactorHopsPerSec, r.RawHopsPerSec), us(r.RawCPUPerHop),
		o.Rate, o.Paced,
		r.ReactorLatency.P50, r.ReactorLatency.P99, r.ReactorLatency.Max, r.ReactorLatency.Samples,
		verdict(r.ReactorLatency.P50 <= 1), verdict(r.ReactorLatency.P99 <= 10),
		r.RawLatency.P50, r.RawLatency.P99, r.RawLatency.Max, r.RawLatency.Samples)
	return err
}
