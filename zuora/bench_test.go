package zuora_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/eventline/eventline/zuora"
	"github.com/eventline/eventline/zuora/zuorasim"
)

// BenchmarkListWorkflows10k lists 10,000 workflows (200 pages of 50) from an
// in-process sim with no added latency. "client" is the full client (auth,
// retries, decode, validation); "bare_get" is the baseline: the same 200
// pages fetched with a bare http.Client GET loop that reads each body and
// decodes nothing.
func BenchmarkListWorkflows10k(b *testing.B) {
	_, srv := startSim(b, 10_000, zuorasim.Options{})
	b.Run("client", func(b *testing.B) {
		c := zuora.New(zuora.Config{BaseURL: srv.URL, ClientID: "tenant-a", ClientSecret: testSecret})
		b.ReportAllocs()
		for b.Loop() {
			listing, err := c.ListWorkflows(context.Background(), func(zuora.Page) error { return nil })
			if err != nil || listing.Workflows != 10_000 {
				b.Fatalf("listing %+v: %v", listing, err)
			}
		}
		b.ReportMetric(float64(10_000*b.N)/b.Elapsed().Seconds(), "workflows/s")
	})
	b.Run("bare_get", func(b *testing.B) {
		token := simToken(b, srv.URL)
		hc := &http.Client{}
		b.ReportAllocs()
		for b.Loop() {
			for page := 1; page <= 200; page++ {
				req, _ := http.NewRequest(http.MethodGet, fmt.Sprintf("%s/workflows?page=%d&page_length=50", srv.URL, page), nil)
				req.Header.Set("Authorization", "Bearer "+token)
				resp, err := hc.Do(req)
				if err != nil {
					b.Fatal(err)
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				_ = resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					b.Fatalf("page %d: %s", page, resp.Status)
				}
			}
		}
		b.ReportMetric(float64(10_000*b.N)/b.Elapsed().Seconds(), "workflows/s")
	})
}

// simToken gets a token from the sim once, outside the timed loop.
func simToken(b *testing.B, base string) string {
	b.Helper()
	resp, err := http.PostForm(base+"/oauth/token", url.Values{
		"client_id": {"tenant-a"}, "client_secret": {testSecret}, "grant_type": {"client_credentials"},
	})
	require.NoError(b, err)
	defer resp.Body.Close()
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	require.NoError(b, json.NewDecoder(resp.Body).Decode(&tok))
	require.False(b, strings.TrimSpace(tok.AccessToken) == "")
	return tok.AccessToken
}

// BenchmarkListWorkflows10kLatency20ms lists the same 10,000 workflows with
// 20 ms added to every page by the sim; "x_ideal" is the time taken over the
// ideal 200 pages × 20 ms (the target for a whole sync is ≤ 1.15).
func BenchmarkListWorkflows10kLatency20ms(b *testing.B) {
	_, srv := startSim(b, 10_000, zuorasim.Options{Latency: 20 * time.Millisecond})
	c := zuora.New(zuora.Config{BaseURL: srv.URL, ClientID: "tenant-a", ClientSecret: testSecret})
	for b.Loop() {
		listing, err := c.ListWorkflows(context.Background(), func(zuora.Page) error { return nil })
		if err != nil || listing.Workflows != 10_000 {
			b.Fatalf("listing %+v: %v", listing, err)
		}
	}
	b.ReportMetric(float64(10_000*b.N)/b.Elapsed().Seconds(), "workflows/s")
	b.ReportMetric(b.Elapsed().Seconds()/float64(b.N)/(200*0.020), "x_ideal")
}
