package main

import (
	"encoding/json"
	"fmt"
	"io"
	"text/tabwriter"
)

// Targets of issue 5.
const (
	rebuildTarget = 100_000 // events/s
	replayTarget  = 200_000 // events/s
)

func report(w io.Writer, o options, r results) error {
	if o.JSON {
		return json.NewEncoder(w).Encode(map[string]any{"options": o, "results": r})
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "measurement\tevents/s\trows/s\tseconds\ttarget\t\n")
	line := func(name string, x rate, target string) {
		rows := "-"
		if x.Rows > 0 {
			rows = fmt.Sprintf("%.0f", x.rowsPerSec())
		}
		fmt.Fprintf(tw, "%s\t%.0f\t%s\t%.2f\t%s\t\n", name, x.eventsPerSec(), rows, x.Seconds, target)
	}
	line("fill (async publish, setup)", r.Fill, "")
	line("raw stream read (eventstore.Read)", r.RawRead, "baseline")
	line("replay --json > /dev/null", r.Replay, verdict(r.Replay.eventsPerSec(), replayTarget))
	line("projections rebuild logs", r.Rebuild, verdict(r.Rebuild.eventsPerSec(), rebuildTarget))
	line("raw CopyFrom (+ same indexes)", r.RawCopy, "baseline")
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(w, "raw CopyFrom: %.2f s copying, %.2f s building the indexes\n", r.RawCopy.Seconds-r.RawCopyIndexSeconds, r.RawCopyIndexSeconds)
	fmt.Fprintf(w, "rebuild: %.0f%% of the raw read rate, %.0f%% of the raw CopyFrom row rate; replay: %.0f%% of the raw read rate\n",
		100*r.Rebuild.eventsPerSec()/r.RawRead.eventsPerSec(), 100*r.Rebuild.rowsPerSec()/r.RawCopy.rowsPerSec(),
		100*r.Replay.eventsPerSec()/r.RawRead.eventsPerSec())
	return nil
}

func verdict(got, target float64) string {
	if got >= target {
		return fmt.Sprintf(">= %.0fk ok", target/1000)
	}
	return fmt.Sprintf(">= %.0fk MISSED", target/1000)
}
