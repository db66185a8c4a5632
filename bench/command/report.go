package main

import (
	"encoding/json"
	"fmt"
	"io"
	"text/tabwriter"
)

// loopTarget is issue 11's target: the command loop at ≥ 50 % of raw
// expected-sequence publishes at the same concurrency.
const loopTarget = 0.5

func report(w io.Writer, o options, r results) error {
	if o.JSON {
		return json.NewEncoder(w).Encode(map[string]any{"options": o, "results": r})
	}
	where := "1 embedded server, replicas 1"
	if o.Cluster {
		where = "3-node in-process cluster, replicas 3"
	}
	fmt.Fprintf(w, "%d concurrent aggregates, %d aggregates x %d commands each (%s, sync always: %v)\n",
		o.Workers, o.Aggregates, o.Events, where, o.SyncAlways)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "measurement\tops/s\tevents/s\tconflicts\tseconds\tvs raw\t\n")
	line := func(name string, x, base rate, target string) {
		if x.Ops == 0 { // not measured (--only)
			return
		}
		fmt.Fprintf(tw, "%s\t%.0f\t%.0f\t%d\t%.2f\t%s\t\n", name, x.opsPerSec(), x.eventsPerSec(), x.Conflicts, x.Seconds, ratio(x, base, target))
	}
	line("raw expected-seq publish", r.RawPublish, r.RawPublish, "baseline")
	line("command loop (load+decide+append)", r.Loop, r.RawPublish, "target")
	line("command loop, no state cache", r.LoopNoCache, r.RawPublish, "")
	line("raw atomic batch of 2", r.RawBatch, r.RawPublish, "")
	line("command loop, 2-event decision", r.LoopBatch, r.RawBatch, "")
	if err := tw.Flush(); err != nil {
		return err
	}
	if r.Loop.Ops == 0 || r.RawPublish.Ops == 0 || r.LoopBatch.Ops == 0 || r.RawBatch.Ops == 0 {
		return nil
	}
	fmt.Fprintf(w, "command loop: %.0f%% of raw expected-sequence publishes/s (target >= %.0f%%); "+
		"2-event decisions: %.0f%% of raw 2-event atomic batches/s, %.0f%% of raw publishes/s\n",
		100*r.Loop.opsPerSec()/r.RawPublish.opsPerSec(), 100*loopTarget,
		100*r.LoopBatch.opsPerSec()/r.RawBatch.opsPerSec(), 100*r.LoopBatch.opsPerSec()/r.RawPublish.opsPerSec())
	return nil
}

func ratio(x, base rate, target string) string {
	switch target {
	case "baseline":
		return "baseline"
	case "target":
		v := "ok"
		if x.opsPerSec() < loopTarget*base.opsPerSec() {
			v = "MISSED"
		}
		return fmt.Sprintf("%.0f%% %s", 100*x.opsPerSec()/base.opsPerSec(), v)
	}
	return fmt.Sprintf("%.0f%%", 100*x.opsPerSec()/base.opsPerSec())
}
