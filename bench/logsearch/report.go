package main

import (
	"fmt"
	"io"
	"time"
)

// report prints every figure beside its baseline and target.
func report(w io.Writer, o options, r result) {
	ms := func(d time.Duration) string { return fmt.Sprintf("%.1f ms", float64(d.Microseconds())/1000) }
	verdict := func(ok bool) string {
		if ok {
			return "ok"
		}
		return "MISSED"
	}
	fmt.Fprintf(w, "bench/logsearch: %d rows over 7 days, %d clients, %ds per ingest phase\n", o.Rows, o.Clients, o.Seconds)
	ratio := 0.0
	if r.Ingest.BatchPerSec > 0 {
		ratio = r.Ingest.OTLPPerSec / r.Ingest.BatchPerSec
	}
	fmt.Fprintf(w, "1. ingest, 100 per request, durable 2xx:\n")
	fmt.Fprintf(w, "   POST /v1/logs (OTLP protobuf)   %8.0f entries/s (%d not 2xx)\n", r.Ingest.OTLPPerSec, r.Ingest.OTLPErrors)
	fmt.Fprintf(w, "   POST /api/logs/batch (baseline) %8.0f entries/s (%d not 2xx)\n", r.Ingest.BatchPerSec, r.Ingest.BatchErrors)
	fmt.Fprintf(w, "   ratio %.2f (target ≥ 0.5): %s\n", ratio, verdict(ratio >= 0.5))
	fmt.Fprintf(w, "2. first page (50 entries, newest first) p50 / p95; baseline: the unindexed SQL (%d queries):\n", min(5, o.Queries))
	for _, s := range r.Search {
		fmt.Fprintf(w, "   %-34s API %9s / %9s (%d rows)   baseline %10s / %10s   p95 target ≤ 100 ms: %s\n",
			s.Name, ms(s.P50), ms(s.P95), s.Rows, ms(s.BaseP50), ms(s.BaseP95), verdict(s.P95 <= 100*time.Millisecond))
	}
	fmt.Fprintf(w, "   volume histogram over 7 days (GET /logs/histogram) %s / %s (%d queries)   baseline, counting the entries %s / %s (%d)\n",
		ms(r.Histogram.P50), ms(r.Histogram.P95), r.Histogram.Queries, ms(r.Histogram.BaseP50), ms(r.Histogram.BaseP95), r.Histogram.BaseQueries)
	pr := 0.0
	if r.Projector.WithoutIndexes > 0 {
		pr = r.Projector.WithIndexes / r.Projector.WithoutIndexes
	}
	fmt.Fprintf(w, "3. projector, %d entries each, rounds alternated (with %.0f, without %.0f entries/s): with the search index %.0f entries/s, without (baseline, EVENTLINE_LOGS_SEARCH_INDEX=off) %.0f: ratio %.2f (target ≥ 0.8): %s; %d seeded entries indexed in %s\n",
		r.Projector.Entries, r.Projector.With, r.Projector.Without, r.Projector.WithIndexes, r.Projector.WithoutIndexes, pr, verdict(pr >= 0.8), o.Rows, r.Projector.IndexBuild.Round(time.Second))
	for _, d := range r.Drop.Dropped {
		fmt.Fprintf(w, "4. retention dropped %s (%d entries, %.0f MiB) in %s: detach concurrently %s + read its count %s + drop %s + record %s + commit (deletes the files) %s (target ≤ 1 s: %s)\n",
			d.Partition, d.Entries, float64(d.Bytes)/(1<<20), ms(d.Took), ms(d.Detach), ms(d.Count), ms(d.Drop), ms(d.Record), ms(d.Commit), verdict(d.Took <= time.Second))
	}
	fmt.Fprintf(w, "   ingest meanwhile %.0f entries/s, %d answers not 2xx (target 0): %s\n", r.Drop.IngestPerSec, r.Drop.NotOK, verdict(r.Drop.NotOK == 0))
	fmt.Fprintf(w, "5. serve peak RSS %.0f MiB (target ≤ 300 MiB): %s\n", float64(r.PeakRSS)/(1<<20), verdict(r.PeakRSS <= 300<<20))
}
