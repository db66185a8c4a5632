package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/eventline/eventline/eventstore"
	"github.com/eventline/eventline/platform/opsapi"
	"github.com/eventline/eventline/projections"
)

// opsSession is what an operator command works with: the connections it
// asked for and the views over them.
type opsSession struct {
	*infra
	reg     *projections.Registry
	inspect *opsapi.Inspector
}

// openOps connects as `serve` does (without starting anything but a managed
// PostgreSQL cluster that is not running yet) and fails fast with a one-line
// reason when JetStream or PostgreSQL cannot be reached.
func openOps(ctx context.Context, cfg Config, needs infraNeeds, stderr io.Writer) (*opsSession, error) {
	// Errors only: a command's own failure is its one-line reason, and
	// closing the connection is no news.
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelError}))
	needs.serve = false
	in, err := openInfra(ctx, cfg, needs, log)
	if err != nil {
		if needs.postgres && !errors.Is(err, eventstore.ErrUnavailable) {
			err = fmt.Errorf("postgres: %w", err)
		}
		return nil, singleLine{err}
	}
	if needs.postgres {
		pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		err := in.pool.Ping(pctx)
		cancel()
		if err != nil {
			in.close()
			return nil, fmt.Errorf("postgres unreachable: %w", err)
		}
	}
	s := &opsSession{infra: in, reg: modules(cfg).Projections()}
	if in.store != nil {
		s.inspect = opsapi.NewInspector(in.store.JetStream(), in.pool, s.reg)
	}
	return s, nil
}

// singleLine keeps an error on one line (pgx reports every connection
// attempt on a line of its own) while still unwrapping to it.
type singleLine struct{ err error }

func (e singleLine) Error() string { return strings.Join(strings.Fields(e.err.Error()), " ") }
func (e singleLine) Unwrap() error { return e.err }

// writeJSON prints v as one line of JSON.
func writeJSON(w io.Writer, v any) error {
	return json.NewEncoder(w).Encode(v)
}

// table prints rows aligned under header, or "none" when there are none.
func table(w io.Writer, header []string, rows [][]string) error {
	if len(rows) == 0 {
		_, err := fmt.Fprintln(w, "none")
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, strings.Join(header, "\t"))
	for _, r := range rows {
		fmt.Fprintln(tw, strings.Join(r, "\t"))
	}
	return tw.Flush()
}

// when formats an optional time for a table: UTC to the second, or "-".
func when(t *time.Time) string {
	if t == nil || t.IsZero() {
		return "-"
	}
	return t.UTC().Format("2006-01-02 15:04:05Z")
}

// ago formats how long ago t was, or "-".
func ago(t *time.Time, now time.Time) string {
	if t == nil || t.IsZero() {
		return "-"
	}
	return now.Sub(*t).Round(time.Second).String() + " ago"
}

// knownStream returns nil when stream exists, else one line naming it and
// the streams there are.
func knownStream(ctx context.Context, js jetstream.JetStream, stream string) error {
	_, err := js.Stream(ctx, stream)
	if err == nil || !errors.Is(err, jetstream.ErrStreamNotFound) {
		return nil // there, or unreachable: the command's own call says so
	}
	var names []string
	lister := js.StreamNames(ctx)
	for n := range lister.Name() {
		names = append(names, n)
	}
	slices.Sort(names)
	if len(names) == 0 {
		return fmt.Errorf("unknown stream %q (there are no streams: serve creates them at start)", stream)
	}
	return fmt.Errorf("unknown stream %q (streams: %s)", stream, strings.Join(names, ", "))
}
