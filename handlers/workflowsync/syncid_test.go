package workflowsync

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/eventline/eventline/platform/httpapi"
	"github.com/eventline/eventline/projections"
	"github.com/eventline/eventline/projections/syncmodel"
)

// Defect 5 of issue 26: the sync_id a 202 (or the 201 of a new customer)
// answers is readable at once through GET /api/syncs/{id}, even while the
// read model has not applied its sync.started yet: the read waits for the
// model to reach the stream's end. Before: 404 until the projector caught
// up (seconds on a busy machine).
func TestASyncIDIsReadableAtOnce(t *testing.T) {
	e := newAPIEnv(t)
	hs := httpapi.NewServer(httpapi.ServerConfig{})
	NewReads(e.pool).WithLog(e.store).Mount(hs)
	reads := httptest.NewServer(hs)
	t.Cleanup(reads.Close)

	r := e.post(t, "/api/customers", customerBody("acme", "s3cret-value"))
	require.Equal(t, http.StatusCreated, r.Status, r.Body)
	syncID := r.json(t)["sync_id"].(string)
	require.NotEmpty(t, syncID)

	// The projector starts only after the GET was sent.
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	t.Cleanup(func() { cancel(); wg.Wait() })
	wg.Go(func() {
		select {
		case <-time.After(300 * time.Millisecond):
		case <-ctx.Done():
			return
		}
		_ = projections.NewRunner(syncmodel.Spec().Live(), e.store.JetStream(), e.pool,
			projections.Config{BatchWait: 5 * time.Millisecond}, nil, nil).Run(ctx)
	})
	resp, err := http.Get(reads.URL + "/api/syncs/" + syncID)
	require.NoError(t, err)
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	require.Equal(t, http.StatusOK, resp.StatusCode, string(body))
	var got map[string]any
	require.NoError(t, json.Unmarshal(body, &got))
	require.Equal(t, syncID, got["id"])
	require.Equal(t, "running", got["status"])

	resp, err = http.Get(reads.URL + "/api/syncs/no-such-sync")
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusNotFound, resp.StatusCode, "an unknown id is still 404")
}
