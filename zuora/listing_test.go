package zuora_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/eventline/eventline/zuora"
)

func TestResponseBodyIsBounded(t *testing.T) {
	f := newFakeZuora(t, func(w http.ResponseWriter, _ *http.Request, _ int64) { onePage(w, 50) })
	c := newTestClient(t, f.srv.URL, func(cfg *zuora.Config) { cfg.MaxBodyBytes = 1024 })
	_, listing, err := c.collect(context.Background())
	require.ErrorIs(t, err, zuora.ErrBadResponse)
	require.Contains(t, err.Error(), "page 1")
	require.Zero(t, listing.Pages)
	require.Equal(t, int64(1), f.pageCalls.Load())
}

func TestPaginationIsBounded(t *testing.T) {
	t.Run("next_page loops back", func(t *testing.T) {
		f := newFakeZuora(t, func(w http.ResponseWriter, r *http.Request, _ int64) {
			page, _ := strconv.Atoi(r.URL.Query().Get("page"))
			fullPage(w, r, fmt.Sprintf("/workflows?page=%d&page_length=50", page%3+1)) // 1→2→3→1
		})
		c := newTestClient(t, f.srv.URL, nil)
		_, listing, err := c.collect(context.Background())
		require.ErrorIs(t, err, zuora.ErrPagination)
		require.Contains(t, err.Error(), "loops back")
		require.False(t, listing.Complete)
		require.Equal(t, 3, listing.Pages)
	})
	t.Run("next_page never ends", func(t *testing.T) {
		f := newFakeZuora(t, func(w http.ResponseWriter, r *http.Request, _ int64) {
			page, _ := strconv.Atoi(r.URL.Query().Get("page"))
			fullPage(w, r, fmt.Sprintf("/workflows?page=%d&page_length=50", page+1))
		})
		c := newTestClient(t, f.srv.URL, func(cfg *zuora.Config) { cfg.MaxPages = 25 })
		_, listing, err := c.collect(context.Background())
		require.ErrorIs(t, err, zuora.ErrPagination)
		require.Contains(t, err.Error(), "more than 25 pages")
		require.False(t, listing.Complete)
		require.Equal(t, 25, listing.Pages)
	})
	t.Run("next_page on another host", func(t *testing.T) {
		var elsewhere atomic.Int64
		other := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { elsewhere.Add(1) }))
		t.Cleanup(other.Close)
		f := newFakeZuora(t, func(w http.ResponseWriter, r *http.Request, _ int64) {
			fullPage(w, r, other.URL+"/workflows?page=2&page_length=50")
		})
		c := newTestClient(t, f.srv.URL, nil)
		_, listing, err := c.collect(context.Background())
		require.ErrorIs(t, err, zuora.ErrPagination)
		require.False(t, listing.Complete)
		require.Zero(t, elsewhere.Load())
	})
	t.Run("a short page ends the listing", func(t *testing.T) {
		f := newFakeZuora(t, func(w http.ResponseWriter, _ *http.Request, _ int64) {
			_ = json.NewEncoder(w).Encode(map[string]any{
				"data":       []map[string]any{{"id": 1}, {"id": 2}},
				"pagination": map[string]any{"page": 1, "page_length": 50, "next_page": "/workflows?page=2&page_length=50"},
			})
		})
		c := newTestClient(t, f.srv.URL, nil)
		wfs, listing, err := c.collect(context.Background())
		require.NoError(t, err)
		require.True(t, listing.Complete)
		require.Len(t, wfs, 2)
		require.Equal(t, int64(1), f.pageCalls.Load())
	})
}

func TestBadWorkflowsAreErrorsNamingPageAndIndex(t *testing.T) {
	tests := []struct {
		name string
		item string
		want string
	}{
		{"no id", `{"name":"x"}`, "no id"},
		{"null id", `{"id":null}`, "no id"},
		{"zero id", `{"id":0}`, "positive integer"},
		{"text id", `{"id":"abc"}`, "positive integer"},
		{"bad createdAt", `{"id":9,"createdAt":"01/02/2026"}`, "createdAt"},
		{"bad updatedAt", `{"id":9,"updatedAt":"2026-02-30 10:00:00"}`, "updatedAt"},
		{"name not a string", `{"id":9,"name":12}`, "name: got number, want a string"},
		{"not an object", `[1,2]`, "got array, want an object"},
		{"fractional id", `{"id":1.5}`, "positive integer"},
		{"id too large", `{"id":99999999999999999999}`, "positive integer"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeZuora(t, func(w http.ResponseWriter, r *http.Request, call int64) {
				if call == 1 {
					fullPage(w, r, "/workflows?page=2&page_length=50")
					return
				}
				fmt.Fprintf(w, `{"data":[{"id":101},%s],"pagination":{"page":2,"page_length":50}}`, tt.item)
			})
			c := newTestClient(t, f.srv.URL, nil)
			_, listing, err := c.collect(context.Background())
			require.ErrorIs(t, err, zuora.ErrBadResponse)
			require.Contains(t, err.Error(), "page 2, workflow 1")
			require.Contains(t, err.Error(), tt.want)
			require.False(t, listing.Complete)
			require.Equal(t, 1, listing.Pages, "the bad page is not handed over")
		})
	}
	t.Run("no data array", func(t *testing.T) {
		f := newFakeZuora(t, func(w http.ResponseWriter, _ *http.Request, _ int64) {
			_, _ = w.Write([]byte(`{"pagination":{"page":1}}`))
		})
		c := newTestClient(t, f.srv.URL, nil)
		_, listing, err := c.collect(context.Background())
		require.ErrorIs(t, err, zuora.ErrBadResponse)
		require.Contains(t, err.Error(), "no data array")
		require.False(t, listing.Complete)
	})
	t.Run("numeric string id and both time forms decode", func(t *testing.T) {
		f := newFakeZuora(t, func(w http.ResponseWriter, _ *http.Request, _ int64) {
			_, _ = w.Write([]byte(`{"data":[{"id":"42","name":"A","description":null,"status":"Inactive",` +
				`"createdAt":"2026-01-02 03:04:05","updatedAt":"2026-01-02T04:04:05.500+01:00","extra":true}],"pagination":{}}`))
		})
		c := newTestClient(t, f.srv.URL, nil)
		wfs, listing, err := c.collect(context.Background())
		require.NoError(t, err)
		require.True(t, listing.Complete)
		require.Len(t, wfs, 1)
		require.Equal(t, int64(42), wfs[0].ID)
		require.Equal(t, "Inactive", wfs[0].Status)
		require.Equal(t, time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), wfs[0].CreatedAt)
		require.Equal(t, time.Date(2026, 1, 2, 3, 4, 5, 5e8, time.UTC), wfs[0].UpdatedAt)
		require.Contains(t, string(wfs[0].Raw), `"extra":true`)
	})
}

func TestCallbackErrorStopsTheListing(t *testing.T) {
	f := newFakeZuora(t, func(w http.ResponseWriter, r *http.Request, _ int64) {
		page, _ := strconv.Atoi(r.URL.Query().Get("page"))
		fullPage(w, r, fmt.Sprintf("/workflows?page=%d&page_length=50", page+1))
	})
	c := newTestClient(t, f.srv.URL, nil)
	stop := fmt.Errorf("enough")
	listing, err := c.ListWorkflows(context.Background(), func(p zuora.Page) error {
		if p.Number == 2 {
			return stop
		}
		return nil
	})
	require.ErrorIs(t, err, stop)
	require.Contains(t, err.Error(), "page 2")
	require.Equal(t, 1, listing.Pages)
	require.False(t, listing.Complete)
}
