package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/eventline/eventline/handlers/dashboard"
)

// streamsCmd is `eventline streams [--json]`: every stream with its
// subjects, messages, bytes, first and last sequence and consumers.
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
	rows := make([][]string, 0, len(streams))
	for _, st := range streams {
		rows = append(rows, []string{st.Name, strings.Join(st.Subjects, ","), fmt.Sprint(st.Messages),
			dashboard.FormatBytes(st.Bytes), fmt.Sprint(st.FirstSeq), fmt.Sprint(st.LastSeq), fmt.Sprint(st.Deleted),
			fmt.Sprint(st.Consumers), when(st.LastTime)})
	}
	return table(stdout, []string{"STREAM", "SUBJECTS", "MESSAGES", "BYTES", "FIRST SEQ", "LAST SEQ", "DELETED", "CONSUMERS", "LAST MESSAGE"}, rows)
}
