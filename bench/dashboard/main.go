package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/eventline/eventline/bench/internal/benchcmd"
	"github.com/eventline/eventline/bench/internal/benchserve"
)

// options are the benchmark's flags.
type options struct {
	Bin   string
	Gets  int
	Loads int
	Token string
	Keep  bool
	Scale float64
}

func main() { benchcmd.Main("bench/dashboard", run) }

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var o options
	c := benchcmd.New("dashboard", stderr, benchcmd.Shared{Bin: &o.Bin, Keep: &o.Keep})
	c.IntVar(&o.Gets, "gets", 50, "GETs per page for the first-byte figures")
	c.IntVar(&o.Loads, "loads", 10, "browser loads per page for the render figure")
	c.StringVar(&o.Token, "token", "", "EVENTLINE_API_TOKEN of the server (requests then carry a session)")
	c.Float64Var(&o.Scale, "scale", 1, "fraction of the seeded volumes (1 = the issue's 1,000,000 / 100,000 / 10,000)")
	if err := c.Parse(args, func() error {
		if o.Gets < 2 || o.Loads < 1 || o.Scale <= 0 || o.Scale > 10 {
			return errors.New("--gets must be ≥ 2, --loads ≥ 1 and --scale in (0, 10]")
		}
		return nil
	}); err != nil {
		return err
	}
	logf := c.Logf
	logf("%d GETs and %d loads per page", o.Gets, o.Loads)
	root, bin, cleanup, err := c.Workdir(ctx)
	if err != nil {
		return err
	}
	defer cleanup()
	var env []string
	if o.Token != "" {
		env = append(env, "EVENTLINE_API_TOKEN="+o.Token)
	}
	srv, err := benchserve.StartReady(ctx, benchserve.Config{Bin: bin, Name: "serve", DataDir: filepath.Join(root, "data"),
		Env: env, StopTimeout: 30 * time.Second})
	if err != nil {
		return err
	}
	defer srv.StopLogged(logf)
	pgURL, err := srv.PostgresURL()
	if err != nil {
		return err
	}
	conn, err := pgx.Connect(ctx, pgURL)
	if err != nil {
		return fmt.Errorf("connect to serve's postgres: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	seeded, err := seed(ctx, conn, volumesAt(o.Scale), logf)
	if err != nil {
		return fmt.Errorf("seed: %w (serve log: %s)", err, srv.LogTail(5))
	}
	res, err := measure(ctx, o, srv.BaseURL(), seeded, logf)
	if err != nil {
		return fmt.Errorf("%w (serve log: %s)", err, srv.LogTail(5))
	}
	report(stdout, o, seeded, res)
	return nil
}
