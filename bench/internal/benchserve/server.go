package benchserve

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/eventline/eventline/eventstore"
	"github.com/eventline/eventline/eventstore/natsserver"
	"github.com/eventline/eventline/internal/pgcluster"
)

// listenTimeout bounds how long Start waits for the listening line.
const listenTimeout = 2 * time.Minute

// Config is one `eventline serve` process.
type Config struct {
	// Bin is the eventline binary.
	Bin string
	// Name labels the process in errors and names its log.
	Name string
	// DataDir is EVENTLINE_DATA_DIR; created world-traversable (the
	// postgres user must reach the cluster inside), reused when it holds
	// data.
	DataDir string
	// LogPath receives the process's stderr (appended); empty means
	// Name+".log" beside DataDir.
	LogPath string
	// Env are extra variables (KEY=value) after the defaults, e.g.
	// EVENTLINE_ROLES or EVENTLINE_NATS_SYNC.
	Env []string
	// StopTimeout is how long Stop waits after SIGTERM before it kills the
	// process; zero means a minute.
	StopTimeout time.Duration
}

// Server is a running `eventline serve` child process.
type Server struct {
	cfg      Config
	cmd      *exec.Cmd
	logFile  *os.File
	httpAddr string
	natsPort int
	exited   chan struct{}
	waitErr  error
}

// Start runs cfg.Bin serve on free loopback ports (the HTTP API and the
// embedded NATS server) with no external NATS, database or API token, and
// waits until it prints its listening line. On any failure the process is
// stopped again.
func Start(ctx context.Context, cfg Config) (_ *Server, err error) {
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
	if cfg.LogPath == "" {
		cfg.LogPath = filepath.Join(filepath.Dir(cfg.DataDir), cfg.Name+".log")
	}
	if cfg.StopTimeout <= 0 {
		cfg.StopTimeout = time.Minute
	}
	s := &Server{cfg: cfg, natsPort: natsPort, exited: make(chan struct{})}
	s.logFile, err = os.OpenFile(cfg.LogPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(cfg.Bin, "serve")
	cmd.Env = append(os.Environ(),
		"EVENTLINE_HTTP_ADDR=127.0.0.1:"+strconv.Itoa(httpPort),
		"EVENTLINE_DATA_DIR="+cfg.DataDir,
		"EVENTLINE_NATS_LISTEN=127.0.0.1:"+strconv.Itoa(natsPort),
		"NATS_URL=", "NATS_CREDS=", "DATABASE_URL=", "EVENTLINE_API_TOKEN=",
	)
	cmd.Env = append(cmd.Env, cfg.Env...)
	cmd.Stderr = s.logFile
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		s.logFile.Close()
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		s.logFile.Close()
		return nil, fmt.Errorf("start %s: %w", cfg.Bin, err)
	}
	s.cmd = cmd
	defer func() {
		if err != nil {
			_ = s.Stop()
		}
	}()
	ready := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if addr, ok := strings.CutPrefix(sc.Text(), "eventline: listening on http://"); ok {
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
		return nil, fmt.Errorf("%s exited before listening (%v): %s", cfg.Name, s.waitErr, s.LogTail(8))
	case <-time.After(listenTimeout):
		return nil, fmt.Errorf("%s not listening after %s: %s", cfg.Name, listenTimeout, s.LogTail(8))
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	return s, nil
}

// Name is the process's label from its Config.
func (s *Server) Name() string { return s.cfg.Name }

// DataDir is the process's EVENTLINE_DATA_DIR.
func (s *Server) DataDir() string { return s.cfg.DataDir }

// HTTPAddr is the HTTP API's host:port from the listening line.
func (s *Server) HTTPAddr() string { return s.httpAddr }

// BaseURL is the HTTP API's root.
func (s *Server) BaseURL() string { return "http://" + s.httpAddr }

// NATSURL is the embedded NATS server's client URL (without credentials).
func (s *Server) NATSURL() string { return "nats://127.0.0.1:" + strconv.Itoa(s.natsPort) }

// NATSCredentials are the embedded NATS server's user and password, which
// serve generated into its data dir.
func (s *Server) NATSCredentials() (eventstore.Credentials, error) {
	return natsserver.ReadCredentials(filepath.Join(s.cfg.DataDir, "nats"))
}

// PostgresURL is the managed PostgreSQL cluster's eventline database.
func (s *Server) PostgresURL() (string, error) {
	return PostgresURL(filepath.Join(s.cfg.DataDir, "pg"))
}

// PostgresSuperURL is the managed cluster's eventline database as its
// superuser: for what a benchmark's baseline needs beyond the application
// role (a CHECKPOINT before a raw COPY).
func (s *Server) PostgresSuperURL(ctx context.Context) (string, error) {
	c, err := pgcluster.Running(ctx, filepath.Join(s.cfg.DataDir, "pg"))
	if err != nil {
		return "", err
	}
	return c.URL(""), nil
}

// Exited is closed once the process has exited; WaitErr then says how.
func (s *Server) Exited() <-chan struct{} { return s.exited }

// WaitErr is the process's exit error; read it only after Exited is closed.
func (s *Server) WaitErr() error { return s.waitErr }

// WaitReady polls /readyz until it answers 200, for at most a minute.
func (s *Server) WaitReady(ctx context.Context) error {
	deadline := time.Now().Add(time.Minute)
	for time.Now().Before(deadline) {
		resp, err := http.Get(s.BaseURL() + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
	return fmt.Errorf("%s not ready after a minute; see %s", s.cfg.Name, s.cfg.LogPath)
}

// PeakRSS is the process's peak resident set (VmHWM) in bytes. It covers
// the embedded NATS server too; PostgreSQL runs in processes of its own.
func (s *Server) PeakRSS() (int64, error) { return PeakRSS(s.cmd.Process.Pid) }

// RSS is the process's current resident set in bytes.
func (s *Server) RSS() (int64, error) { return RSS(s.cmd.Process.Pid) }

// ResetPeakRSS starts a new peak-RSS window (see ResetPeakRSS).
func (s *Server) ResetPeakRSS() { ResetPeakRSS(s.cmd.Process.Pid) }

// StartReady starts serve (Start) and waits until it is ready
// (WaitReady); a server that does not get ready is stopped.
func StartReady(ctx context.Context, cfg Config) (*Server, error) {
	s, err := Start(ctx, cfg)
	if err != nil {
		return nil, err
	}
	if err := s.WaitReady(ctx); err != nil {
		_ = s.Stop()
		return nil, err
	}
	return s, nil
}

// StopLogged stops the server (Stop) and logs with logf why the stop
// failed, if it did: what a benchmark defers.
func (s *Server) StopLogged(logf func(format string, a ...any)) {
	if err := s.Stop(); err != nil {
		logf("stop %s: %v", s.cfg.Name, err)
	}
}

// Stop sends SIGTERM (serve stops its NATS server and PostgreSQL cluster),
// kills the process if it has not exited after the Config's StopTimeout,
// and makes sure the PostgreSQL cluster it managed is down too. The error
// says when the process had to be killed.
func (s *Server) Stop() error {
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
		case <-time.After(s.cfg.StopTimeout):
			err = fmt.Errorf("%s ignored SIGTERM for %s; killed", s.cfg.Name, s.cfg.StopTimeout)
			_ = s.cmd.Process.Kill()
			<-s.exited
		}
	}
	StopPostgres(filepath.Join(s.cfg.DataDir, "pg"))
	if s.logFile != nil {
		s.logFile.Close()
	}
	return err
}

// LogTail returns the last n lines of the process's stderr, joined by " | ".
func (s *Server) LogTail(n int) string {
	b, _ := os.ReadFile(s.cfg.LogPath)
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, " | ")
}
