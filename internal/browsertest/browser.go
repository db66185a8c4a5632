package browsertest

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
)

// Browser is one headless Chromium with one tab, for one test.
type Browser struct {
	t   testing.TB
	ctx context.Context

	mu       sync.Mutex
	problems []string
	shots    string
}

// execPath finds the browser: $CHROMIUM, else chromium or google-chrome on
// the PATH.
func execPath() (string, error) {
	if p := os.Getenv("CHROMIUM"); p != "" {
		return p, nil
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if p, err := exec.LookPath(name); err == nil {
			return p, nil
		}
	}
	return "", fmt.Errorf("no chromium on the PATH: `make test` installs Debian's chromium package when run as root " +
		"(apt-get install chromium), or set CHROMIUM to a Chromium or Chrome binary")
}

// New starts a headless Chromium (no sandbox, no background networking) for
// t, stopped when t ends. A missing browser fails the test: browser tests
// are part of `make test`, which installs it.
func New(t testing.TB) *Browser {
	t.Helper()
	path, err := execPath()
	if err != nil {
		t.Fatal(err)
	}
	opts := append([]chromedp.ExecAllocatorOption{}, chromedp.DefaultExecAllocatorOptions[:]...)
	opts = append(opts,
		chromedp.ExecPath(path),
		chromedp.NoSandbox,
		chromedp.Headless,
		chromedp.DisableGPU,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("no-first-run", true),
		chromedp.WindowSize(1366, 900), // a laptop screen
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	b := &Browser{t: t, ctx: ctx}
	chromedp.ListenTarget(ctx, b.listen)
	if err := chromedp.Run(ctx, network.Enable(), runtime.Enable(), log.Enable()); err != nil {
		cancel()
		cancelAlloc()
		t.Fatalf("start chromium %s: %v", path, err)
	}
	t.Cleanup(func() {
		cancel()
		cancelAlloc()
	})
	return b
}

// listen records the page's console errors, uncaught exceptions and
// failed loads.
func (b *Browser) listen(ev any) {
	var msg string
	switch e := ev.(type) {
	case *runtime.EventConsoleAPICalled:
		if e.Type != runtime.APITypeError && e.Type != runtime.APITypeAssert {
			return
		}
		var parts []string
		for _, a := range e.Args {
			if a.Value != nil {
				parts = append(parts, string(a.Value))
			} else {
				parts = append(parts, a.Description)
			}
		}
		msg = "console." + string(e.Type) + ": " + strings.Join(parts, " ")
	case *runtime.EventExceptionThrown:
		msg = "exception: " + e.ExceptionDetails.Text
		if e.ExceptionDetails.Exception != nil {
			msg += " " + e.ExceptionDetails.Exception.Description
		}
	case *log.EventEntryAdded:
		if e.Entry.Level != log.LevelError {
			return
		}
		msg = "log: " + e.Entry.Text + " " + e.Entry.URL
	default:
		return
	}
	b.mu.Lock()
	b.problems = append(b.problems, msg)
	b.mu.Unlock()
}

// Problems returns the console errors, exceptions and failed loads seen so
// far.
func (b *Browser) Problems() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string(nil), b.problems...)
}

// NoProblems fails the test when a page logged an error or threw.
func (b *Browser) NoProblems() {
	b.t.Helper()
	if p := b.Problems(); len(p) > 0 {
		b.t.Errorf("the pages logged %d problem(s):\n  %s", len(p), strings.Join(p, "\n  "))
	}
}

// Context returns the tab's context, for chromedp actions of the test's
// own.
func (b *Browser) Context() context.Context { return b.ctx }

// Run runs actions in the tab within timeout, failing the test on error.
//
// Pages swap fragments under the test (htmx polling), so a node chromedp
// just found can be gone by the time it acts on it. chromedp reports that
// before it sends any input to the page, so Run starts the actions over
// when that is the error: a click is never sent twice.
func (b *Browser) Run(timeout time.Duration, actions ...chromedp.Action) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, timeout)
	defer cancel()
	for {
		err := chromedp.Run(ctx, actions...)
		if err == nil {
			return
		}
		if !staleNode(err) || ctx.Err() != nil {
			b.t.Fatalf("browser: %v (problems so far: %v)", err, b.Problems())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// staleNode reports whether err says a node the actions had found was
// replaced before they used it.
func staleNode(err error) bool {
	msg := err.Error()
	return strings.Contains(msg, "No node with given id found") ||
		strings.Contains(msg, "Could not find node with given id") ||
		strings.Contains(msg, "Node is detached from document")
}

// Try runs actions within timeout and returns their error.
func (b *Browser) Try(timeout time.Duration, actions ...chromedp.Action) error {
	ctx, cancel := context.WithTimeout(b.ctx, timeout)
	defer cancel()
	return chromedp.Run(ctx, actions...)
}

// SetCookie sets a cookie for the site at baseURL.
func (b *Browser) SetCookie(baseURL, name, value string) {
	b.t.Helper()
	b.Run(10*time.Second, chromedp.ActionFunc(func(ctx context.Context) error {
		return network.SetCookie(name, value).WithURL(baseURL).Do(ctx)
	}))
}

// Text returns the text of the first node matching sel, once visible.
func (b *Browser) Text(sel string) string {
	b.t.Helper()
	var s string
	b.Run(15*time.Second, chromedp.Text(sel, &s, chromedp.NodeVisible))
	return s
}

// WaitText waits until the text of the first node matching sel contains
// want, or fails the test after timeout with the last text seen.
func (b *Browser) WaitText(sel, want string, timeout time.Duration) {
	b.t.Helper()
	deadline := time.Now().Add(timeout)
	var last string
	for {
		var s string
		err := b.Try(2*time.Second, chromedp.Text(sel, &s, chromedp.ByQuery))
		if err == nil && strings.Contains(s, want) {
			return
		}
		last = s
		if time.Now().After(deadline) {
			b.t.Fatalf("%q never showed %q in %s; last text: %q (problems: %v)", sel, want, timeout, last, b.Problems())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// Screenshot saves a full-page PNG of the tab as name.png in a directory
// that outlives the test, and prints its path so that a person can look.
func (b *Browser) Screenshot(name string) string {
	b.t.Helper()
	b.mu.Lock()
	if b.shots == "" {
		dir, err := os.MkdirTemp("", "eventline-screenshots-")
		if err != nil {
			b.mu.Unlock()
			b.t.Fatal(err)
		}
		b.shots = dir
	}
	dir := b.shots
	b.mu.Unlock()
	var png []byte
	b.Run(20*time.Second, chromedp.FullScreenshot(&png, 100)) // quality 100: PNG (below it, JPEG)
	path := filepath.Join(dir, name+".png")
	if err := os.WriteFile(path, png, 0o644); err != nil {
		b.t.Fatal(err)
	}
	// Printed, not only logged, and listed in $EVENTLINE_SCREENSHOT_LIST
	// when set: `make test` prints that list, since `go test` shows nothing
	// of a package that passed.
	fmt.Printf("screenshot %s: %s\n", name, path)
	b.t.Logf("screenshot %s: %s", name, path)
	if list := os.Getenv("EVENTLINE_SCREENSHOT_LIST"); list != "" {
		if f, err := os.OpenFile(list, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644); err == nil {
			_, _ = fmt.Fprintf(f, "%-22s %s\n", name, path) // one small append: whole lines from concurrent tests
			_ = f.Close()
		}
	}
	return path
}

// Nodes returns how many nodes match sel now.
func (b *Browser) Nodes(sel string) int {
	b.t.Helper()
	var nodes []*cdp.Node
	b.Run(10*time.Second, chromedp.Nodes(sel, &nodes, chromedp.AtLeast(0)))
	return len(nodes)
}
