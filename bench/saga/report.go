package main

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"time"
)

// modeResult are the figures of one EVENTLINE_NATS_SYNC mode.
type modeResult struct {
	Mode       string
	Throughput runResult
	Single     runResult
	PeakRSS    int64
	// EmptyWaits and TimeoutWaits count saga waits the server cut short,
	// answering 200 without a body or 503 "timeout" (warm-up included);
	// each saga was awaited again.
	EmptyWaits   int64
	TimeoutWaits int64
	// Settle is how long serve kept busy after the throughput run's last
	// saga ended (read models catching up), before the single-saga run.
	Settle        time.Duration
	RawThroughput runResult
	RawSingle     runResult
	// CPU is what the throughput run cost until serve was quiet again;
	// RawCPU what the raw baseline's throughput run cost.
	CPU, RawCPU cpuUse
	// Issue 27's baselines: the raw sagas through group commit, raw
	// atomic batches (messages/s), and ten PostgreSQL commits per saga.
	GroupThroughput, GroupSingle runResult
	BatchRate                    float64
	PGThroughput, PGSingle       runResult
}

// Targets of issue 12.
const (
	targetRate       = 2000.0
	targetRateAlways = 700.0
	targetP99        = 150 * time.Millisecond
	targetSingleP50  = 2 * time.Millisecond
	targetRSS        = 300 << 20
	// Issue 27 (sync always).
	targetP99Always       = 500 * time.Millisecond
	targetSingleP50Always = 3 * time.Millisecond
)

func ratio(a, b float64) float64 {
	if b == 0 {
		return 0
	}
	return a / b
}

func verdict(ok bool) string {
	if ok {
		return "met"
	}
	return "MISSED"
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// report prints every mode's figures beside their same-run baselines and
// targets, and the outcome counts.
func report(w io.Writer, o options, all []modeResult) error {
	var b strings.Builder
	fmt.Fprintf(&b, "order saga end to end over HTTP (POST /api/orders, then GET /api/sagas/{id}?wait=10s until terminal;\n"+
		"  %d users, %d products with huge stock, one item, tok_ok), `eventline serve` with embedded NATS and managed PostgreSQL.\n"+
		"  Baseline, same run: raw JetStream on the serve process's own embedded nats-server (stream %s, event streams' settings),\n"+
		"  %d sequential awaited publishes of %d B per saga.\n", o.Users, o.Products, rawStream, publishesPerRaw, rawPayloadBytes)
	for _, r := range all {
		rate := targetRate
		if r.Mode == "always" {
			rate = targetRateAlways
		}
		t, raw := r.Throughput, r.RawThroughput
		fmt.Fprintf(&b, "EVENTLINE_NATS_SYNC=%s\n", r.Mode)
		fmt.Fprintf(&b, "  throughput, %d in flight, %s after %s warm-up:\n", o.InFlight, o.Duration, o.Warmup)
		fmt.Fprintf(&b, "    saga over HTTP   %8.0f sagas/s   p50 %7.2f ms   p99 %7.2f ms   (%d completed in %.2f s; target >= %.0f/s: %s",
			t.Rate(), ms(t.Percentile(0.50)), ms(t.Percentile(0.99)), t.Completed(), t.Elapsed.Seconds(), rate, verdict(t.Rate() >= rate))
		if r.Mode != "always" {
			fmt.Fprintf(&b, "; p99 <= %.0f ms: %s", ms(targetP99), verdict(t.Percentile(0.99) <= targetP99 && t.Completed() > 0))
		}
		fmt.Fprintf(&b, ")\n")
		if t.Completed() > 0 && t.Percentile(0.50) > o.Duration/2 {
			fmt.Fprintf(&b, "    note: a saga lasts longer than half the run, so each client ran ~%.1f sagas: the rate is ~in-flight / latency\n",
				float64(t.Total())/float64(o.InFlight))
		}
		fmt.Fprintf(&b, "    raw JetStream    %8.0f sagas/s   p50 %7.2f ms   p99 %7.2f ms   (%d in %.2f s; saga over HTTP = %.1f%% of raw)\n",
			raw.Rate(), ms(raw.Percentile(0.50)), ms(raw.Percentile(0.99)), raw.Completed(), raw.Elapsed.Seconds(), pct(t.Rate(), raw.Rate()))
		g, pg := r.GroupThroughput, r.PGThroughput
		fmt.Fprintf(&b, "    raw, group commit %7.0f sagas/s   p50 %7.2f ms   p99 %7.2f ms   (the same ten appends through eventstore group commit)\n",
			g.Rate(), ms(g.Percentile(0.50)), ms(g.Percentile(0.99)))
		fmt.Fprintf(&b, "    raw atomic batches %6.0f msgs/s   (%d senders, %d messages per batch; raw plain publishes above: %.0f msgs/s)\n",
			r.BatchRate, rawBatchSenders, rawBatchSize, raw.Rate()*publishesPerRaw)
		fmt.Fprintf(&b, "    raw PostgreSQL   %8.0f sagas/s   p50 %7.2f ms   p99 %7.2f ms   (ten single-row commits, synchronous_commit=on, %d connections)\n",
			pg.Rate(), ms(pg.Percentile(0.50)), ms(pg.Percentile(0.99)), min(o.InFlight, maxPostgresConns))
		if r.Mode == "always" {
			fmt.Fprintf(&b, "    issue 27: saga over HTTP = %.2fx raw plain publishes (target >= 1.5x: %s), %.2fx PostgreSQL; p99 <= %.0f ms: %s\n",
				ratio(t.Rate(), raw.Rate()), verdict(ratio(t.Rate(), raw.Rate()) >= 1.5), ratio(t.Rate(), pg.Rate()),
				ms(targetP99Always), verdict(t.Completed() > 0 && t.Percentile(0.99) <= targetP99Always))
		}
		fmt.Fprintf(&b, "  CPU per saga, until serve was quiet again: saga over HTTP %s\n", r.CPU.PerSaga(t.Total()))
		fmt.Fprintf(&b, "                                         raw JetStream  %s\n", r.RawCPU.PerSaga(raw.Total()))
		fmt.Fprintf(&b, "  peak RSS of the serve process (embedded NATS included) during the throughput run: %.1f MiB (target <= %d MiB: %s)\n",
			float64(r.PeakRSS)/(1<<20), targetRSS>>20, verdict(r.PeakRSS > 0 && r.PeakRSS <= targetRSS))
		s, rs := r.Single, r.RawSingle
		fmt.Fprintf(&b, "  single saga, 1 in flight (started once serve was quiet, %.1f s after the throughput run):\n", r.Settle.Seconds())
		fmt.Fprintf(&b, "    saga over HTTP   p50 %7.3f ms   p99 %7.3f ms   (%d sagas", ms(s.Percentile(0.50)), ms(s.Percentile(0.99)), s.Completed())
		if r.Mode != "always" {
			fmt.Fprintf(&b, "; target p50 <= %.0f ms: %s", ms(targetSingleP50), verdict(s.Percentile(0.50) <= targetSingleP50 && s.Completed() > 0))
		} else {
			fmt.Fprintf(&b, "; issue 27 target p50 <= %.0f ms: %s", ms(targetSingleP50Always), verdict(s.Percentile(0.50) <= targetSingleP50Always && s.Completed() > 0))
		}
		fmt.Fprintf(&b, ")\n")
		fmt.Fprintf(&b, "    raw JetStream    p50 %7.3f ms   p99 %7.3f ms   (%d sagas)\n", ms(rs.Percentile(0.50)), ms(rs.Percentile(0.99)), rs.Completed())
		fmt.Fprintf(&b, "    raw, group commit p50 %6.3f ms   p99 %7.3f ms   (%d sagas)\n", ms(r.GroupSingle.Percentile(0.50)),
			ms(r.GroupSingle.Percentile(0.99)), r.GroupSingle.Completed())
		fmt.Fprintf(&b, "    raw PostgreSQL   p50 %7.3f ms   p99 %7.3f ms   (%d sagas)\n", ms(r.PGSingle.Percentile(0.50)),
			ms(r.PGSingle.Percentile(0.99)), r.PGSingle.Completed())
		fmt.Fprintf(&b, "  outcomes: throughput %s; single %s\n", outcomes(t), outcomes(s))
		if r.EmptyWaits+r.TimeoutWaits > 0 {
			fmt.Fprintf(&b, "  server problem: GET /api/sagas/{id}?wait=10s cut short before 10 s %d times (%d answered 200 with an empty body, %d 503 timeout); each saga awaited again\n",
				r.EmptyWaits+r.TimeoutWaits, r.EmptyWaits, r.TimeoutWaits)
		}
		if n := raw.Errors + rs.Errors + g.Errors + r.GroupSingle.Errors + pg.Errors + r.PGSingle.Errors; n > 0 {
			fmt.Fprintf(&b, "  raw baseline errors: %d, first: %s\n", n, firstErr(raw, rs, g, r.GroupSingle, pg, r.PGSingle))
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// outcomes lists r's sagas by outcome and says whether all completed.
func outcomes(r runResult) string {
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(r.Outcomes)) {
		parts = append(parts, fmt.Sprintf("%s %d", k, r.Outcomes[k]))
	}
	if r.Errors > 0 {
		parts = append(parts, fmt.Sprintf("errors %d (first: %s)", r.Errors, r.FirstErr))
	}
	if len(parts) == 0 {
		parts = append(parts, "none")
	}
	ok := r.Total() > 0 && r.Completed() == r.Total()
	return strings.Join(parts, ", ") + " (all completed: " + verdict(ok) + ")"
}

func firstErr(rs ...runResult) string {
	for _, r := range rs {
		if r.FirstErr != "" {
			return r.FirstErr
		}
	}
	return ""
}

func pct(a, b float64) float64 {
	if b == 0 {
		return 0
	}
	return 100 * a / b
}
