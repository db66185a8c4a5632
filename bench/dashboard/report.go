package main

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"text/tabwriter"
	"time"
)

// Targets of issue 14.
const (
	targetFirstByte = 50 * time.Millisecond
	targetRender    = 500 * time.Millisecond
)

func verdict(ok bool) string {
	if ok {
		return "met"
	}
	return "MISSED"
}

// report prints the table of every target's figures.
func report(w io.Writer, o options, s seeded, res []result) {
	auth := "no API token"
	if o.Token != "" {
		auth = "API token set, requests with the session cookie"
	}
	fmt.Fprintf(w, "dashboard pages of `eventline serve` (embedded NATS, managed PostgreSQL; %s), read models seeded in %.0f s:\n"+
		"  %d log_entries, %d sagas + %d saga_steps, %d workflows of %d customers + %d sync_runs.\n"+
		"  first byte: %d sequential keep-alive GETs (after 3); render: headless Chromium 1366x900, navigation start ->\n"+
		"  load event and every htmx fragment settled, p50 of %d loads (after 2). Targets: first byte <= %d ms, render <= %d ms.\n\n",
		auth, s.Took.Seconds(), s.LogEntries, s.Sagas, s.Sagas*s.StepsPerSaga, s.Workflows, s.Customers,
		s.Customers*s.SyncRunsPerCustomer, o.Gets, o.Loads, targetFirstByte.Milliseconds(), targetRender.Milliseconds())
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "page\tHTTP\tfirst byte p50\tp99\ttarget\trender p50\tmax\tfragments\ttarget\t")
	for _, r := range res {
		name := r.Name
		if r.Baseline {
			name = "baseline: " + name
		}
		if r.Status == http.StatusNotFound && !r.Baseline {
			fmt.Fprintf(tw, "%s\t404\tnot found (404)\t\t\t\t\t\t\t\n", name)
			continue
		}
		fbVerdict := verdict(r.FirstP99 <= targetFirstByte)
		if r.Baseline {
			fbVerdict = "(baseline)"
		}
		render, rmax, frags, rVerdict := "—", "", "", ""
		switch {
		case r.RenderErr != "":
			render, rVerdict = "failed", "MISSED"
		case r.Render:
			render, rmax, frags = fmt.Sprintf("%.1f ms", ms(r.RenderP50)), fmt.Sprintf("%.1f ms", ms(r.RenderMax)), fmt.Sprint(r.Fragments)
			rVerdict = verdict(r.RenderP50 <= targetRender)
			if r.Baseline {
				rVerdict = "(baseline)"
			}
		}
		fmt.Fprintf(tw, "%s\t%d\t%.2f ms\t%.2f ms\t%s\t%s\t%s\t%s\t%s\t\n", name, r.Status, ms(r.FirstP50), ms(r.FirstP99),
			fbVerdict, render, rmax, frags, rVerdict)
	}
	tw.Flush()
	for _, r := range res {
		if r.RenderErr != "" {
			fmt.Fprintf(w, "  %s: render %s\n", r.Name, r.RenderErr)
		}
	}
	fmt.Fprintln(w, strings.Repeat("-", 20))
	fmt.Fprintln(w, "first byte is held to its target at p99; a page not on this build is listed as not found (404).")
}
