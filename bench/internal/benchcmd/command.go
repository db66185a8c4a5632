package benchcmd

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"syscall"
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

// Shared points at a benchmark's options for the flags most benchmarks
// take; a nil pointer is a flag the benchmark does not take.
type Shared struct {
	// Bin is --bin: the eventline binary, built into the work dir when
	// empty.
	Bin *string
	// JSON is --json: print the results as JSON.
	JSON *bool
	// Keep is --keep: keep the work dir (data and logs) for a post-mortem.
	Keep *bool
}

// Command is one benchmark's command line: its flag set (the shared flags
// are on it already), its progress log and its work dir.
type Command struct {
	*flag.FlagSet
	name   string
	shared Shared
	// Logf prints a progress line "bench/<name>: …" on stderr.
	Logf func(format string, a ...any)
}

// New is the command line of the benchmark bench/<name>. Its flag set
// reports parse errors (and -h) on stderr and returns them instead of
// exiting.
func New(name string, stderr io.Writer, shared Shared) *Command {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	if shared.Bin != nil {
		fs.StringVar(shared.Bin, "bin", "", "the eventline binary (built into the temp dir when empty)")
	}
	if shared.JSON != nil {
		fs.BoolVar(shared.JSON, "json", false, "print the results as JSON")
	}
	if shared.Keep != nil {
		fs.BoolVar(shared.Keep, "keep", false, "keep the temporary directory (data and logs)")
	}
	prefix := "bench/" + name
	return &Command{FlagSet: fs, name: name, shared: shared,
		Logf: func(format string, a ...any) { fmt.Fprintf(stderr, prefix+": "+format+"\n", a...) }}
}

// Parse parses args and then checks them with check (when not nil), and
// logs the machine the benchmark runs on.
func (c *Command) Parse(args []string, check func() error) error {
	if err := c.FlagSet.Parse(args); err != nil {
		return err
	}
	if check != nil {
		if err := check(); err != nil {
			return err
		}
	}
	c.Logf("GOMAXPROCS %d, %s/%s", runtime.GOMAXPROCS(0), runtime.GOOS, runtime.GOARCH)
	return nil
}

// Workdir makes the benchmark's temporary directory (TempDir) and finds or
// builds its eventline binary there (--bin). cleanup removes the
// directory, unless --keep (then it is logged for a person to look in).
func (c *Command) Workdir(ctx context.Context) (root, bin string, cleanup func(), err error) {
	root, err = TempDir("eventline-bench-" + c.name + "-*")
	if err != nil {
		return "", "", nil, err
	}
	cleanup = func() { _ = os.RemoveAll(root) }
	if c.shared.Keep != nil && *c.shared.Keep {
		c.Logf("data and logs kept in %s", root)
		cleanup = func() {}
	}
	if c.shared.Bin != nil {
		bin = *c.shared.Bin
	}
	if bin == "" {
		bin = filepath.Join(root, "eventline")
		c.Logf("building eventline")
		if out, err := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/eventline").CombinedOutput(); err != nil {
			cleanup()
			return "", "", nil, fmt.Errorf("build eventline: %w: %s", err, out)
		}
	}
	return root, bin, cleanup, nil
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

// List splits a comma-separated flag value and checks each item against
// known: the error names the flag and what it knows.
func List(name, value string, known []string) ([]string, error) {
	var items []string
	for _, it := range strings.Split(value, ",") {
		it = strings.TrimSpace(it)
		if !slices.Contains(known, it) {
			return nil, fmt.Errorf("--%s: unknown %q (known: %s)", name, it, strings.Join(known, ","))
		}
		items = append(items, it)
	}
	return items, nil
}
