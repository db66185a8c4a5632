package main

import (
	"context"
	"path/filepath"
	"time"

	"github.com/eventline/eventline/bench/internal/benchserve"
)

// clientTimeout bounds each request of the load loops.
const clientTimeout = 60 * time.Second

// startServer starts bin serve (every role, no memory limit) with its data
// in dir/name and its log in dir/name.log, and waits until it is ready.
func startServer(ctx context.Context, bin, dir, name string) (*benchserve.Server, error) {
	s, err := benchserve.StartReady(ctx, benchserve.Config{
		Bin:     bin,
		Name:    name,
		DataDir: filepath.Join(dir, name),
		Env:     []string{"EVENTLINE_ROLES=all", "GOMEMLIMIT="},
	})
	if err != nil {
		return nil, err
	}
	return s, nil
}
