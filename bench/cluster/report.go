package main

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"time"
)

// Targets of issue 23.
const (
	targetRatio    = 0.9
	targetHotP99   = 2.0
	targetTakeover = 10 * time.Second
)

func verdict(ok bool) string {
	if ok {
		return "met"
	}
	return "MISSED"
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// report prints every figure beside its same-run baseline and target.
func report(w io.Writer, o options, r *results) error {
	if r == nil {
		return nil
	}
	var b strings.Builder
	fmt.Fprintf(&b, "bench/cluster: 3-node JetStream cluster in the bench process (R3 streams, loopback), one PostgreSQL,\n"+
		"  p1 = api,projector,saga,sync; p2 = api,saga; %d saga partitions. CPU per operation: ms of CPU from /proc over the\n"+
		"  measured load until the processes were quiet again; \"nats\" is the bench process = the three nats-servers (the load\n"+
		"  generator runs in a child process, \"client\").\n", partitionCount)
	if r.RawSaga.Run.Total() > 0 || r.One.Run.Total() > 0 {
		fmt.Fprintf(&b, "sagas over HTTP (POST /api/orders + GET /api/sagas/{id}?wait=10s, tok_ok, %d users x %d products), %d in flight,\n"+
			"  %s after %s warm-up each, one process then two, %d pairs (p2 stopped in between):\n", o.Users, o.Products, o.InFlight, o.Duration, o.Warmup, len(r.Pairs))
		line(&b, "raw JetStream R3 (10 awaited publishes/saga)", r.RawSaga, "sagas/s")
		for i, pr := range r.Pairs {
			line(&b, fmt.Sprintf("pair %d: one process (p1)", i+1), pr.One, "sagas/s")
			line(&b, fmt.Sprintf("pair %d: two processes (p1 + p2, split)", i+1), pr.Two, "sagas/s")
		}
		line(&b, "pooled: one process", r.One, "sagas/s")
		line(&b, "pooled: two processes", r.Two, "sagas/s")
		if r.One.Run.Rate() > 0 && r.Two.Run.Total() > 0 {
			ratio := r.Two.Run.Rate() / r.One.Run.Rate()
			var each []string
			for _, pr := range r.Pairs {
				each = append(each, fmt.Sprintf("%.2f", pr.Two.Run.Rate()/max(pr.One.Run.Rate(), 1e-9)))
			}
			fmt.Fprintf(&b, "  two / one = %.2f pooled (pairs: %s) (target >= %.1f: %s); one = %.0f%% of raw, two = %.0f%% of raw\n", ratio,
				strings.Join(each, ", "), targetRatio, verdict(ratio >= targetRatio), 100*r.One.Run.Rate()/max(r.RawSaga.Run.Rate(), 1e-9),
				100*r.Two.Run.Rate()/max(r.RawSaga.Run.Rate(), 1e-9))
		}
		cpu(&b, "raw JetStream R3", r.RawSaga)
		cpu(&b, "one process", r.One)
		cpu(&b, "two processes", r.Two)
	}
	if r.HotOne.Run.Total() > 0 {
		fmt.Fprintf(&b, "hot product (every order on one product, huge stock), %d in flight, %s after %s warm-up each, %d pairs:\n", o.InFlight, o.Duration, o.Warmup, len(r.Pairs))
		for i, pr := range r.Pairs {
			line(&b, fmt.Sprintf("pair %d: one process (p1)", i+1), pr.HotOne, "sagas/s")
			line(&b, fmt.Sprintf("pair %d: two processes (p1 + p2, split)", i+1), pr.HotTwo, "sagas/s")
		}
		line(&b, "pooled: one process", r.HotOne, "sagas/s")
		line(&b, "pooled: two processes", r.HotTwo, "sagas/s")
		for _, ph := range []phase{r.HotOne, r.HotTwo} {
			fmt.Fprintf(&b, "  %-40s not completed %d, \"too many concurrent changes\" in the serve logs %d\n", strings.TrimPrefix(ph.Name, "pair 1: ")+", all pairs:",
				ph.Run.Total()-ph.Run.Completed(), ph.Conflicts)
		}
		if r.HotTwo.Run.Total() > 0 {
			none := r.HotOne.Run.Total() == r.HotOne.Run.Completed() && r.HotTwo.Run.Total() == r.HotTwo.Run.Completed() &&
				r.HotOne.Conflicts+r.HotTwo.Conflicts == 0
			ratio := float64(r.HotTwo.Run.Percentile(0.99)) / float64(max(r.HotOne.Run.Percentile(0.99), 1))
			fmt.Fprintf(&b, "  none failed and no conflicts: %s; p99 two / one = %.2f pooled (target <= %.0f: %s); rate two / one = %.2f\n",
				verdict(none), ratio, targetHotP99, verdict(ratio <= targetHotP99), r.HotTwo.Run.Rate()/max(r.HotOne.Run.Rate(), 1e-9))
		}
		cpu(&b, "hot, one process", r.HotOne)
		cpu(&b, "hot, two processes", r.HotTwo)
	}
	if r.RawLogs.Run.Total() > 0 || r.LogsOne.Run.Total() > 0 {
		fmt.Fprintf(&b, "log entries (POST /api/logs, one entry of ~200 B each, 202 = stored in R3 JetStream), %d clients, %s:\n", o.LogConns, o.LogDuration)
		line(&b, "raw JetStream R3 (1 awaited publish/entry)", r.RawLogs, "entries/s")
		line(&b, "one process (p1)", r.LogsOne, "entries/s")
		line(&b, "two processes (p1 + p2, clients split)", r.LogsTwo, "entries/s")
		cpu(&b, "logs, one process", r.LogsOne)
		cpu(&b, "logs, two processes", r.LogsTwo)
	}
	if r.Idle > 0 {
		share := func(m map[string]time.Duration) string {
			var parts []string
			for _, k := range []string{"p1", "p2", "nats", "postgres"} {
				if d, ok := m[k]; ok {
					parts = append(parts, fmt.Sprintf("%s %.1f%%", k, 100*d.Seconds()/r.Idle.Seconds()))
				}
			}
			return strings.Join(parts, ", ")
		}
		fmt.Fprintf(&b, "idle (no load, %s), CPU in %% of one core: one process: %s; two processes: %s\n", r.Idle, share(r.IdleOne), share(r.IdleTwo))
	}
	if len(r.Joins) > 0 {
		fmt.Fprintf(&b, "process added: from p2's exec until the partitions were shared 8/8: %s\n", pcts(r.Joins))
	}
	if len(r.Leaves) > 0 {
		fmt.Fprintf(&b, "process stopped (SIGTERM): from the signal until p1 owned all 16: %s\n", pcts(r.Leaves))
	}
	if r.Steady > 0 {
		fmt.Fprintf(&b, "steady load without faults (%d orders/s, tok_ok, tok_flaky, tok_slow) for %s: %d orders posted, %d failed;\n"+
			"  the safety-net sweep of idle sagas fired %d times, re-issuing %d sagas\n", r.PlacerRate, r.Steady, r.SteadyPosts, r.SteadyFailed,
			r.SteadySweeps, r.SteadySwept)
	}
	if len(r.Takeovers) > 0 {
		fmt.Fprintf(&b, "takeover: kill -9 of one process under %d orders/s (tok_ok, tok_flaky, tok_slow; step timeout 3 s), restart, %d rounds:\n",
			r.PlacerRate, len(r.Takeovers))
		fmt.Fprintf(&b, "  %-5s %-6s %5s %8s %9s %12s %11s %8s %8s %9s %11s\n", "round", "killed", "parts", "running", "pinned", "first resume", "all resumed", "resumed", "took", "restart", "rebalanced")
		var first, all, rebal []time.Duration
		failed := 0
		for i, t := range r.Takeovers {
			fmt.Fprintf(&b, "  %-5d %-6s %5d %8d %8.2fs %11.2fs %10.2fs %8d %7.2fs %8.2fs %10.2fs", i+1, t.Victim, t.Parts, t.Running,
				t.Pinned.Seconds(), t.First.Seconds(), t.All.Seconds(), t.Resumed, t.Took.Seconds(), t.Restart.Seconds(), t.Rebalanced.Seconds())
			if t.Err != "" {
				failed++
				fmt.Fprintf(&b, "  ERROR: %s", t.Err)
			}
			fmt.Fprintln(&b)
			if t.First > 0 {
				first, all = append(first, t.First), append(all, t.All)
			}
			if t.Rebalanced > 0 {
				rebal = append(rebal, t.Rebalanced)
			}
		}
		fmt.Fprintf(&b, "  kill -> first resumed step: %s (target p99 <= %.0f s: %s)\n", pcts(first), targetTakeover.Seconds(),
			verdict(failed == 0 && len(first) > 0 && quantile(first, 0.99) <= targetTakeover))
		fmt.Fprintf(&b, "  kill -> every partition of the killed process resumed: %s\n", pcts(all))
		fmt.Fprintf(&b, "  restart -> partitions shared 8/8 again: %s\n", pcts(rebal))
		fmt.Fprintf(&b, "  (pinned: the survivor's last \"partition taken over\" of the killed one's partitions; running: its sagas running\n"+
			"   at the kill per the read model; resumed: sagas the survivor's resume lines counted; took: the longest took= of those\n"+
			"   lines, from a partition's gain until its running sagas were re-issued)\n")
	}
	if n := r.Node; n != nil {
		fmt.Fprintf(&b, "NATS node %s (the SAGAS leader) killed for %s under %d orders/s: new leader after %.2f s;\n"+
			"  orders posted from the kill until 3 s after it rejoined %d, failed %d, slowest answer %.2f s; it rejoined %.2f s after its restart", n.Node, o.NodeDown, r.PlacerRate, n.Elected.Seconds(),
			n.Posts, n.Failed, n.MaxPost.Seconds(), n.Rejoined.Seconds())
		if n.FirstErr != "" {
			fmt.Fprintf(&b, "; first failure: %.160s", n.FirstErr)
		}
		if n.Err != "" {
			fmt.Fprintf(&b, "; ERROR: %s", n.Err)
		}
		fmt.Fprintln(&b)
	}
	if p := r.PG; p != nil {
		fmt.Fprintf(&b, "PostgreSQL stopped for %s under %d orders/s: orders posted from the stop until 1 s after the read model\n"+
			"  caught up %d, failed %d, slowest answer %.2f s;\n"+
			"  after its start p1's /readyz ok in %.2f s, sagas read model caught up in %.2f s", p.Down, r.PlacerRate, p.Posts, p.Failed,
			p.MaxPost.Seconds(), p.Ready.Seconds(), p.CaughtUp.Seconds())
		if p.FirstErr != "" {
			fmt.Fprintf(&b, "; first failure: %.160s", p.FirstErr)
		}
		if p.Err != "" {
			fmt.Fprintf(&b, "; ERROR: %s", p.Err)
		}
		fmt.Fprintln(&b)
	}
	if f := r.Final; f != nil {
		bad := f.ByStatus["needs_attention"] + f.ByStatus["failed"] + f.ReadModel["needs_attention"] + f.ReadModel["failed"]
		fmt.Fprintf(&b, "from the steady load to the end of the faults: %d orders posted, %d failed", f.Posts, f.Failed)
		if f.FirstPostErr != "" {
			fmt.Fprintf(&b, " (first: %.160s)", f.FirstPostErr)
		}
		fmt.Fprintf(&b, "; the safety-net sweep of idle sagas fired %d times, re-issuing %d sagas\n", f.Sweeps, f.Swept)
		fmt.Fprintf(&b, "afterwards: %d sagas placed under the steady load, takeovers and faults, awaited: %s, not terminal/errors %d", f.Placed, counts(f.ByStatus), f.AwaitErrors)
		if f.FirstErr != "" {
			fmt.Fprintf(&b, " (first: %.160s)", f.FirstErr)
		}
		fmt.Fprintf(&b, "\n  read model, whole run: %s (no saga running %.1f s after the load)", counts(f.ReadModel), f.Settled.Seconds())
		if f.Err != "" {
			fmt.Fprintf(&b, "; ERROR: %s", f.Err)
		}
		fmt.Fprintf(&b, "\n  every saga terminal, none needs_attention or failed: %s\n", verdict(f.AwaitErrors == 0 && bad == 0 && f.Err == "" && f.Placed > 0))
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// line prints one load's rate and latencies.
func line(b *strings.Builder, label string, ph phase, unit string) {
	r := ph.Run
	if r.Total() == 0 {
		return
	}
	fmt.Fprintf(b, "  %-46s %7.0f %-9s p50 %7.2f ms  p99 %7.2f ms  (%d in %.1f s", label, r.Rate(), unit,
		ms(r.Percentile(0.5)), ms(r.Percentile(0.99)), r.Completed(), r.Elapsed.Seconds())
	if n := r.Total() - r.Completed(); n > 0 {
		fmt.Fprintf(b, "; NOT completed %d: %s", n, counts(r.Outcomes))
		if r.FirstErr != "" {
			fmt.Fprintf(b, ", errors %d, first: %.160s", r.Errors, r.FirstErr)
		}
	}
	fmt.Fprintln(b, ")")
}

// cpu prints each party's CPU per completed operation.
func cpu(b *strings.Builder, label string, ph phase) {
	n := ph.Run.Completed()
	if n == 0 {
		return
	}
	per := func(d time.Duration) float64 { return ms(d) / float64(n) }
	var parts []string
	total := ph.Client
	for _, k := range []string{"p1", "p2", "nats", "postgres"} {
		if d, ok := ph.CPU[k]; ok {
			parts = append(parts, fmt.Sprintf("%s %.3f", k, per(d)))
			total += d
		}
	}
	parts = append(parts, fmt.Sprintf("client %.3f", per(ph.Client)))
	fmt.Fprintf(b, "  CPU ms per op, %-20s %s = %.3f (quiet %.1f s after)", label+":", strings.Join(parts, ", "), per(total), ph.Settle.Seconds())
	if ph.Sweeps > 0 {
		fmt.Fprintf(b, "; safety-net sweep fired %d times (%d sagas)", ph.Sweeps, ph.Swept)
	}
	fmt.Fprintln(b)
}

// counts prints a status count map in a fixed order.
func counts(m map[string]int) string {
	if len(m) == 0 {
		return "none"
	}
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(m)) {
		parts = append(parts, fmt.Sprintf("%s %d", k, m[k]))
	}
	return strings.Join(parts, ", ")
}

// quantile is the q-quantile of ds, nearest rank.
func quantile(ds []time.Duration, q float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Sorted(slices.Values(ds))
	i := int(q*float64(len(s))+0.5) - 1
	return s[min(max(i, 0), len(s)-1)]
}

func pcts(ds []time.Duration) string {
	if len(ds) == 0 {
		return "none measured"
	}
	return fmt.Sprintf("p50 %.2f s, p99 %.2f s, max %.2f s (n=%d)", quantile(ds, 0.5).Seconds(), quantile(ds, 0.99).Seconds(),
		slices.Max(ds).Seconds(), len(ds))
}
