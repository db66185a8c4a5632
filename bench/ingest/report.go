package main

import (
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
)

// row is one line of the table: a figure of ours beside its same-run
// baseline, and the target it is held to (none for information rows).
type row struct {
	Metric   string  `json:"metric"`
	Ours     float64 `json:"ours"`
	Baseline float64 `json:"baseline,omitempty"`
	BaseName string  `json:"baseline_name,omitempty"`
	Unit     string  `json:"unit"`
	// Ratio is Ours/Baseline when there is a baseline.
	Ratio  float64 `json:"ratio,omitempty"`
	Target string  `json:"target"`
	// Verdict is PASS, FAIL, info, or n/a when the figure is missing.
	Verdict string `json:"verdict"`
}

const (
	targetSingleRatio = 0.40
	targetSingleP99   = 20.0 // ms
	targetBatchRatio  = 0.50
	targetDrainRatio  = 0.50
	targetLagP99      = 1000.0 // ms
	targetRSS         = 200 << 20
)

func verdict(ok bool, have bool) string {
	switch {
	case !have:
		return "n/a"
	case ok:
		return "PASS"
	}
	return "FAIL"
}

func ratio(a, b float64) float64 {
	if b <= 0 {
		return 0
	}
	return a / b
}

// rows turns results into the table, targets first.
func rows(r *results) []row {
	var out []row
	add := func(x row) {
		if x.Baseline > 0 {
			x.Ratio = ratio(x.Ours, x.Baseline)
		}
		out = append(out, x)
	}
	conns := fmt.Sprintf("%d conns", r.Options.Conns)
	if h, p := r.Full.Healthz, r.Full.Single; h != nil && p != nil {
		have := p.Requests > 0 && h.RPS > 0
		add(row{Metric: "(a) POST /api/logs, " + conns + ", all roles", Ours: p.RPS, Baseline: h.RPS, BaseName: "GET /healthz",
			Unit: "req/s", Target: ">= 40% of /healthz", Verdict: verdict(ratio(p.RPS, h.RPS) >= targetSingleRatio, have)})
		add(row{Metric: "(a) POST /api/logs p50", Ours: p.P50, Baseline: h.P50, BaseName: "GET /healthz", Unit: "ms", Target: "-", Verdict: "info"})
		add(row{Metric: "(a) POST /api/logs p99", Ours: p.P99, Baseline: h.P99, BaseName: "GET /healthz", Unit: "ms",
			Target: "<= 20 ms", Verdict: verdict(p.P99 <= targetSingleP99, have)})
	}
	m := r.Interval
	if m.Batch != nil {
		label := fmt.Sprintf("(b) POST /api/logs/batch %dx%d entries, api role", r.Options.BatchClients, r.Options.BatchSize)
		add(row{Metric: label, Ours: m.Batch.IPS, Baseline: m.RawEntry.IPS, BaseName: "raw PublishAsync, 1 entry/msg",
			Unit: "entries/s", Target: ">= 50% of raw", Verdict: verdict(ratio(m.Batch.IPS, m.RawEntry.IPS) >= targetBatchRatio, m.RawEntry.IPS > 0)})
		add(row{Metric: "(b) same, vs pre-grouped raw messages", Ours: m.Batch.IPS, Baseline: m.RawBatch.IPS,
			BaseName: fmt.Sprintf("raw PublishAsync, %d entries/msg", r.Options.BatchSize), Unit: "entries/s", Target: "-", Verdict: "info"})
	}
	if r.Drain.RPS > 0 || r.Copy.IPS > 0 {
		add(row{Metric: "(c) projection drain", Ours: r.Drain.RPS, Baseline: r.Copy.IPS, BaseName: "raw pgx CopyFrom, same table shape",
			Unit: "rows/s", Target: ">= 50% of CopyFrom", Verdict: verdict(ratio(r.Drain.RPS, r.Copy.IPS) >= targetDrainRatio, r.Drain.RPS > 0 && r.Copy.IPS > 0)})
	}
	if r.Integrity.LogEntries > 0 {
		add(row{Metric: "(c) rows in PostgreSQL after the drain", Ours: float64(r.Integrity.Rows), Baseline: float64(r.Integrity.LogEntries),
			BaseName: "entries in the log", Unit: "rows", Target: "= 100%", Verdict: verdict(r.Integrity.Rows == r.Integrity.LogEntries, true)})
	}
	if m := r.Interval; m.Accepted > 0 {
		add(row{Metric: "(b) entries in the log after ingest", Ours: float64(m.Received), Baseline: float64(m.Accepted),
			BaseName: "entries answered 202", Unit: "entries", Target: "= 100%", Verdict: verdict(m.Received == m.Accepted, true)})
	}
	if r.Full.Paced != nil {
		add(row{Metric: fmt.Sprintf("(d) end-to-end lag p99 @ %.0f req/s paced", r.Full.PacedRate), Ours: r.Full.Lag.P99,
			Unit: "ms", Target: "<= 1000 ms", Verdict: verdict(r.Full.Lag.P99 <= targetLagP99 && r.Full.Lag.NotVisible == 0, r.Full.Lag.Entries > 0)})
		add(row{Metric: "(d) end-to-end lag p50", Ours: r.Full.Lag.P50, Unit: "ms", Target: "-", Verdict: "info"})
	}
	if len(r.RSS) > 0 {
		var peak int64
		var who string
		for k, v := range r.RSS {
			if v > peak {
				peak, who = v, k
			}
		}
		add(row{Metric: "(e) peak RSS of serve, max of runs (" + who + ")", Ours: float64(peak) / (1 << 20), Unit: "MiB",
			Target: "<= 200 MiB", Verdict: verdict(peak <= targetRSS, true)})
	}
	for _, mm := range []modeResults{r.Interval, r.Always} {
		if mm.Single == nil || mm.Healthz == nil {
			continue
		}
		add(row{Metric: fmt.Sprintf("(f) %s: POST /api/logs, %s, api role", mm.Sync, conns), Ours: mm.Single.RPS, Baseline: mm.Healthz.RPS,
			BaseName: "GET /healthz", Unit: "req/s", Target: "-", Verdict: "info"})
		add(row{Metric: fmt.Sprintf("(f) %s: POST /api/logs p99", mm.Sync), Ours: mm.Single.P99, Baseline: mm.Healthz.P99,
			BaseName: "GET /healthz", Unit: "ms", Target: "-", Verdict: "info"})
		if mm.PGRows != nil {
			add(row{Metric: fmt.Sprintf("(f) %s: POST /api/logs vs PostgreSQL rows", mm.Sync), Ours: mm.Single.RPS, Baseline: mm.PGRows.RPS,
				BaseName: "per-row INSERT, synchronous_commit=on, " + conns, Unit: "req/s", Target: ">= 2x (issue 27)",
				Verdict: verdict(ratio(mm.Single.RPS, mm.PGRows.RPS) >= 2, mm.PGRows.RPS > 0)})
		}
		if mm.Batch != nil {
			add(row{Metric: fmt.Sprintf("(f) %s: batch ingest", mm.Sync), Ours: mm.Batch.IPS, Baseline: mm.RawEntry.IPS,
				BaseName: "raw PublishAsync, 1 entry/msg", Unit: "entries/s", Target: "-", Verdict: "info"})
		}
	}
	return out
}

func fmtNum(v float64, unit string) string {
	switch unit {
	case "ms":
		if v < 10 {
			return fmt.Sprintf("%.2f ms", v)
		}
		return fmt.Sprintf("%.0f ms", v)
	case "MiB":
		return fmt.Sprintf("%.0f MiB", v)
	}
	return fmt.Sprintf("%.0f %s", v, unit)
}

// writeTable prints the compact table and the notes needed to read it.
func writeTable(w io.Writer, r *results) {
	fmt.Fprintf(w, "eventline ingest benchmark: %d CPUs, %s, %s; %v per measurement in %d rounds; wall %v\n\n",
		r.Machine.CPUs, r.Machine.GoVersion, r.Machine.OS, r.Options.Duration, r.Options.Rounds, r.Wall.Round(time.Second))
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "metric\tours\tbaseline\tratio\ttarget\tresult")
	for _, x := range rows(r) {
		base, rat := "-", "-"
		if x.BaseName != "" {
			base = fmtNum(x.Baseline, x.Unit) + " (" + x.BaseName + ")"
		}
		if x.Ratio > 0 && x.Unit != "ms" {
			rat = fmt.Sprintf("%.0f%%", x.Ratio*100)
			if x.Ratio > 0.995 && x.Ratio < 1 {
				rat = fmt.Sprintf("%.1f%%", x.Ratio*100)
			}
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", x.Metric, fmtNum(x.Ours, x.Unit), base, rat, x.Target, x.Verdict)
	}
	tw.Flush()
	fmt.Fprintln(w)
	var notes []string
	if p := r.Full.Paced; p != nil {
		notes = append(notes, fmt.Sprintf("lag: %d entries at %.0f req/s (achieved %.0f, POST p99 from due time %.1f ms), %d never visible within %v; max %.0f ms",
			r.Full.Lag.Entries, r.Full.PacedRate, p.RPS, p.P99, r.Full.Lag.NotVisible, lagBound, r.Full.Lag.Max))
	}
	if r.Drain.Rows > 0 {
		notes = append(notes, fmt.Sprintf("drain: %d rows in %v, %d transactions (avg %.0f rows); CopyFrom: %d rows in one COPY in %v",
			r.Drain.Rows, r.Drain.Elapsed.Round(time.Millisecond), r.Drain.Batches, r.Drain.AvgBatch, r.Copy.Items, r.Copy.Elapsed.Round(time.Millisecond)))
	}
	names := make([]string, 0, len(r.RSS))
	for k := range r.RSS {
		names = append(names, k)
	}
	slices.Sort(names)
	var rss []string
	for _, k := range names {
		rss = append(rss, fmt.Sprintf("%s %.0f MiB", k, float64(r.RSS[k])/(1<<20)))
	}
	if len(rss) > 0 {
		notes = append(notes, "peak RSS (VmHWM): "+strings.Join(rss, ", "))
	}
	var errs []string
	for _, lr := range []struct {
		name string
		r    *loadResult
	}{{"A healthz", r.Full.Healthz}, {"A single", r.Full.Single}, {"A paced", r.Full.Paced},
		{"B batch", r.Interval.Batch}, {"B single", r.Interval.Single}, {"B healthz", r.Interval.Healthz},
		{"D batch", r.Always.Batch}, {"D single", r.Always.Single}, {"D healthz", r.Always.Healthz}} {
		if lr.r != nil && lr.r.Errors > 0 {
			errs = append(errs, fmt.Sprintf("%s: %d of %d failed (%s)", lr.name, lr.r.Errors, lr.r.Requests, lr.r.FirstErr))
		}
	}
	for _, rr := range []struct {
		name string
		r    rawResult
	}{{"B raw per-entry", r.Interval.RawEntry}, {"B raw per-batch", r.Interval.RawBatch},
		{"D raw per-entry", r.Always.RawEntry}, {"D raw per-batch", r.Always.RawBatch}} {
		if rr.r.Errors > 0 {
			errs = append(errs, fmt.Sprintf("%s: %d publishes failed (%s)", rr.name, rr.r.Errors, rr.r.FirstErr))
		}
	}
	if len(errs) == 0 {
		notes = append(notes, "request errors: none")
	} else {
		notes = append(notes, "request errors: "+strings.Join(errs, "; "))
	}
	notes = append(notes, fmt.Sprintf("entries average %d bytes of JSON", r.AvgEntryBytes))
	for _, e := range r.Errors {
		notes = append(notes, "PHASE FAILED: "+e)
	}
	for _, n := range notes {
		fmt.Fprintln(w, "  "+n)
	}
}

// writeJSON prints the table's rows and every raw figure.
func writeJSON(w io.Writer, r *results) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(struct {
		Rows    []row    `json:"rows"`
		Results *results `json:"results"`
	}{rows(r), r})
}
