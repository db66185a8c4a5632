package opsdash_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/eventline/eventline/internal/testenv"
	"github.com/eventline/eventline/platform/dashboard"
	"github.com/eventline/eventline/platform/httpapi"
	"github.com/eventline/eventline/platform/opsapi"
	"github.com/eventline/eventline/platform/opsdash"
	"github.com/eventline/eventline/projections"
)

// get fetches path as htmx does and returns the status and body; the
// client's timeout turns a hung handler into a failure.
func get(t *testing.T, url string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	require.NoError(t, err)
	req.Header.Set("HX-Request", "true")
	res, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
	require.NoError(t, err)
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	require.NoError(t, err)
	return res.StatusCode, string(b)
}

func TestFragmentsShowStreamsThenSayWhenNATSIsGone(t *testing.T) {
	store, nats := testenv.Store(t)
	d, err := dashboard.New(dashboard.Config{})
	require.NoError(t, err)
	opsdash.Mount(d, opsapi.NewInspector(store.JetStream(), nil, projections.NewRegistry()))
	srv := httpapi.NewServer(httpapi.ServerConfig{})
	d.Mount(srv)
	ts := httptest.NewServer(srv)
	t.Cleanup(ts.Close)

	status, body := get(t, ts.URL+opsdash.StreamsPath)
	require.Equal(t, http.StatusOK, status)
	assert.Contains(t, body, "LOGS")
	assert.Contains(t, body, "EVENTS")
	assert.Contains(t, body, "1 · leader <code>"+store.JetStream().Conn().ConnectedServerName()+"</code>", "a single server leads its R1 streams")
	status, body = get(t, ts.URL+opsdash.ProjectionsPath)
	require.Equal(t, http.StatusOK, status)
	assert.Contains(t, body, "No projections are registered.")
	status, body = get(t, ts.URL+opsdash.CardPath)
	require.Equal(t, http.StatusOK, status)
	assert.NotContains(t, body, `class="error"`)

	status, body = get(t, ts.URL+opsdash.PagePath)
	require.Equal(t, http.StatusOK, status)
	for _, p := range []string{opsdash.StreamsPath, opsdash.ConsumersPath, opsdash.ProjectionsPath} {
		assert.Contains(t, body, `hx-get="`+p+`"`)
	}
	_, body = get(t, ts.URL+"/")
	assert.Contains(t, body, `hx-get="`+opsdash.CardPath+`"`, "the overview has the card")

	// A dead NATS is a message in the fragment, not a hung page.
	// (The fragments share a reading for half a second: poll until the
	// one after the shutdown.)
	nats.Shutdown()
	for _, p := range []string{opsdash.StreamsPath, opsdash.ConsumersPath, opsdash.CardPath} {
		deadline := time.Now().Add(10 * time.Second)
		for {
			status, body = get(t, ts.URL+p)
			require.Equal(t, http.StatusOK, status, p)
			if strings.Contains(body, "slow or down") || time.Now().After(deadline) {
				break
			}
			time.Sleep(50 * time.Millisecond)
		}
		assert.Contains(t, body, `class="error" role="alert"`, p)
		assert.Contains(t, body, "slow or down", p)
	}
}
