package benchserve

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"
)

// RunFunc is a benchmark's body: it parses args and writes its report to
// stdout and its progress to stderr.
type RunFunc func(ctx context.Context, args []string, stdout, stderr io.Writer) error

// Main runs run with the command line, cancelling its context on SIGINT or
// SIGTERM; on an error it prints "prefix: err" to stderr and exits 1.
func Main(prefix string, run RunFunc) {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, prefix+":", err)
		os.Exit(1)
	}
}

// NewFlagSet is a flag set named name that reports parse errors (and -h)
// on stderr and returns them instead of exiting.
func NewFlagSet(name string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	return fs
}

// Logger returns a printf for progress lines "prefix: ..." on stderr.
func Logger(stderr io.Writer, prefix string) func(format string, a ...any) {
	return func(format string, a ...any) { fmt.Fprintf(stderr, prefix+": "+format+"\n", a...) }
}

// TempDir makes a fresh temporary directory named after pattern (as
// os.MkdirTemp) that is world-traversable, so that the postgres user
// reaches a cluster inside.
func TempDir(pattern string) (string, error) {
	dir, err := os.MkdirTemp("", pattern)
	if err != nil {
		return "", err
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		return "", err
	}
	return dir, nil
}

// Binary returns bin, or builds ./cmd/eventline into dir when bin is empty.
func Binary(ctx context.Context, bin, dir string, logf func(string, ...any)) (string, error) {
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

// Workdir makes a benchmark's temporary directory (TempDir) and finds or
// builds its eventline binary there (Binary). cleanup removes the
// directory, unless keep (then it is logged for a person to look in).
func Workdir(ctx context.Context, pattern, bin string, keep bool, logf func(string, ...any)) (root, binary string, cleanup func(), err error) {
	root, err = TempDir(pattern)
	if err != nil {
		return "", "", nil, err
	}
	cleanup = func() { _ = os.RemoveAll(root) }
	if keep {
		logf("data and logs kept in %s", root)
		cleanup = func() {}
	}
	if binary, err = Binary(ctx, bin, root, logf); err != nil {
		cleanup()
		return "", "", nil, err
	}
	return root, binary, cleanup, nil
}

// NewClient is a keep-alive HTTP client, without compression or proxy, for
// conns concurrent connections to one host, each request bounded by
// timeout.
func NewClient(conns int, timeout time.Duration) *http.Client {
	tr := &http.Transport{
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:        conns * 2,
		MaxIdleConnsPerHost: conns,
		MaxConnsPerHost:     conns,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true,
	}
	return &http.Client{Transport: tr, Timeout: timeout}
}
