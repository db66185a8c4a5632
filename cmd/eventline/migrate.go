package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"

	"github.com/eventline/eventline/migrations"
)

func migrate(ctx context.Context, cfg Config, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("migrate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	asJSON := fs.Bool("json", false, "print the result as JSON")
	if err := fs.Parse(args); err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	in, err := openInfra(ctx, cfg, infraNeeds{postgres: true}, log)
	if err != nil {
		return err
	}
	defer in.close()
	// openInfra already migrated; a second run reports that nothing is left.
	n, err := migrations.Up(ctx, in.pool)
	if err != nil {
		return err
	}
	if *asJSON {
		return json.NewEncoder(stdout).Encode(map[string]any{"applied": n, "status": "up to date"})
	}
	fmt.Fprintln(stdout, "database schema is up to date")
	return nil
}
