package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"time"
)

// pprofEnv names the variable the profiling build reads. Only the binary
// built by buildProfilingBinary knows it; the real server never does.
const pprofEnv = "EVENTLINE_BENCH_PPROF"

// pprofSource is compiled into cmd/eventline through `go build -overlay`
// for --profile runs only: nothing is written into the repository.
const pprofSource = `package main

import (
	"net/http"
	_ "net/http/pprof"
	"os"
)

func init() {
	if addr := os.Getenv("` + pprofEnv + `"); addr != "" {
		go http.ListenAndServe(addr, nil)
	}
}
`

// buildProfilingBinary builds cmd/eventline with a net/http/pprof listener
// added through an overlay, into dir.
func buildProfilingBinary(ctx context.Context, dir string) (string, error) {
	src := filepath.Join(dir, "zz_bench_pprof.go")
	if err := os.WriteFile(src, []byte(pprofSource), 0o644); err != nil {
		return "", err
	}
	target, err := filepath.Abs(filepath.Join("cmd", "eventline", "zz_bench_pprof.go"))
	if err != nil {
		return "", err
	}
	overlay, _ := json.Marshal(map[string]map[string]string{"Replace": {target: src}})
	ovPath := filepath.Join(dir, "overlay.json")
	if err := os.WriteFile(ovPath, overlay, 0o644); err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "eventline-pprof")
	cmd := exec.CommandContext(ctx, "go", "build", "-overlay", ovPath, "-o", bin, "./cmd/eventline")
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("build profiling binary: %w", err)
	}
	return bin, nil
}

// profiler takes CPU profiles of a profiling build while a phase runs.
type profiler struct {
	dir  string
	addr string
}

// heap saves the server's heap profile (in-use and allocated) now.
func (p *profiler) heap(name string) {
	if p == nil || p.addr == "" {
		return
	}
	c := &http.Client{Timeout: 30 * time.Second}
	resp, err := c.Get(fmt.Sprintf("http://%s/debug/pprof/heap", p.addr))
	if err != nil {
		fmt.Fprintf(os.Stderr, "bench: heap profile %s: %v\n", name, err)
		return
	}
	defer resp.Body.Close()
	f, err := os.Create(filepath.Join(p.dir, name+".heap.pprof"))
	if err != nil {
		return
	}
	defer f.Close()
	_, _ = io.Copy(f, resp.Body)
}

// during starts a CPU profile of d and returns a function that waits for it
// and writes it to dir/name.pprof. A nil profiler does nothing.
func (p *profiler) during(name string, d time.Duration) func() {
	if p == nil || p.addr == "" {
		return func() {}
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		secs := max(1, int(d.Round(time.Second)/time.Second))
		c := &http.Client{Timeout: d + 30*time.Second}
		resp, err := c.Get(fmt.Sprintf("http://%s/debug/pprof/profile?seconds=%d", p.addr, secs))
		if err != nil {
			fmt.Fprintf(os.Stderr, "bench: profile %s: %v\n", name, err)
			return
		}
		defer resp.Body.Close()
		f, err := os.Create(filepath.Join(p.dir, name+".pprof"))
		if err != nil {
			fmt.Fprintf(os.Stderr, "bench: profile %s: %v\n", name, err)
			return
		}
		defer f.Close()
		_, _ = io.Copy(f, resp.Body)
	}()
	return func() { <-done }
}
