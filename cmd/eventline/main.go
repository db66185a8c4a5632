package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	if err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "eventline:", oneLine(err))
		}
		os.Exit(1)
	}
}

const usage = `usage: eventline <command> [flags]

commands:
  serve         run the HTTP API, projectors and (by default) embedded NATS and PostgreSQL
  migrate       apply database migrations
  replay        print a stream's events in order (--json for scripts)
  projections   list, rebuild, retry: the read models and where they stand
  reactors      list, parked, retry: the reactors and the messages they parked
  consumers     every JetStream consumer, next to the checkpoint it feeds
  streams       every JetStream stream
  cluster       the processes that drive sagas, their heartbeats, and the owner of each saga partition
  sync-workflows  sync customers' Zuora workflows now (--customer NAME | --all) and print their stats
  version       print the version

Configuration comes from the environment (see README.md); run
'eventline <command> -h' for a command's flags.
`

// run is the composition root: it dispatches to a command with everything
// that command may touch passed in, so that tests run the real program.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return errors.New("no command given")
	}
	cfg, err := loadConfig(getenv)
	if err != nil {
		return err
	}
	err = dispatch(ctx, cfg, args, getenv, stdout, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return nil // -h asked for a command's flags: printed, not a failure
	}
	return err
}

// dispatch runs the command args[0] with the rest of args.
func dispatch(ctx context.Context, cfg Config, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	cmd, rest := args[0], args[1:]
	switch cmd {
	case "serve":
		return serve(ctx, cfg, rest, getenv, stdout, stderr)
	case "migrate":
		return migrate(ctx, cfg, rest, stdout, stderr)
	case "replay":
		return replayCmd(ctx, cfg, rest, stdout, stderr)
	case "projections":
		return projectionsCmd(ctx, cfg, rest, getenv, stdout, stderr)
	case "reactors":
		return reactorsCmd(ctx, cfg, modules(cfg), rest, getenv, stdout, stderr)
	case "consumers":
		return consumersCmd(ctx, cfg, rest, stdout, stderr)
	case "streams":
		return streamsCmd(ctx, cfg, rest, stdout, stderr)
	case "cluster":
		return clusterCmd(ctx, cfg, rest, stdout, stderr)
	case "sync-workflows":
		return syncWorkflowsCmd(ctx, cfg, rest, stdout, stderr)
	case "version":
		fmt.Fprintln(stdout, "eventline", version)
		return nil
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	}
	fmt.Fprint(stderr, usage)
	return fmt.Errorf("unknown command %q", cmd)
}

// version is set at build time with -ldflags "-X main.version=…".
var version = "dev"

// oneLine keeps an error message to a single line for the terminal.
func oneLine(err error) string {
	s := err.Error()
	for i := 0; i < len(s); i++ {
		if s[i] == '\n' {
			return s[:i] + " (and more)"
		}
	}
	return s
}
