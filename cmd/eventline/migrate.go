package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"time"

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
	in, err := openInfra(ctx, cfg, infraNeeds{postgres: true, migrate: true}, log)
	if err != nil {
		return err
	}
	defer in.close()
	current, _, err := migrations.Versions(ctx, in.pool)
	if err != nil {
		return err
	}
	applied := in.migrated
	if applied == nil {
		applied = []migrations.Applied{}
	}
	if *asJSON {
		return json.NewEncoder(stdout).Encode(map[string]any{"applied": applied, "version": current})
	}
	for _, a := range applied {
		fmt.Fprintf(stdout, "applied %s (version %d) in %v\n", a.Name, a.Version, a.Duration.Round(time.Millisecond))
	}
	if len(applied) == 0 {
		fmt.Fprintf(stdout, "nothing to apply: database schema is at version %d\n", current)
		return nil
	}
	fmt.Fprintf(stdout, "database schema is now at version %d\n", current)
	return nil
}
