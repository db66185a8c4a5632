package zuora_test

import (
	"bytes"
	"context"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/eventline/eventline/zuora"
)

// testSecret is the client secret every test uses; it must never leak.
const testSecret = "sup3r-s3cret-do-not-print"

// fakeClock is a settable clock.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func newFakeClock() *fakeClock {
	return &fakeClock{now: time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// sleepRecorder records the delays the client asks for and returns at once.
type sleepRecorder struct {
	mu     sync.Mutex
	delays []time.Duration
}

func (s *sleepRecorder) Sleep(ctx context.Context, d time.Duration) error {
	s.mu.Lock()
	s.delays = append(s.delays, d)
	s.mu.Unlock()
	return ctx.Err()
}

func (s *sleepRecorder) Delays() []time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]time.Duration(nil), s.delays...)
}

// syncBuffer is a bytes.Buffer safe for concurrent writers.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// testClient is a client with a recorded sleep, a fake clock and a captured log.
type testClient struct {
	*zuora.Client
	sleeps *sleepRecorder
	clock  *fakeClock
	logs   *syncBuffer
}

// newTestClient returns a client for baseURL with id "tenant-a" and
// testSecret; mod adjusts the config.
func newTestClient(t *testing.T, baseURL string, mod func(*zuora.Config)) *testClient {
	t.Helper()
	tc := &testClient{sleeps: &sleepRecorder{}, clock: newFakeClock(), logs: &syncBuffer{}}
	cfg := zuora.Config{
		BaseURL:      baseURL,
		ClientID:     "tenant-a",
		ClientSecret: testSecret,
		Logger:       slog.New(slog.NewTextHandler(tc.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Now:          tc.clock.Now,
		Sleep:        tc.sleeps.Sleep,
	}
	if mod != nil {
		mod(&cfg)
	}
	tc.Client = zuora.New(cfg)
	return tc
}

// collect lists every workflow, returning them with the listing.
func (tc *testClient) collect(ctx context.Context) ([]zuora.Workflow, zuora.Listing, error) {
	var all []zuora.Workflow
	listing, err := tc.ListWorkflows(ctx, func(p zuora.Page) error {
		all = append(all, p.Workflows...)
		return nil
	})
	return all, listing, err
}
