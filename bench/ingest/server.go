package main

import (
	"context"
	"time"

	"github.com/eventline/eventline/bench/internal/benchserve"
)

// clientTimeout bounds each request of the load loops.
const clientTimeout = 30 * time.Second

// serverConfig is one `eventline serve` process of the benchmark.
type serverConfig struct {
	// Name labels the process in logs and the report ("interval-all", ...).
	Name string
	// DataDir is EVENTLINE_DATA_DIR; reused when it already holds data.
	DataDir string
	// Sync is EVENTLINE_NATS_SYNC: interval or always.
	Sync string
	// Roles is EVENTLINE_ROLES.
	Roles string
	// PprofAddr, when set, asks a profiling build to serve net/http/pprof
	// there (see profile.go).
	PprofAddr string
}

// server is a running `eventline serve` child process and the peak RSS
// noted of it.
type server struct {
	*benchserve.Server
	// peak is the highest VmHWM seen at the end of the server's own work
	// (see ResetPeakRSS and notePeak); 0 until noted once.
	peak int64
}

// startServer runs bin serve with cfg on free loopback ports and waits until
// it prints its listening line; its log is Name.log beside DataDir. On any
// failure the process is stopped again.
func startServer(ctx context.Context, bin string, cfg serverConfig) (*server, error) {
	env := []string{"EVENTLINE_NATS_SYNC=" + cfg.Sync, "EVENTLINE_ROLES=" + cfg.Roles}
	if cfg.PprofAddr != "" {
		env = append(env, pprofEnv+"="+cfg.PprofAddr)
	}
	s, err := benchserve.Start(ctx, benchserve.Config{
		Bin:         bin,
		Name:        cfg.Name,
		DataDir:     cfg.DataDir,
		Env:         env,
		StopTimeout: 30 * time.Second,
	})
	if err != nil {
		return nil, err
	}
	return &server{Server: s}, nil
}

// notePeak records the peak of the window since the last ResetPeakRSS.
func (s *server) notePeak() {
	if v, err := s.PeakRSS(); err == nil {
		s.peak = max(s.peak, v)
	}
}
