package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"runtime/debug"
	"slices"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/eventline/eventline/eventstore"
	"github.com/eventline/eventline/platform/module"
)

// replayOptions are the flags of `eventline replay`.
type replayOptions struct {
	stream, subject, since, aggregate string
	types                             []string
	fromSeq, toSeq, limit             uint64
	asJSON, allowGaps, full           bool
}

// replayCmd is `eventline replay`: print a stream's events in order, one per
// line, reading with an ordered consumer (nothing left on the server) in
// constant memory. Missing sequences are printed where they occur and make
// the command fail unless --allow-gaps is given.
func replayCmd(ctx context.Context, cfg Config, args []string, stdout, stderr io.Writer) error {
	var o replayOptions
	fs := flag.NewFlagSet("replay", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.stream, "stream", "", "stream to read (default: the stream of the --type events, else "+modules(cfg).Streams()[0].Name+")")
	fs.StringVar(&o.subject, "subject", "", "subject filter (wildcards allowed)")
	fs.Uint64Var(&o.fromSeq, "from-seq", 0, "first stream sequence")
	fs.StringVar(&o.since, "since", "", "start at events stored this long ago (e.g. 15m) or since an RFC 3339 time")
	fs.Uint64Var(&o.toSeq, "to-seq", 0, "last stream sequence (default: the stream's last when the replay starts)")
	fs.Uint64Var(&o.limit, "limit", 0, "print at most this many events")
	typ := fs.String("type", "", "only events of these types (comma list)")
	fs.StringVar(&o.aggregate, "aggregate", "", "only the history of this aggregate (the last token of its subject)")
	fs.BoolVar(&o.asJSON, "json", false, "one JSON object per line: seq, time, subject, id, type, occurred_at, correlation/causation ids, data")
	fs.BoolVar(&o.allowGaps, "allow-gaps", false, "report missing sequences but exit 0")
	fs.BoolVar(&o.full, "full", false, fmt.Sprintf("print each event's data whole (people's lines cut it at %d characters; --json never does)", replayDataWidth))
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("replay: unexpected argument %q", fs.Arg(0))
	}
	if *typ != "" {
		o.types = strings.Split(*typ, ",")
	}
	if err := o.resolveStream(modules(cfg), stderr); err != nil {
		return err
	}
	ropt, err := o.readOptions(time.Now())
	if err != nil {
		return err
	}
	s, err := openOps(ctx, cfg, infraNeeds{nats: true}, stderr)
	if err != nil {
		return err
	}
	defer s.close()
	if err := knownStream(ctx, s.store.JetStream(), o.stream); err != nil {
		return fmt.Errorf("replay: %w", err)
	}
	// Replay allocates per message and keeps almost nothing: trade a little
	// memory for less garbage collection.
	defer debug.SetGCPercent(debug.SetGCPercent(400))
	w := bufio.NewWriterSize(stdout, 256<<10)
	p := &replayPrinter{w: w, o: o, start: max(ropt.FromSeq, 1), since: ropt.StartTime != nil}
	if len(ropt.Subjects) > 0 {
		// With a filter, sequences jump by design: deleted messages are
		// found from the stream's deleted list instead.
		if p.gaps, err = deletedRanges(ctx, s.store, o.stream); err != nil {
			return err
		}
	} else {
		ropt.OnGap = p.gap
	}
	err = s.store.Read(ctx, o.stream, ropt, p.event)
	if err == nil {
		err = p.flushGaps(ropt.ToSeq, true)
	}
	if err == nil && !o.asJSON && p.printed == 0 && len(p.reported) == 0 {
		fmt.Fprintln(w, "none")
	}
	if ferr := w.Flush(); err == nil {
		err = ferr
	}
	if err != nil {
		return fmt.Errorf("replay %s: %w", o.stream, err)
	}
	if len(p.reported) > 0 && !o.allowGaps {
		return fmt.Errorf("replay %s: %d gap(s) in the stream: %s", o.stream, len(p.reported), strings.Join(p.reported, ", "))
	}
	return nil
}

// readOptions turns the flags into a read.
func (o replayOptions) readOptions(now time.Time) (eventstore.ReadOptions, error) {
	r := eventstore.ReadOptions{FromSeq: o.fromSeq, ToSeq: o.toSeq}
	if o.since != "" {
		if o.fromSeq > 0 {
			return r, errors.New("replay: --from-seq and --since exclude each other")
		}
		start, err := parseSince(o.since, now)
		if err != nil {
			return r, err
		}
		r.StartTime = &start
	}
	if o.toSeq > 0 && o.fromSeq > o.toSeq {
		return r, fmt.Errorf("replay: --from-seq %d is after --to-seq %d", o.fromSeq, o.toSeq)
	}
	switch {
	case o.subject != "":
		r.Subjects = []string{o.subject}
	case o.aggregate != "":
		if strings.ContainsAny(o.aggregate, ".*> ") {
			return r, fmt.Errorf("replay: --aggregate %q: an aggregate id is one subject token", o.aggregate)
		}
		// One subject per aggregate, its id last: match it at any depth up to 4.
		for p := "*."; len(r.Subjects) < 4; p += "*." {
			r.Subjects = append(r.Subjects, p+o.aggregate)
		}
	}
	return r, nil
}

func parseSince(s string, now time.Time) (time.Time, error) {
	if d, err := time.ParseDuration(s); err == nil {
		if d < 0 {
			return time.Time{}, fmt.Errorf("replay: --since %q must not be negative", s)
		}
		return now.Add(-d), nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("replay: --since %q: want a duration (15m) or an RFC 3339 time", s)
	}
	return t, nil
}

// deletedRanges lists the stream's deleted sequences as ranges.
func deletedRanges(ctx context.Context, store *eventstore.Store, stream string) ([][2]uint64, error) {
	st, err := store.JetStream().Stream(ctx, stream)
	if err != nil {
		return nil, fmt.Errorf("open stream %s: %w", stream, err)
	}
	info, err := st.Info(ctx, jetstream.WithDeletedDetails(true))
	if err != nil {
		return nil, fmt.Errorf("stream info %s: %w", stream, err)
	}
	deleted := slices.Clone(info.State.Deleted)
	slices.Sort(deleted)
	var out [][2]uint64
	for _, seq := range deleted {
		if n := len(out); n > 0 && out[n-1][1]+1 == seq {
			out[n-1][1] = seq
			continue
		}
		out = append(out, [2]uint64{seq, seq})
	}
	return out, nil
}

// resolveStream checks --type against the registered decode table and picks
// the stream to read when --stream is not given: the one holding those
// types, else the first registered stream. A type no module registers is
// refused, unless --stream names the stream to filter anyway (old or
// foreign events), which is warned about.
func (o *replayOptions) resolveStream(mods module.Set, stderr io.Writer) error {
	events := mods.Events()
	var streams []string
	for _, t := range o.types {
		if !events.Known(t) {
			if o.stream == "" {
				return fmt.Errorf("replay: unknown event type %q (known: %s)", t, strings.Join(events.Types(), ", "))
			}
			fmt.Fprintf(stderr, "replay: no module registers event type %q; filtering %s by it anyway\n", t, o.stream)
			continue
		}
		if st, ok := mods.StreamOf(t); ok && !slices.Contains(streams, st) {
			streams = append(streams, st)
		}
	}
	if o.stream != "" {
		return nil
	}
	switch len(streams) {
	case 0:
		o.stream = mods.Streams()[0].Name
	case 1:
		o.stream = streams[0]
	default:
		return fmt.Errorf("replay: the types are on streams %s: choose one with --stream", strings.Join(streams, ", "))
	}
	return nil
}
