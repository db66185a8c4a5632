package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
)

// opsFlags is the flag set of an operator subcommand (`projections list`,
// `reactors retry`, …): its errors and usage go to stderr, and each takes
// --json.
type opsFlags struct {
	*flag.FlagSet
	asJSON *bool
	skip   *skipFlags // a retry's (withSkip)
}

// newOpsFlags returns the flags of subcommand name, with --json described
// by jsonUsage.
func newOpsFlags(name string, stderr io.Writer, jsonUsage string) *opsFlags {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	return &opsFlags{FlagSet: fs, asJSON: fs.Bool("json", false, jsonUsage)}
}

// skipFlags are a retry's --skip SEQ, and the --by and --reason recorded
// with it.
type skipFlags struct {
	seq        *uint64
	by, reason *string
}

// withSkip adds a retry's --skip, --reason and --by, described by
// skipUsage and reasonUsage.
func (f *opsFlags) withSkip(skipUsage, reasonUsage string) *skipFlags {
	f.skip = &skipFlags{seq: f.Uint64("skip", 0, skipUsage), reason: f.String("reason", "", reasonUsage),
		by: f.String("by", "", "who skips (recorded with --skip; default $USER@hostname)")}
	return f.skip
}

// who is --by, else the person running the command ($USER@hostname).
func (s *skipFlags) who(getenv func(string) string) string {
	if *s.by != "" {
		return *s.by
	}
	return operator(getenv)
}

// parse parses args, allowing flags after positional arguments (`retry
// logs --skip 5`), and returns the one positional argument, a what's name;
// with what "", none is accepted.
func (f *opsFlags) parse(args []string, what string) (string, error) {
	pos, err := parseFlags(f.FlagSet, args)
	if err != nil {
		return "", err
	}
	if f.skip != nil {
		if err := skipGiven(f.FlagSet, *f.skip.seq); err != nil {
			return "", fmt.Errorf("%s: %w", f.Name(), err)
		}
	}
	switch {
	case what == "" && len(pos) > 0:
		return "", fmt.Errorf("%s: unexpected argument %q", f.Name(), pos[0])
	case what != "" && len(pos) != 1:
		return "", fmt.Errorf("%s: give exactly one %s name", f.Name(), what)
	case what == "":
		return "", nil
	}
	return pos[0], nil
}

// parseFlags parses args, allowing flags after positional arguments
// (`retry logs --skip 5`), and returns the positional ones.
func parseFlags(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		if fs.NArg() == 0 {
			return pos, nil
		}
		pos = append(pos, fs.Arg(0))
		args = fs.Args()[1:]
	}
}

// skipGiven refuses --skip 0: stream sequences start at 1, so it names
// nothing, and must not quietly retry everything as if it were absent.
func skipGiven(fs *flag.FlagSet, skip uint64) error {
	var err error
	fs.Visit(func(f *flag.Flag) {
		if f.Name == "skip" && skip == 0 {
			err = errors.New("--skip 0: stream sequences start at 1 (give the parked event's seq)")
		}
	})
	return err
}

// operator names who runs the command, for the skip record.
func operator(getenv func(string) string) string {
	user := getenv("USER")
	if user == "" {
		user = "unknown"
	}
	if h, err := os.Hostname(); err == nil {
		return user + "@" + h
	}
	return user
}

// parkedCmd is `projections parked NAME` and `reactors parked NAME` (sub):
// what the projection or reactor (what) NAME parked, read by list, as JSON
// or as a table (tbl).
func parkedCmd[T any](ctx context.Context, cfg Config, args []string, stdout, stderr io.Writer, sub, what string,
	list func(ctx context.Context, s *opsSession, name string) ([]T, error), tbl func(io.Writer, []T) error) error {
	fs := newOpsFlags(sub, stderr, "print JSON instead of a table")
	name, err := fs.parse(args, what)
	if err != nil {
		return err
	}
	s, err := openOps(ctx, cfg, infraNeeds{postgres: true}, stderr)
	if err != nil {
		return err
	}
	defer s.close()
	parked, err := list(ctx, s, name)
	if err != nil {
		return err
	}
	if *fs.asJSON {
		return writeJSON(stdout, map[string]any{"parked": parked})
	}
	return tbl(stdout, parked)
}
