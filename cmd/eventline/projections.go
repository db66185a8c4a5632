package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/eventline/eventline/projections"
)

const projectionsUsage = `usage: eventline projections <list|rebuild|retry|parked> [flags]

  list                          checkpoint, stream last seq, lag, rows, parked, status of every projection
  rebuild NAME|--all            rebuild from the first event into shadow tables, then swap (--dry-run, --force)
  retry NAME [--skip SEQ [--item ID]] [--by WHO] [--reason WHY]
                                re-apply parked events and entries; --skip drops the parked records of
                                event SEQ (--item: only that entry), recording who and why. For a
                                projection updated in place, each aggregate's parked events are
                                re-applied in stream order, stopping at the first that still fails
                                (it and the later ones stay parked); after --skip, the events held
                                behind the skipped one are retried in order
  parked NAME                   list parked events and entries (SEQ, ITEM) with their errors; for a
                                projection updated in place, each event's AGGREGATE and whether it is
                                the CAUSE or HELD behind an earlier parked event of its aggregate
`

// projectionsCmd dispatches `eventline projections <sub>`.
func projectionsCmd(ctx context.Context, cfg Config, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, projectionsUsage)
		return errors.New("projections: no subcommand given")
	}
	switch sub, rest := args[0], args[1:]; sub {
	case "list", "ls":
		return projectionsList(ctx, cfg, rest, stdout, stderr)
	case "rebuild":
		return projectionsRebuild(ctx, cfg, rest, stdout, stderr)
	case "retry":
		return projectionsRetry(ctx, cfg, rest, getenv, stdout, stderr)
	case "parked":
		return projectionsParked(ctx, cfg, rest, stdout, stderr)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, projectionsUsage)
		return nil
	default:
		fmt.Fprint(stderr, projectionsUsage)
		return fmt.Errorf("projections: unknown subcommand %q", sub)
	}
}

func projectionsList(ctx context.Context, cfg Config, args []string, stdout, stderr io.Writer) error {
	fs := newOpsFlags("projections list", stderr, "print JSON ({\"projections\":[…]}) instead of a table")
	if _, err := fs.parse(args, ""); err != nil {
		return err
	}
	s, err := openOps(ctx, cfg, infraNeeds{nats: true, postgres: true}, stderr)
	if err != nil {
		return err
	}
	defer s.close()
	all, err := s.inspect.Projections(ctx)
	if err != nil {
		return err
	}
	retained := map[string]retainedView{}
	for _, spec := range s.reg.Specs() {
		if spec.Retained == nil {
			continue
		}
		oldest, expired, err := spec.Retained(ctx, s.pool)
		if err != nil {
			return err
		}
		retained[spec.Name] = retainedView{Oldest: oldest, Expired: expired}
	}
	if *fs.asJSON {
		return writeJSON(stdout, map[string]any{"projections": all, "retained": retained})
	}
	rows := make([][]string, 0, len(all))
	for _, p := range all {
		rows = append(rows, []string{p.Name, p.Stream, fmt.Sprint(p.CheckpointSeq), fmt.Sprint(p.StreamLastSeq),
			fmt.Sprint(p.LagEvents), fmt.Sprintf("%.1fs", p.LagSeconds), fmt.Sprint(p.Rows), fmt.Sprint(p.Parked), p.State})
	}
	if err := table(stdout, []string{"PROJECTION", "STREAM", "CHECKPOINT", "STREAM LAST", "LAG EVENTS", "LAG", "ROWS", "PARKED", "STATUS"}, rows); err != nil {
		return err
	}
	for _, spec := range s.reg.Specs() {
		if r, ok := retained[spec.Name]; ok {
			oldest := "none (empty)"
			if r.Oldest != nil {
				oldest = r.Oldest.UTC().Format(time.RFC3339)
			}
			fmt.Fprintf(stdout, "%s: retention: oldest retained row received %s; %d rows expired\n", spec.Name, oldest, r.Expired)
		}
	}
	for _, p := range all {
		if p.HeldAggregates > 0 {
			fmt.Fprintf(stdout, "%s: %d aggregate(s) held behind a parked event; see eventline projections parked %s\n", p.Name, p.HeldAggregates, p.Name)
		}
		if p.Reason != "" {
			fmt.Fprintf(stdout, "%s: %s: %s\n", p.Name, p.State, p.Reason)
			if p.State == projections.StateStreamMismatch {
				fmt.Fprintf(stdout, "%s: applies nothing until rebuilt: eventline projections rebuild %s\n", p.Name, p.Name)
			}
		}
	}
	return nil
}

// retainedView is what a read model with retention still holds.
type retainedView struct {
	Oldest  *time.Time `json:"oldest_retained_at"`
	Expired int64      `json:"expired_rows"`
}

func projectionsRetry(ctx context.Context, cfg Config, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := newOpsFlags("projections retry", stderr, "print the result as JSON")
	skip := fs.withSkip("drop what is parked of the event with this stream sequence instead of retrying it (recorded)",
		"why the event is skipped (recorded with --skip)")
	item := fs.String("item", "", "with --skip: drop only this parked item (a log entry's id) of the event")
	name, err := fs.parse(args, "projection")
	if err != nil {
		return err
	}
	if *item != "" && *skip.seq == 0 {
		return errors.New("projections retry: --item needs --skip SEQ")
	}
	s, err := openOps(ctx, cfg, infraNeeds{nats: true, postgres: true}, stderr)
	if err != nil {
		return err
	}
	defer s.close()
	spec, err := s.reg.Get(name)
	if err != nil {
		return err
	}
	r := projections.NewRetrier(s.store, s.pool, spec)
	skipped := []projections.Skipped{}
	if *skip.seq > 0 {
		if skipped, err = r.Skip(ctx, *skip.seq, *item, skip.who(getenv), *skip.reason); err != nil {
			return err
		}
	}
	res, err := r.Retry(ctx)
	if err != nil {
		return err
	}
	if *fs.asJSON {
		return writeJSON(stdout, map[string]any{"skipped": skipped, "retry": res})
	}
	for _, sk := range skipped {
		what := fmt.Sprintf("#%d", sk.Seq)
		if sk.Item != "" {
			what += " item " + sk.Item
		}
		of := entries(sk.Items)
		if sk.Aggregate != "" {
			of = "aggregate " + sk.Aggregate
		}
		fmt.Fprintf(stdout, "%s: skipped %s (%s, %s) by %s; recorded in projection_skipped\n", spec.Name, what, sk.EventType, of, sk.SkippedBy)
	}
	fmt.Fprintf(stdout, "%s: retried %d parked: %d applied (%d rows), %d still parked\n",
		spec.Name, res.Retried, res.Applied, res.Rows, len(res.StillParked))
	if len(res.StillParked) > 0 {
		return parkedTable(stdout, res.StillParked)
	}
	return nil
}

// entries is "1 entry" or "n entries".
func entries(n int64) string {
	if n == 1 {
		return "1 entry"
	}
	return strconv.FormatInt(n, 10) + " entries"
}

func projectionsParked(ctx context.Context, cfg Config, args []string, stdout, stderr io.Writer) error {
	return parkedCmd(ctx, cfg, args, stdout, stderr, "projections parked", "projection",
		func(ctx context.Context, s *opsSession, name string) ([]projections.Parked, error) {
			spec, err := s.reg.Get(name)
			if err != nil {
				return nil, err
			}
			return projections.ListParked(ctx, s.pool, spec.Name)
		}, parkedTable)
}

// parkedTable prints parked records: by SEQ and ITEM for an insert-only
// projection, by SEQ, AGGREGATE and STATE (cause, or held behind an earlier
// parked event) when any record has an aggregate.
func parkedTable(w io.Writer, parked []projections.Parked) error {
	for _, p := range parked {
		if p.Aggregate != "" {
			return heldTable(w, parked)
		}
	}
	rows := make([][]string, 0, len(parked))
	for _, p := range parked {
		at := p.ParkedAt
		item := p.Item
		if item == "" {
			item = "(whole event)"
		}
		rows = append(rows, []string{strconv.FormatUint(p.Seq, 10), item, strconv.FormatInt(p.Items, 10), p.Subject, p.EventType, when(&at), p.Error})
	}
	return table(w, []string{"SEQ", "ITEM", "ENTRIES", "SUBJECT", "TYPE", "PARKED AT", "ERROR"}, rows)
}

// heldTable prints the parked events of a projection updated in place.
func heldTable(w io.Writer, parked []projections.Parked) error {
	rows := make([][]string, 0, len(parked))
	for _, p := range parked {
		at := p.ParkedAt
		rows = append(rows, []string{strconv.FormatUint(p.Seq, 10), p.Aggregate, parkedState(p), p.Subject, p.EventType, when(&at), p.Error})
	}
	return table(w, []string{"SEQ", "AGGREGATE", "STATE", "SUBJECT", "TYPE", "PARKED AT", "ERROR"}, rows)
}

// parkedState says whether p failed itself ("cause") or waits behind an
// earlier parked event of its aggregate.
func parkedState(p projections.Parked) string {
	if p.Held() {
		return fmt.Sprintf("held, waiting for #%d", p.HeldBy)
	}
	return "cause"
}
