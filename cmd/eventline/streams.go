package main

import (
	"cmp"
	"context"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/eventline/eventline/platform/dashboard"
	"github.com/eventline/eventline/platform/opsapi"
)

// streamsCmd is `eventline streams [--json]`: every stream with its
// subjects, messages, bytes, first and last sequence, consumers, replicas
// and leader, then (on a cluster) each replica's state, last contact and lag.
func streamsCmd(ctx context.Context, cfg Config, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("streams", flag.ContinueOnError)
	fs.SetOutput(stderr)
	asJSON := fs.Bool("json", false, "print JSON ({\"streams\":[…]}) instead of a table")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("streams: unexpected argument %q", fs.Arg(0))
	}
	s, err := openOps(ctx, cfg, infraNeeds{nats: true}, stderr)
	if err != nil {
		return err
	}
	defer s.close()
	streams, err := s.inspect.Streams(ctx)
	if err != nil {
		return err
	}
	if *asJSON {
		return writeJSON(stdout, map[string]any{"streams": streams})
	}
	return printStreams(stdout, streams)
}

// printStreams prints the streams' table and, when any stream is
// replicated or has no leader, a table of every stream's replicas after it.
func printStreams(w io.Writer, streams []opsapi.StreamView) error {
	rows := make([][]string, 0, len(streams))
	replicated := false
	for _, st := range streams {
		if st.Unavailable != "" {
			rows = append(rows, []string{st.Name, "-", "-", "-", "-", "-", "-", "-", "-", "-", "(none)"})
			replicated = true
			continue
		}
		rows = append(rows, []string{st.Name, strings.Join(st.Subjects, ","), fmt.Sprint(st.Messages),
			dashboard.FormatBytes(st.Bytes), fmt.Sprint(st.FirstSeq), fmt.Sprint(st.LastSeq), fmt.Sprint(st.Deleted),
			fmt.Sprint(st.Consumers), when(st.LastTime), fmt.Sprint(st.Replicas), cmp.Or(st.Leader, "(none)")})
		replicated = replicated || st.Replicas > 1 || len(st.Peers) > 1
	}
	if err := table(w, []string{"STREAM", "SUBJECTS", "MESSAGES", "BYTES", "FIRST SEQ", "LAST SEQ", "DELETED", "CONSUMERS",
		"LAST MESSAGE", "REPLICAS", "LEADER"}, rows); err != nil {
		return err
	}
	if !replicated {
		return nil
	}
	rows = rows[:0]
	for _, st := range streams {
		if st.Unavailable != "" {
			rows = append(rows, []string{st.Name, "-", "-", "no leader", "-", "-"}) // --json has the reason
			continue
		}
		for _, p := range st.Peers {
			role, seen, lag := "follower", seenAgo(p.ActiveSeconds), fmt.Sprint(p.Lag)
			if p.Leader {
				role, seen, lag = "leader", "-", "-"
			}
			rows = append(rows, []string{st.Name, p.Name, role, replicaState(p), seen, lag})
		}
	}
	fmt.Fprintln(w)
	return table(w, []string{"STREAM", "REPLICA", "ROLE", "STATE", "LAST SEEN", "LAG"}, rows)
}

// replicaState is a replica's state in a word or two.
func replicaState(p opsapi.ReplicaView) string {
	switch {
	case p.Offline:
		return "offline"
	case !p.Current:
		return "catching up"
	}
	return "current"
}

// seenAgo formats how long ago a replica was last heard from.
func seenAgo(seconds float64) string {
	d := time.Duration(seconds * float64(time.Second))
	if d < time.Second {
		return d.Round(time.Millisecond).String() + " ago"
	}
	return d.Round(100*time.Millisecond).String() + " ago"
}
