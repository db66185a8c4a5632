package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"time"
)

// consumersCmd is `eventline consumers [--stream S] [--json]`: every
// JetStream consumer, next to the PostgreSQL checkpoint of the projection it
// feeds and the drift between the two.
func consumersCmd(ctx context.Context, cfg Config, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("consumers", flag.ContinueOnError)
	fs.SetOutput(stderr)
	stream := fs.String("stream", "", "only the consumers of this stream")
	asJSON := fs.Bool("json", false, "print JSON ({\"consumers\":[…]}) instead of a table")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("consumers: unexpected argument %q", fs.Arg(0))
	}
	s, err := openOps(ctx, cfg, infraNeeds{nats: true, postgres: true}, stderr)
	if err != nil {
		return err
	}
	defer s.close()
	if *stream != "" {
		if err := knownStream(ctx, s.store.JetStream(), *stream); err != nil {
			return fmt.Errorf("consumers: %w", err)
		}
	}
	cons, err := s.inspect.Consumers(ctx, *stream)
	if err != nil {
		return err
	}
	if *asJSON {
		return writeJSON(stdout, map[string]any{"consumers": cons})
	}
	now := time.Now()
	rows := make([][]string, 0, len(cons))
	for _, c := range cons {
		proj, cp, drift := "-", "-", "-"
		if c.Projection != "" {
			proj, cp, drift = c.Projection, fmt.Sprint(*c.CheckpointSeq), fmt.Sprintf("%+d", *c.Drift)
		} else if c.Reactor != "" {
			proj = "reactor " + c.Reactor
		}
		rows = append(rows, []string{c.Stream, c.Name, fmt.Sprint(c.Pending), fmt.Sprint(c.AckPending),
			fmt.Sprint(c.Redelivered), fmt.Sprint(c.Waiting), fmt.Sprint(c.LastDeliveredSeq),
			fmt.Sprint(c.AckFloorSeq), ago(c.LastActive, now), proj, cp, drift})
	}
	return table(stdout, []string{"STREAM", "CONSUMER", "PENDING", "ACK PENDING", "REDELIVERED", "WAITING",
		"LAST DELIVERED", "ACK FLOOR", "LAST ACTIVE", "FEEDS", "CHECKPOINT", "DRIFT"}, rows)
}
