package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"runtime/debug"
	"strconv"
	"time"

	"github.com/schollz/progressbar/v3"

	"github.com/eventline/eventline/projections"
)

// projectionsRebuild is `eventline projections rebuild NAME|--all`: each
// projection is rebuilt into shadow tables while the live ones keep serving,
// then swapped in; progress goes to stderr, the result to stdout.
func projectionsRebuild(ctx context.Context, cfg Config, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("projections rebuild", flag.ContinueOnError)
	fs.SetOutput(stderr)
	all := fs.Bool("all", false, "rebuild every projection")
	dryRun := fs.Bool("dry-run", false, "build and compare, then drop the shadow instead of swapping")
	force := fs.Bool("force", false, "swap even when the shadow differs from the live model (after a projection fix)")
	batch := fs.Int("batch", 20000, "events per shadow transaction")
	quiet := fs.Bool("quiet", false, "no progress bar")
	asJSON := fs.Bool("json", false, "print one JSON result per projection")
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if *all == (len(pos) > 0) || len(pos) > 1 {
		return errors.New("projections rebuild: give one projection name or --all")
	}
	s, err := openOps(ctx, cfg, infraNeeds{nats: true, postgres: true}, stderr)
	if err != nil {
		return err
	}
	defer s.close()
	specs := s.reg.Specs()
	if !*all {
		spec, err := s.reg.Get(pos[0])
		if err != nil {
			return err
		}
		specs = []projections.Spec{spec}
	}
	// A rebuild allocates at a high rate and keeps little: trade some memory
	// for less garbage collection.
	defer debug.SetGCPercent(debug.SetGCPercent(400))
	for _, spec := range specs {
		opt := projections.RebuildOptions{BatchSize: *batch, DryRun: *dryRun, Force: *force}
		var bar *progressBar
		if !*quiet {
			bar = newProgressBar(stderr, spec.Name)
			opt.Progress = bar.update
		}
		res, err := projections.NewRebuilder(s.store, s.pool, spec, opt).Run(ctx)
		bar.finish()
		if err != nil {
			return err
		}
		if *asJSON {
			if err := writeJSON(stdout, res); err != nil {
				return err
			}
			continue
		}
		printRebuild(stdout, res)
	}
	return nil
}

func printRebuild(w io.Writer, res projections.RebuildResult) {
	if res.StreamReplaced != "" {
		fmt.Fprintf(w, "%s: live model not compared: %s; replaced by the rebuild\n", res.Name, res.StreamReplaced)
	}
	if res.StreamFirstSeq > 1 {
		fmt.Fprintf(w, "%s: rebuilt what the stream still holds, from #%d: events #1-#%d expired (retention); rows of those are neither compared nor kept\n",
			res.Name, res.StreamFirstSeq, res.StreamFirstSeq-1)
	}
	for _, c := range res.Compared {
		verdict := "match"
		if !c.Match {
			verdict = "DIFFER"
		}
		fmt.Fprintf(w, "%s: %s live %d rows, shadow %d rows at #%d: %s\n", res.Name, c.Table, c.LiveRows, c.ShadowRows, res.LiveSeq, verdict)
	}
	outcome := fmt.Sprintf("swapped in at #%d", res.LastSeq)
	if res.DryRun {
		outcome = "dry run, nothing swapped"
	}
	// The rate is of the events applied over the time spent applying them
	// (the build phase and the catch-up), not over the comparison and the
	// swap that follow.
	applying := res.Phases["build"] + res.Phases["catch_up"]
	rate := "-"
	if applying > 0 {
		rate = strconv.FormatFloat(float64(res.Events)/applying, 'f', 0, 64)
	}
	fmt.Fprintf(w, "%s: %s; events applied %d, rows %d, parked %d, seconds %.2f (applying %.2f s, %s events/s)\n",
		res.Name, outcome, res.Events, res.Rows, res.Parked, res.Seconds, applying, rate)
}

// progressBar shows a rebuild's progress on stderr: a bar for the build
// phase (events applied, their rate since the build began, and the time
// left), ended with its line, then one line per later phase.
type progressBar struct {
	bar   *progressbar.ProgressBar
	w     io.Writer
	name  string
	max   int64
	phase string
	start time.Time
	// open is true while the bar's line is not ended.
	open   bool
	events int64
}

func newProgressBar(w io.Writer, name string) *progressBar {
	return &progressBar{w: w, name: name, start: time.Now()}
}

func (p *progressBar) update(pr projections.RebuildProgress) {
	if pr.Phase != "build" {
		if pr.Phase != p.phase {
			p.endBar()
			p.phase = pr.Phase
			fmt.Fprintf(p.w, "%s: %s…\n", p.name, pr.Phase)
		}
		return
	}
	p.phase, p.events = pr.Phase, pr.Events
	if p.bar == nil {
		p.max, p.open = int64(pr.Target), true
		p.bar = progressbar.NewOptions64(p.max,
			progressbar.OptionSetWriter(p.w),
			progressbar.OptionSetDescription(p.name+": build"),
			progressbar.OptionShowCount(),
			progressbar.OptionSetPredictTime(true),
			progressbar.OptionSetWidth(30),
			progressbar.OptionThrottle(200*time.Millisecond),
		)
	}
	if int64(pr.Target) > p.max {
		p.max = int64(pr.Target)
		p.bar.ChangeMax64(p.max)
	}
	// The rate is of events applied since the build began (the bar counts
	// stream sequences, which a filtered projection skips over).
	p.bar.Describe(fmt.Sprintf("%s: build, %s events/s", p.name, rateOf(pr.Events, time.Since(p.start))))
	_ = p.bar.Set64(int64(pr.Seq))
}

// rateOf formats n per second over d.
func rateOf(n int64, d time.Duration) string {
	if d <= 0 {
		return "-"
	}
	return strconv.FormatFloat(float64(n)/d.Seconds(), 'f', 0, 64)
}

// endBar fills and ends the build bar's line, once.
func (p *progressBar) endBar() {
	if p.bar == nil || !p.open {
		return
	}
	p.open = false
	p.bar.Describe(fmt.Sprintf("%s: build, %s events/s", p.name, rateOf(p.events, time.Since(p.start))))
	_ = p.bar.Finish()
	fmt.Fprintln(p.w)
}

func (p *progressBar) finish() {
	if p == nil {
		return
	}
	p.endBar()
}
