package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"text/tabwriter"
	"time"
)

// Targets of issue 10.
const (
	targetRSS         = 300 << 20
	targetLookupRatio = 0.80
)

// results is everything measured.
type results struct {
	Memory  memoryResult  `json:"memory"`
	Lookups lookupResult  `json:"lookups"`
	Outage  outageResult  `json:"outage"`
	Wall    time.Duration `json:"wall_ns"`
}

func verdict(ok bool) string {
	if ok {
		return "PASS"
	}
	return "FAIL"
}

func mib(b int64) float64 { return float64(b) / (1 << 20) }

func report(w io.Writer, o options, r results) error {
	if o.JSON {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(struct {
			Options options `json:"options"`
			results
		}{o, r})
	}
	m, l := r.Memory, r.Lookups
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "metric\tours\tbaseline\tratio\ttarget\tverdict\t")
	if m.Peak > 0 {
		fmt.Fprintf(tw, "peak RSS, %d clients x 16 MiB batches (MiB)\t%.0f\t%.0f\t%.2f\t<= %d\t%s\t\n",
			o.BigClients, mib(m.Peak), mib(m.BasePeak), float64(m.Peak)/float64(max(m.BasePeak, 1)), targetRSS>>20, verdict(m.Peak <= targetRSS))
	}
	if l.Baseline.Elapsed > 0 {
		ratio := l.WithLookups.rate(http.StatusAccepted) / max(l.Baseline.rate(http.StatusAccepted), 1e-9)
		fmt.Fprintf(tw, "ingest with %d lookup clients (202/s)\t%.0f\t%.0f\t%.2f\t>= %.2f\t%s\t\n",
			o.Lookups, l.WithLookups.rate(http.StatusAccepted), l.Baseline.rate(http.StatusAccepted), ratio, targetLookupRatio, verdict(ratio >= targetLookupRatio))
	}
	if u := r.Outage; u.Entries > 0 {
		fmt.Fprintf(tw, "RSS after %d entries accepted, PostgreSQL down (MiB)\t%.0f\t%.0f\t%.2f\t<= %d\t%s\t\n",
			u.Entries, mib(u.DownRSS), mib(u.BaseRSS), float64(u.DownRSS)/float64(max(u.BaseRSS, 1)), targetRSS>>20, verdict(u.DownRSS <= targetRSS))
		fmt.Fprintf(tw, "RSS after stats counted that backlog (MiB)\t%.0f\t%.0f\t%.2f\t<= %d\t%s\t\n",
			mib(u.StatsRSS), mib(u.BaseRSS), float64(u.StatsRSS)/float64(max(u.BaseRSS, 1)), targetRSS>>20, verdict(u.StatsRSS <= targetRSS))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(w)
	if u := r.Outage; u.Entries > 0 {
		fmt.Fprintf(w, "outage: %d entries (%d events) accepted in %v with PostgreSQL down, peak RSS %.0f MiB; stats then said pending %d; landed %v after PostgreSQL came back; persisted - accepted = %d\n",
			u.Entries, u.Events, u.Accept.Round(time.Millisecond), mib(u.DownPeak), u.Pending, u.Drained.Round(time.Millisecond), u.PersistedDiff)
	}
	if m.Peak > 0 {
		fmt.Fprintf(w, "16 MiB batches: baseline 1 client %s; hostile %d clients %s\n", m.Baseline.summary(), o.BigClients, m.Hostile.summary())
	}
	if l.Baseline.Elapsed > 0 {
		fmt.Fprintf(w, "lookups of made-up ids (last %v): %s, %.0f answers/s\n", o.LookupWindow, l.Lookups.summary(),
			float64(l.Lookups.Status[http.StatusNotFound]+l.Lookups.Status[http.StatusServiceUnavailable])/max(l.Lookups.Elapsed.Seconds(), 1e-9))
		fmt.Fprintf(w, "ingest alone %s; with lookups %s\n", l.Baseline.summary(), l.WithLookups.summary())
	}
	fmt.Fprintf(w, "wall %v; one run on a shared machine: expect noise of 10-20%% in the rates\n", r.Wall.Round(time.Second))
	return nil
}

// summary lists the answers by status.
func (c counts) summary() string {
	s := ""
	for _, code := range []int{200, 202, 404, 413, 429, 500, 503} {
		if n := c.Status[code]; n > 0 {
			s += fmt.Sprintf("%d x %d, ", n, code)
		}
	}
	for code, n := range c.Status {
		switch code {
		case 200, 202, 404, 413, 429, 500, 503:
		default:
			s += fmt.Sprintf("%d x %d, ", n, code)
		}
	}
	s += fmt.Sprintf("%d transport errors", c.Transport)
	if c.FirstErr != "" {
		s += " (first: " + c.FirstErr + ")"
	}
	if c.NoRetryAfter > 0 {
		s += fmt.Sprintf(", %d x 503 without Retry-After", c.NoRetryAfter)
	}
	return s
}
