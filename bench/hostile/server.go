package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/eventline/eventline/internal/pgcluster"
)

// build returns bin, or builds cmd/eventline into dir when bin is empty.
func build(ctx context.Context, bin, dir string, logf func(string, ...any)) (string, error) {
	if bin != "" {
		return bin, nil
	}
	bin = filepath.Join(dir, "eventline")
	logf("building eventline")
	if out, err := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/eventline").CombinedOutput(); err != nil {
		return "", fmt.Errorf("build eventline: %w: %s", err, out)
	}
	return bin, nil
}

// server is a running `eventline serve` (every role) in a data dir of its own.
type server struct {
	cmd    *exec.Cmd
	base   string
	exited chan struct{}
	log    string
}

// startServer starts bin serve on free loopback ports with its data in
// dir/name and waits for its listening line.
func startServer(ctx context.Context, bin, dir, name string) (_ *server, err error) {
	httpPort, err := pgcluster.FreePort()
	if err != nil {
		return nil, err
	}
	natsPort, err := pgcluster.FreePort()
	if err != nil {
		return nil, err
	}
	data := filepath.Join(dir, name)
	if err := os.MkdirAll(data, 0o755); err != nil {
		return nil, err
	}
	s := &server{base: "http://127.0.0.1:" + strconv.Itoa(httpPort), exited: make(chan struct{}),
		log: filepath.Join(dir, name+".log")}
	logFile, err := os.Create(s.log)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, "serve")
	cmd.Env = append(os.Environ(),
		"EVENTLINE_HTTP_ADDR=127.0.0.1:"+strconv.Itoa(httpPort),
		"EVENTLINE_DATA_DIR="+data,
		"EVENTLINE_NATS_LISTEN=127.0.0.1:"+strconv.Itoa(natsPort),
		"NATS_URL=", "DATABASE_URL=", "EVENTLINE_API_TOKEN=", "EVENTLINE_ROLES=all", "GOMEMLIMIT=")
	cmd.Stderr = logFile
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		logFile.Close()
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return nil, fmt.Errorf("start eventline serve: %w", err)
	}
	s.cmd = cmd
	go func() {
		_ = cmd.Wait()
		logFile.Close()
		close(s.exited)
	}()
	defer func() {
		if err != nil {
			s.stop()
		}
	}()
	ready := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if strings.HasPrefix(sc.Text(), "eventline: listening on ") {
				close(ready)
				break
			}
		}
		_, _ = io.Copy(io.Discard, stdout)
	}()
	select {
	case <-ready:
	case <-s.exited:
		return nil, fmt.Errorf("eventline serve exited at start; see %s", s.log)
	case <-time.After(2 * time.Minute):
		return nil, fmt.Errorf("eventline serve not listening after 2 minutes; see %s", s.log)
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	return s, s.waitReady(ctx)
}

// waitReady polls /readyz until the server is ready.
func (s *server) waitReady(ctx context.Context) error {
	deadline := time.Now().Add(time.Minute)
	for time.Now().Before(deadline) {
		resp, err := http.Get(s.base + "/readyz")
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
	return fmt.Errorf("eventline serve not ready after a minute; see %s", s.log)
}

// peakRSS is the process's VmHWM (peak resident set) in bytes: the API and
// the embedded NATS server; PostgreSQL runs in processes of its own.
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

// resetPeak starts a new peak window: clear_refs 5 sets VmHWM to the
// current RSS.
func (s *server) resetPeak() {
	_ = os.WriteFile(fmt.Sprintf("/proc/%d/clear_refs", s.cmd.Process.Pid), []byte("5"), 0)
}

// stop sends SIGTERM (serve stops its NATS server and PostgreSQL cluster)
// and kills the process if it has not exited after a minute.
func (s *server) stop() {
	if s.cmd == nil || s.cmd.Process == nil {
		return
	}
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.exited:
	case <-time.After(time.Minute):
		_ = s.cmd.Process.Kill()
		<-s.exited
	}
}

// newClient is a keep-alive HTTP client for conns concurrent connections.
func newClient(conns int) *http.Client {
	tr := &http.Transport{
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:        conns * 2,
		MaxIdleConnsPerHost: conns,
		MaxConnsPerHost:     conns,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true,
	}
	return &http.Client{Transport: tr, Timeout: 60 * time.Second}
}
