package zuora_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/eventline/eventline/zuora"
)

// fakeZuora is a scriptable Zuora: its token endpoint hands out tok-1,
// tok-2, … and its page handler is the test's.
type fakeZuora struct {
	srv        *httptest.Server
	tokenCalls atomic.Int64
	pageCalls  atomic.Int64
	expiresIn  int
	// tokenStatus, when set, is the token endpoint's answer status.
	tokenStatus int
	tokenBody   string
	tokenGate   chan struct{}
	mu          sync.Mutex
	trackIDs    []string
}

// newFakeZuora serves pages with fn, which gets the page call number (from 1).
func newFakeZuora(t *testing.T, fn func(w http.ResponseWriter, r *http.Request, call int64)) *fakeZuora {
	t.Helper()
	f := &fakeZuora{expiresIn: 3599}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /oauth/token", func(w http.ResponseWriter, r *http.Request) {
		f.record(r)
		n := f.tokenCalls.Add(1)
		if f.tokenGate != nil {
			<-f.tokenGate
		}
		if f.tokenStatus != 0 {
			w.WriteHeader(f.tokenStatus)
			_, _ = w.Write([]byte(f.tokenBody))
			return
		}
		if r.PostFormValue("client_secret") != testSecret || r.PostFormValue("grant_type") != "client_credentials" {
			w.WriteHeader(http.StatusUnauthorized)
			_, _ = w.Write([]byte(`{"error":"invalid_client"}`))
			return
		}
		_ = json.NewEncoder(w).Encode(map[string]any{"access_token": fmt.Sprintf("tok-%d", n), "token_type": "bearer", "expires_in": f.expiresIn})
	})
	mux.HandleFunc("GET /workflows", func(w http.ResponseWriter, r *http.Request) {
		f.record(r)
		fn(w, r, f.pageCalls.Add(1))
	})
	f.srv = httptest.NewServer(mux)
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeZuora) record(r *http.Request) {
	f.mu.Lock()
	f.trackIDs = append(f.trackIDs, r.Header.Get("Zuora-Track-Id"))
	f.mu.Unlock()
}

// onePage answers a single, final page of n workflows.
func onePage(w http.ResponseWriter, n int) {
	items := make([]map[string]any, n)
	for i := range items {
		items[i] = map[string]any{"id": i + 1, "name": "w", "status": "Active", "createdAt": "2026-01-01 00:00:00", "updatedAt": "2026-01-02T00:00:00Z"}
	}
	_ = json.NewEncoder(w).Encode(map[string]any{"data": items, "pagination": map[string]any{"page": 1, "page_length": 50}})
}

// fullPage answers a full page of 50 workflows numbered from the page
// parameter, with next_page set to next (none when empty).
func fullPage(w http.ResponseWriter, r *http.Request, next string) {
	page, _ := strconv.Atoi(r.URL.Query().Get("page"))
	items := make([]map[string]any, 50)
	for i := range items {
		items[i] = map[string]any{"id": (page-1)*50 + i + 1, "name": "w", "status": "Active"}
	}
	pg := map[string]any{"page": page, "page_length": 50}
	if next != "" {
		pg["next_page"] = next
	}
	_ = json.NewEncoder(w).Encode(map[string]any{"data": items, "pagination": pg})
}

func TestTokenIsCachedAndRefreshedFiveMinutesBeforeExpiry(t *testing.T) {
	f := newFakeZuora(t, func(w http.ResponseWriter, r *http.Request, _ int64) {
		require.True(t, strings.HasPrefix(r.Header.Get("Authorization"), "Bearer tok-"))
		onePage(w, 3)
	})
	c := newTestClient(t, f.srv.URL, nil)
	ctx := context.Background()
	for range 3 {
		_, _, err := c.collect(ctx)
		require.NoError(t, err)
	}
	require.Equal(t, int64(1), f.tokenCalls.Load())

	c.clock.Advance(3599*time.Second - 5*time.Minute - time.Second)
	_, _, err := c.collect(ctx)
	require.NoError(t, err)
	require.Equal(t, int64(1), f.tokenCalls.Load(), "still more than 5 minutes left")

	c.clock.Advance(2 * time.Second)
	_, _, err = c.collect(ctx)
	require.NoError(t, err)
	require.Equal(t, int64(2), f.tokenCalls.Load(), "refreshed within the last 5 minutes")
}

func TestConcurrentCallersShareOneTokenRefresh(t *testing.T) {
	f := newFakeZuora(t, func(w http.ResponseWriter, _ *http.Request, _ int64) { onePage(w, 1) })
	f.tokenGate = make(chan struct{})
	c := newTestClient(t, f.srv.URL, nil)
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for range 8 {
		wg.Go(func() {
			_, _, err := c.collect(context.Background())
			errs <- err
		})
	}
	deadline := time.Now().Add(5 * time.Second)
	for f.tokenCalls.Load() == 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	time.Sleep(50 * time.Millisecond) // let the other callers queue behind the refresh
	close(f.tokenGate)
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	require.Equal(t, int64(1), f.tokenCalls.Load())
	require.Equal(t, int64(8), f.pageCalls.Load())
}

func TestUnauthorizedRefreshesTheTokenOnceAndRetries(t *testing.T) {
	f := newFakeZuora(t, func(w http.ResponseWriter, r *http.Request, _ int64) {
		if r.Header.Get("Authorization") == "Bearer tok-1" {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		onePage(w, 2)
	})
	c := newTestClient(t, f.srv.URL, nil)
	wfs, listing, err := c.collect(context.Background())
	require.NoError(t, err)
	require.True(t, listing.Complete)
	require.Len(t, wfs, 2)
	require.Equal(t, int64(2), f.tokenCalls.Load())
	require.Equal(t, int64(2), f.pageCalls.Load())
	require.Empty(t, c.sleeps.Delays(), "a refresh is not a backoff")
}

func TestUnauthorizedAfterRefreshIsErrUnauthorized(t *testing.T) {
	f := newFakeZuora(t, func(w http.ResponseWriter, _ *http.Request, _ int64) {
		w.WriteHeader(http.StatusUnauthorized)
		_, _ = w.Write([]byte(`{"error":{"code":"invalid_token","message":"nope"}}`))
	})
	c := newTestClient(t, f.srv.URL, nil)
	_, listing, err := c.collect(context.Background())
	require.ErrorIs(t, err, zuora.ErrUnauthorized)
	require.False(t, listing.Complete)
	require.Equal(t, int64(2), f.tokenCalls.Load())
	require.Equal(t, int64(2), f.pageCalls.Load())
}

func TestRefusedCredentialsAreNotRetried(t *testing.T) {
	for _, status := range []int{http.StatusBadRequest, http.StatusUnauthorized, http.StatusForbidden} {
		t.Run(strconv.Itoa(status), func(t *testing.T) {
			f := newFakeZuora(t, func(w http.ResponseWriter, _ *http.Request, _ int64) { onePage(w, 1) })
			f.tokenStatus, f.tokenBody = status, `{"error":"invalid_client","error_description":"Bad credentials"}`
			c := newTestClient(t, f.srv.URL, nil)
			_, _, err := c.collect(context.Background())
			require.ErrorIs(t, err, zuora.ErrUnauthorized)
			var apiErr *zuora.APIError
			require.ErrorAs(t, err, &apiErr)
			require.Equal(t, status, apiErr.Status)
			require.Equal(t, "invalid_client", apiErr.Code)
			require.Equal(t, int64(1), f.tokenCalls.Load())
			require.Zero(t, f.pageCalls.Load())
			require.Empty(t, c.sleeps.Delays())
		})
	}
}

func TestClientErrorsAreTypedAndNotRetried(t *testing.T) {
	tests := []struct {
		status int
		want   error
	}{
		{http.StatusBadRequest, zuora.ErrBadRequest},
		{http.StatusForbidden, zuora.ErrForbidden},
		{http.StatusNotFound, zuora.ErrNotFound},
		{http.StatusUnprocessableEntity, zuora.ErrBadRequest},
	}
	for _, tt := range tests {
		t.Run(strconv.Itoa(tt.status), func(t *testing.T) {
			var sentTrackID string
			f := newFakeZuora(t, func(w http.ResponseWriter, r *http.Request, _ int64) {
				sentTrackID = r.Header.Get("Zuora-Track-Id")
				w.WriteHeader(tt.status)
				_, _ = w.Write([]byte(`{"success":false,"reasons":[{"code":50000040,"message":"Cannot do it"}]}`))
			})
			c := newTestClient(t, f.srv.URL, nil)
			_, _, err := c.collect(context.Background())
			require.ErrorIs(t, err, tt.want)
			var apiErr *zuora.APIError
			require.ErrorAs(t, err, &apiErr)
			require.Equal(t, tt.status, apiErr.Status)
			require.Equal(t, "50000040", apiErr.Code)
			require.Equal(t, "Cannot do it", apiErr.Message)
			require.Equal(t, sentTrackID, apiErr.TrackID)
			require.Contains(t, err.Error(), "page 1")
			require.Contains(t, c.logs.String(), sentTrackID, "the failure is logged with its track id")
			require.Equal(t, int64(1), f.pageCalls.Load())
			require.Empty(t, c.sleeps.Delays())
		})
	}
}

func TestRateLimitHonoursRetryAfter(t *testing.T) {
	t.Run("http date", func(t *testing.T) {
		var c *testClient
		f := newFakeZuora(t, func(w http.ResponseWriter, _ *http.Request, call int64) {
			if call == 1 {
				w.Header().Set("Retry-After", c.clock.Now().Add(7*time.Second).Format(http.TimeFormat))
				w.WriteHeader(http.StatusTooManyRequests)
				return
			}
			onePage(w, 1)
		})
		c = newTestClient(t, f.srv.URL, nil)
		_, _, err := c.collect(context.Background())
		require.NoError(t, err)
		require.Equal(t, []time.Duration{7 * time.Second}, c.sleeps.Delays())
	})
	t.Run("over the limit fails at once", func(t *testing.T) {
		f := newFakeZuora(t, func(w http.ResponseWriter, _ *http.Request, _ int64) {
			w.Header().Set("Retry-After", "3600")
			w.WriteHeader(http.StatusTooManyRequests)
		})
		c := newTestClient(t, f.srv.URL, nil)
		_, _, err := c.collect(context.Background())
		require.ErrorIs(t, err, zuora.ErrRateLimited)
		var apiErr *zuora.APIError
		require.ErrorAs(t, err, &apiErr)
		require.Equal(t, time.Hour, apiErr.RetryAfter)
		require.Empty(t, c.sleeps.Delays())
	})
	t.Run("retries spent", func(t *testing.T) {
		f := newFakeZuora(t, func(w http.ResponseWriter, _ *http.Request, _ int64) {
			w.Header().Set("Retry-After", "2")
			w.WriteHeader(http.StatusTooManyRequests)
		})
		c := newTestClient(t, f.srv.URL, func(cfg *zuora.Config) { cfg.Retry.Attempts = 4 })
		_, _, err := c.collect(context.Background())
		require.ErrorIs(t, err, zuora.ErrRateLimited)
		require.Equal(t, int64(4), f.pageCalls.Load())
		require.Equal(t, []time.Duration{2 * time.Second, 2 * time.Second, 2 * time.Second}, c.sleeps.Delays())
	})
}

func TestTransportFailuresBackOffAndRetry(t *testing.T) {
	t.Run("connections cut mid-body", func(t *testing.T) {
		f := newFakeZuora(t, func(w http.ResponseWriter, _ *http.Request, call int64) {
			if call <= 2 {
				conn, buf, err := w.(http.Hijacker).Hijack()
				require.NoError(t, err)
				_, _ = buf.WriteString("HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n{\"data\":[")
				_ = buf.Flush()
				_ = conn.Close()
				return
			}
			onePage(w, 1)
		})
		c := newTestClient(t, f.srv.URL, func(cfg *zuora.Config) {
			cfg.Retry.FirstDelay, cfg.Retry.MaxDelay = 100*time.Millisecond, time.Second
		})
		_, _, err := c.collect(context.Background())
		require.NoError(t, err)
		d := c.sleeps.Delays()
		require.Len(t, d, 2)
		require.True(t, d[0] >= 50*time.Millisecond && d[0] <= 100*time.Millisecond, "first backoff %s", d[0])
		require.True(t, d[1] >= 100*time.Millisecond && d[1] <= 200*time.Millisecond, "second backoff %s", d[1])
	})
	t.Run("request timeout", func(t *testing.T) {
		f := newFakeZuora(t, func(w http.ResponseWriter, r *http.Request, call int64) {
			if call == 1 {
				<-r.Context().Done() // hangs until the client gives up
				return
			}
			onePage(w, 1)
		})
		c := newTestClient(t, f.srv.URL, func(cfg *zuora.Config) { cfg.RequestTimeout = 100 * time.Millisecond })
		_, _, err := c.collect(context.Background())
		require.NoError(t, err)
		require.Len(t, c.sleeps.Delays(), 1)
		require.Contains(t, c.logs.String(), "deadline exceeded")
	})
	t.Run("5xx every time", func(t *testing.T) {
		f := newFakeZuora(t, func(w http.ResponseWriter, _ *http.Request, _ int64) {
			w.WriteHeader(http.StatusBadGateway)
		})
		c := newTestClient(t, f.srv.URL, func(cfg *zuora.Config) { cfg.Retry.Attempts = 3 })
		_, listing, err := c.collect(context.Background())
		require.ErrorIs(t, err, zuora.ErrUnavailable)
		require.False(t, listing.Complete)
		require.Equal(t, int64(3), f.pageCalls.Load())
		require.Contains(t, err.Error(), "after 3 attempts")
	})
}

func TestEveryRequestHasAFreshTrackID(t *testing.T) {
	f := newFakeZuora(t, func(w http.ResponseWriter, _ *http.Request, call int64) {
		if call < 3 {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		onePage(w, 1)
	})
	c := newTestClient(t, f.srv.URL, nil)
	_, _, err := c.collect(context.Background())
	require.NoError(t, err)
	f.mu.Lock()
	ids := append([]string(nil), f.trackIDs...)
	f.mu.Unlock()
	require.Len(t, ids, 4) // token + 3 page attempts
	seen := map[string]bool{}
	for _, id := range ids {
		_, err := uuid.Parse(id)
		require.NoError(t, err)
		require.False(t, seen[id], "track id reused")
		seen[id] = true
	}
	require.Contains(t, c.logs.String(), ids[1])
	require.Contains(t, c.logs.String(), ids[2])
}

func TestSecretAndTokenNeverInErrorsOrLogs(t *testing.T) {
	echo := func(w http.ResponseWriter, r *http.Request, status int) {
		w.WriteHeader(status)
		fmt.Fprintf(w, `{"error":{"code":"echo","message":"you sent %s and secret %s"}}`, r.Header.Get("Authorization"), testSecret)
	}
	tests := []struct {
		name  string
		setup func(f *fakeZuora)
		page  func(w http.ResponseWriter, r *http.Request, call int64)
	}{
		{"page 500 echoes", nil, func(w http.ResponseWriter, r *http.Request, _ int64) { echo(w, r, 500) }},
		{"page 403 echoes", nil, func(w http.ResponseWriter, r *http.Request, _ int64) { echo(w, r, 403) }},
		{"page 401 echoes", nil, func(w http.ResponseWriter, r *http.Request, _ int64) { echo(w, r, 401) }},
		{"token endpoint echoes the secret", func(f *fakeZuora) {
			f.tokenStatus, f.tokenBody = 401, `{"error":"invalid_client","error_description":"secret `+testSecret+` is wrong"}`
		}, nil},
		{"token endpoint answers garbage with the secret", func(f *fakeZuora) {
			f.tokenStatus, f.tokenBody = 200, `{"access_token":1,"x":"`+testSecret+`"}`
		}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			page := tt.page
			if page == nil {
				page = func(w http.ResponseWriter, _ *http.Request, _ int64) { onePage(w, 1) }
			}
			f := newFakeZuora(t, page)
			if tt.setup != nil {
				tt.setup(f)
			}
			c := newTestClient(t, f.srv.URL, func(cfg *zuora.Config) { cfg.Retry.Attempts = 2 })
			_, _, err := c.collect(context.Background())
			require.Error(t, err)
			for _, leak := range []string{testSecret, "tok-1", "tok-2"} {
				require.NotContains(t, err.Error(), leak)
				require.NotContains(t, fmt.Sprintf("%+v", err), leak)
				require.NotContains(t, c.logs.String(), leak)
			}
		})
	}
}

func TestInvalidConfigFailsEveryCall(t *testing.T) {
	c := zuora.New(zuora.Config{BaseURL: "not a url", ClientSecret: testSecret})
	_, err := c.ListWorkflows(context.Background(), func(zuora.Page) error { return nil })
	require.ErrorIs(t, err, zuora.ErrInvalidConfig)
	require.NotContains(t, err.Error(), testSecret)
}

func TestUnreachableServerIsErrUnavailable(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	base := srv.URL
	srv.Close()
	c := newTestClient(t, base, func(cfg *zuora.Config) { cfg.Retry.Attempts = 3 })
	_, listing, err := c.collect(context.Background())
	require.ErrorIs(t, err, zuora.ErrUnavailable)
	require.Contains(t, err.Error(), "token")
	require.False(t, listing.Complete)
	require.Len(t, c.sleeps.Delays(), 2)
}

func TestCancelledContextStopsTheRetries(t *testing.T) {
	f := newFakeZuora(t, func(w http.ResponseWriter, _ *http.Request, _ int64) {
		w.WriteHeader(http.StatusServiceUnavailable)
	})
	ctx, cancel := context.WithCancel(context.Background())
	c := newTestClient(t, f.srv.URL, func(cfg *zuora.Config) {
		cfg.Sleep = func(context.Context, time.Duration) error {
			cancel()
			return context.Canceled
		}
	})
	_, listing, err := c.collect(ctx)
	require.ErrorIs(t, err, context.Canceled)
	require.ErrorIs(t, err, zuora.ErrUnavailable, "the last failure is kept")
	require.False(t, listing.Complete)
	require.Equal(t, int64(1), f.pageCalls.Load())
}
