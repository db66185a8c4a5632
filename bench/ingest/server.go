package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/eventline/eventline/eventstore"
	"github.com/eventline/eventline/internal/pgcluster"
)

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

// server is a running `eventline serve` child process.
type server struct {
	cfg      serverConfig
	cmd      *exec.Cmd
	logPath  string
	logFile  *os.File
	httpAddr string
	natsPort int
	exited   chan struct{}
	waitErr  error
	// peak is the highest VmHWM seen at the end of the server's own work
	// (see resetPeak and notePeak); 0 until noted once.
	peak int64
}

// startServer runs bin serve with cfg on free loopback ports and waits until
// it prints its listening line. On any failure the process is stopped again.
func startServer(ctx context.Context, bin string, cfg serverConfig) (_ *server, err error) {
	httpPort, err := pgcluster.FreePort()
	if err != nil {
		return nil, err
	}
	natsPort, err := pgcluster.FreePort()
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(cfg.DataDir, 0o755); err != nil {
		return nil, err
	}
	if err := os.Chmod(cfg.DataDir, 0o755); err != nil {
		return nil, err
	}
	s := &server{cfg: cfg, natsPort: natsPort, exited: make(chan struct{}),
		logPath: filepath.Join(filepath.Dir(cfg.DataDir), cfg.Name+".log")}
	s.logFile, err = os.OpenFile(s.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, "serve")
	cmd.Env = append(os.Environ(),
		"EVENTLINE_HTTP_ADDR=127.0.0.1:"+strconv.Itoa(httpPort),
		"EVENTLINE_DATA_DIR="+cfg.DataDir,
		"EVENTLINE_NATS_LISTEN=127.0.0.1:"+strconv.Itoa(natsPort),
		"EVENTLINE_NATS_SYNC="+cfg.Sync,
		"EVENTLINE_ROLES="+cfg.Roles,
		"NATS_URL=", "NATS_CREDS=", "DATABASE_URL=", "EVENTLINE_API_TOKEN=",
	)
	if cfg.PprofAddr != "" {
		cmd.Env = append(cmd.Env, pprofEnv+"="+cfg.PprofAddr)
	}
	cmd.Stderr = s.logFile
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		s.logFile.Close()
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		s.logFile.Close()
		return nil, fmt.Errorf("start %s: %w", bin, err)
	}
	s.cmd = cmd
	defer func() {
		if err != nil {
			s.stop()
		}
	}()
	ready := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			line := sc.Text()
			if addr, ok := strings.CutPrefix(line, "eventline: listening on http://"); ok {
				select {
				case ready <- strings.TrimSpace(addr):
				default:
				}
			}
		}
		_, _ = io.Copy(io.Discard, stdout)
	}()
	go func() {
		s.waitErr = cmd.Wait()
		close(s.exited)
	}()
	select {
	case s.httpAddr = <-ready:
	case <-s.exited:
		return nil, fmt.Errorf("%s exited before listening (%v): %s", cfg.Name, s.waitErr, s.logTail(8))
	case <-time.After(120 * time.Second):
		return nil, fmt.Errorf("%s not listening after 120s: %s", cfg.Name, s.logTail(8))
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	return s, nil
}

// baseURL is the HTTP API's root.
func (s *server) baseURL() string { return "http://" + s.httpAddr }

// natsURL is the embedded NATS server's client URL (without credentials).
func (s *server) natsURL() string { return "nats://127.0.0.1:" + strconv.Itoa(s.natsPort) }

// natsCredentials are the embedded NATS server's user and password, which
// serve generated into its data dir.
func (s *server) natsCredentials() (eventstore.Credentials, error) {
	return eventstore.EmbeddedCredentials(filepath.Join(s.cfg.DataDir, "nats"))
}

// pgURL is the managed PostgreSQL cluster's eventline database, found
// through the cluster's postmaster.pid (its fourth line is the port).
func (s *server) pgURL() (string, error) {
	_, port, err := postmaster(filepath.Join(s.cfg.DataDir, "pg"))
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/eventline?sslmode=disable", port), nil
}

func postmaster(pgDir string) (pid, port int, err error) {
	b, err := os.ReadFile(filepath.Join(pgDir, "postmaster.pid"))
	if err != nil {
		return 0, 0, err
	}
	lines := strings.Split(string(b), "\n")
	if len(lines) < 4 {
		return 0, 0, fmt.Errorf("postmaster.pid in %s is incomplete", pgDir)
	}
	pid, _ = strconv.Atoi(strings.TrimSpace(lines[0]))
	port, _ = strconv.Atoi(strings.TrimSpace(lines[3]))
	if pid <= 0 || port <= 0 {
		return 0, 0, fmt.Errorf("postmaster.pid in %s is unreadable", pgDir)
	}
	return pid, port, nil
}

// peakRSS is the process's VmHWM (peak resident set) in bytes. It covers
// the embedded NATS server too; PostgreSQL runs in processes of its own.
func (s *server) peakRSS() (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", s.cmd.Process.Pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb << 10, err
		}
	}
	return 0, errors.New("no VmHWM in /proc status")
}

// resetPeak starts a new peak-RSS window (clear_refs 5 sets VmHWM to the
// current RSS), so that a baseline's load on the embedded NATS server is
// not counted as the server's own peak.
func (s *server) resetPeak() {
	_ = os.WriteFile(fmt.Sprintf("/proc/%d/clear_refs", s.cmd.Process.Pid), []byte("5"), 0)
}

// notePeak records the peak of the window since the last resetPeak.
func (s *server) notePeak() {
	if v, err := s.peakRSS(); err == nil {
		s.peak = max(s.peak, v)
	}
}

// stop sends SIGTERM, kills the process if it has not exited after 30 s,
// and makes sure the PostgreSQL cluster it managed is down too.
func (s *server) stop() error {
	if s.cmd == nil || s.cmd.Process == nil {
		return nil
	}
	var err error
	select {
	case <-s.exited:
	default:
		_ = s.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-s.exited:
		case <-time.After(30 * time.Second):
			err = fmt.Errorf("%s ignored SIGTERM for 30s; killed", s.cfg.Name)
			_ = s.cmd.Process.Kill()
			<-s.exited
		}
	}
	stopPostgres(filepath.Join(s.cfg.DataDir, "pg"))
	if s.logFile != nil {
		s.logFile.Close()
	}
	return err
}

// stopPostgres stops a cluster left running in pgDir (fast shutdown, then
// immediate, then SIGKILL), e.g. after its owner was killed.
func stopPostgres(pgDir string) {
	pid, _, err := postmaster(pgDir)
	if err != nil || syscall.Kill(pid, 0) != nil {
		return
	}
	for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGQUIT, syscall.SIGKILL} {
		_ = syscall.Kill(pid, sig)
		for i := 0; i < 100; i++ {
			if syscall.Kill(pid, 0) != nil {
				return
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
}

// logTail returns the last n lines of the process's stderr.
func (s *server) logTail(n int) string {
	b, _ := os.ReadFile(s.logPath)
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, " | ")
}

// ensureBinary builds bin/eventline when it is missing.
func ensureBinary(ctx context.Context, bin string) error {
	if _, err := os.Stat(bin); err == nil {
		return nil
	}
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/eventline")
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("build %s: %w", bin, err)
	}
	return nil
}
