package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/eventline/eventline/platform/module"
	"github.com/eventline/eventline/platform/reactor"
)

const reactorsUsage = `usage: eventline reactors <list|parked|retry> [flags]

  list                          every reactor: stream, consumer, pending, ack pending, redelivered, parked
  parked NAME                   list the messages NAME parked (SEQ) with their errors and attempts
  retry NAME [--skip SEQ --by WHO --reason WHY]
                                run NAME's handler again on its parked messages, read back from the
                                stream; --skip drops the parked message SEQ instead, recording who and why
`

// reactorsCmd dispatches `eventline reactors <sub>` over the reactors of
// the modules mods.
func reactorsCmd(ctx context.Context, cfg Config, mods module.Set, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, reactorsUsage)
		return errors.New("reactors: no subcommand given")
	}
	switch sub, rest := args[0], args[1:]; sub {
	case "list", "ls":
		return reactorsList(ctx, cfg, mods, rest, stdout, stderr)
	case "parked":
		return reactorsParked(ctx, cfg, mods, rest, stdout, stderr)
	case "retry":
		return reactorsRetry(ctx, cfg, mods, rest, getenv, stdout, stderr)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, reactorsUsage)
		return nil
	default:
		fmt.Fprint(stderr, reactorsUsage)
		return fmt.Errorf("reactors: unknown subcommand %q", sub)
	}
}

// reactorStatus is one line of `reactors list`.
type reactorStatus struct {
	Name        string   `json:"name"`
	Stream      string   `json:"stream"`
	Subjects    []string `json:"subjects"`
	Consumer    string   `json:"consumer"`
	Pending     uint64   `json:"pending"`
	AckPending  int      `json:"ack_pending"`
	Redelivered int      `json:"redelivered"`
	Parked      int64    `json:"parked"`
	// State is "ok", or "no consumer" before the reactor first ran.
	State string `json:"state"`
}

func reactorsList(ctx context.Context, cfg Config, mods module.Set, args []string, stdout, stderr io.Writer) error {
	fs := newOpsFlags("reactors list", stderr, "print JSON ({\"reactors\":[…]}) instead of a table")
	if _, err := fs.parse(args, ""); err != nil {
		return err
	}
	s, err := openOps(ctx, cfg, infraNeeds{nats: true, postgres: true}, stderr)
	if err != nil {
		return err
	}
	defer s.close()
	reg, err := s.reactors(mods)
	if err != nil {
		return err
	}
	parked, err := reactor.CountParked(ctx, s.pool)
	if err != nil {
		return err
	}
	all := []reactorStatus{}
	for _, r := range reg.All() {
		st := reactorStatus{Name: r.Name, Stream: r.Stream, Subjects: r.Subjects, Consumer: r.Consumer(), Parked: parked[r.Name], State: "ok"}
		c, err := s.store.JetStream().Consumer(ctx, r.Stream, r.Consumer())
		switch {
		case errors.Is(err, jetstream.ErrConsumerNotFound), errors.Is(err, jetstream.ErrStreamNotFound):
			st.State = "no consumer"
		case err != nil:
			return fmt.Errorf("reactor %s: consumer: %w", r.Name, err)
		default:
			ci := c.CachedInfo()
			st.Pending, st.AckPending, st.Redelivered = ci.NumPending, ci.NumAckPending, ci.NumRedelivered
		}
		all = append(all, st)
	}
	if *fs.asJSON {
		return writeJSON(stdout, map[string]any{"reactors": all})
	}
	rows := make([][]string, 0, len(all))
	for _, r := range all {
		rows = append(rows, []string{r.Name, r.Stream, r.Consumer, fmt.Sprint(r.Pending), fmt.Sprint(r.AckPending),
			fmt.Sprint(r.Redelivered), fmt.Sprint(r.Parked), r.State})
	}
	return table(stdout, []string{"REACTOR", "STREAM", "CONSUMER", "PENDING", "ACK PENDING", "REDELIVERED", "PARKED", "STATUS"}, rows)
}

func reactorsParked(ctx context.Context, cfg Config, mods module.Set, args []string, stdout, stderr io.Writer) error {
	return parkedCmd(ctx, cfg, args, stdout, stderr, "reactors parked", "reactor",
		func(ctx context.Context, s *opsSession, name string) ([]reactor.Parked, error) {
			r, err := s.reactor(mods, name)
			if err != nil {
				return nil, err
			}
			return reactor.ListParked(ctx, s.pool, r.Name)
		}, reactorParkedTable)
}

func reactorsRetry(ctx context.Context, cfg Config, mods module.Set, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := newOpsFlags("reactors retry", stderr, "print the result as JSON")
	skip := fs.withSkip("drop the parked message with this stream sequence instead of retrying it (recorded)",
		"why the message is skipped (recorded with --skip)")
	name, err := fs.parse(args, "reactor")
	if err != nil {
		return err
	}
	s, err := openOps(ctx, cfg, infraNeeds{nats: true, postgres: true}, stderr)
	if err != nil {
		return err
	}
	defer s.close()
	r, err := s.reactor(mods, name)
	if err != nil {
		return err
	}
	rt := reactor.NewRetrier(s.store, s.pool, r)
	if *skip.seq > 0 {
		sk, err := rt.Skip(ctx, *skip.seq, skip.who(getenv), *skip.reason)
		if err != nil {
			return err
		}
		if *fs.asJSON {
			return writeJSON(stdout, map[string]any{"skipped": sk})
		}
		fmt.Fprintf(stdout, "%s: skipped #%d (%s) by %s; recorded in reactor_skipped\n", r.Name, sk.Seq, sk.EventType, sk.SkippedBy)
		return nil
	}
	res, err := rt.Retry(ctx)
	if err != nil {
		return err
	}
	if *fs.asJSON {
		return writeJSON(stdout, map[string]any{"retry": res})
	}
	fmt.Fprintf(stdout, "%s: retried %d parked: %d handled, %d still parked\n", r.Name, res.Retried, res.Handled, len(res.StillParked))
	if len(res.StillParked) > 0 {
		return reactorParkedTable(stdout, res.StillParked)
	}
	return nil
}

func reactorParkedTable(w io.Writer, parked []reactor.Parked) error {
	rows := make([][]string, 0, len(parked))
	for _, p := range parked {
		at := p.ParkedAt
		rows = append(rows, []string{strconv.FormatUint(p.Seq, 10), p.Stream, p.Subject, p.EventType, p.EventID,
			strconv.Itoa(p.Attempts), when(&at), p.Error})
	}
	return table(w, []string{"SEQ", "STREAM", "SUBJECT", "TYPE", "EVENT ID", "ATTEMPTS", "PARKED AT", "ERROR"}, rows)
}

// reactors returns the reactors of mods built over the session's
// connections, so that a retry runs the real handler.
func (s *opsSession) reactors(mods module.Set) (*reactor.Registry, error) {
	return mods.Reactors(module.Deps{Store: s.store, Pool: s.pool, Log: s.log})
}

// reactor returns the reactor name of mods.
func (s *opsSession) reactor(mods module.Set, name string) (reactor.Reactor, error) {
	reg, err := s.reactors(mods)
	if err != nil {
		return reactor.Reactor{}, err
	}
	return reg.Get(name)
}
