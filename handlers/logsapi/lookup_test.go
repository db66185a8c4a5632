package logsapi

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"
)

// idAt returns a made-up UUIDv7 whose time is at.
func idAt(at time.Time) uuid.UUID {
	id := uuid.Must(uuid.NewV7())
	ms := at.UnixMilli()
	for i := 5; i >= 0; i-- {
		id[i] = byte(ms)
		ms >>= 8
	}
	return id
}

type batchAnswer struct {
	Accepted int         `json:"accepted"`
	IDs      []uuid.UUID `json:"ids"`
	LastSeq  uint64      `json:"last_seq"`
}

// fillLog posts n batches of size entries, one after the other, and returns
// the time just before the first and just after the last.
func fillLog(t *testing.T, p *apiProc, n, size int) (time.Time, time.Time) {
	t.Helper()
	var b strings.Builder
	b.WriteString("[")
	for i := range size {
		if i > 0 {
			b.WriteString(",")
		}
		fmt.Fprintf(&b, `{"level":"info","message":"backlog entry %d %s","source":"fill"}`, i, strings.Repeat("x", 64))
	}
	b.WriteString("]")
	body := []byte(b.String())
	from := time.Now()
	for range n {
		var a batchAnswer
		resp, _ := do(t, "POST", p.URL+"/api/logs/batch", "application/json", body, &a)
		require.Equal(t, http.StatusAccepted, resp.StatusCode)
	}
	return from, time.Now()
}

func requireNotFound(t *testing.T, p *apiProc, id string) {
	t.Helper()
	var e apiError
	resp, raw := do(t, "GET", p.URL+"/api/logs/"+id, "", nil, &e)
	require.Equal(t, http.StatusNotFound, resp.StatusCode, "body: %s", raw)
	require.Equal(t, "not_found", e.Error.Code)
	require.NotEmpty(t, e.Error.Message)
}

// TestUnknownIDsCostBoundedWork: with a backlog in the log and no projector,
// an unknown id is answered 404 without reading the backlog: only event
// headers, and no event decoded.
func TestUnknownIDsCostBoundedWork(t *testing.T) {
	for _, mode := range []struct {
		name string
		tail bool
	}{{"tail index", true}, {"log scan", false}} {
		t.Run(mode.name, func(t *testing.T) { testUnknownIDsCostBoundedWork(t, mode.tail) })
	}
}

func testUnknownIDsCostBoundedWork(t *testing.T, tail bool) {
	env := newLogsEnv(t)
	p := env.startAPIWith(t, IngestConfig{}, LookupConfig{}, tail)
	from, to := fillLog(t, p, 200, 200) // about 6 MB of events, none projected
	mid := from.Add(to.Sub(from) / 2)

	tests := []struct {
		name string
		id   string
		// maxBytes bounds what the log may send for the lookup.
		maxBytes uint64
	}{
		{name: "future", id: idAt(time.Now().Add(time.Hour)).String(), maxBytes: 0},
		{name: "all ff", id: "ffffffff-ffff-7fff-bfff-ffffffffffff", maxBytes: 0},
		{name: "not v7", id: uuid.New().String(), maxBytes: 0},
		{name: "recent, inside the backlog", id: idAt(mid).String(), maxBytes: 256 << 10},
		{name: "recent, after the backlog", id: idAt(to.Add(time.Millisecond)).String(), maxBytes: 256 << 10},
		{name: "old", id: idAt(from.Add(-time.Hour)).String(), maxBytes: 64 << 10},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := p.inBytes()
			w0 := p.h.finder.work.decoded.Load()
			requireNotFound(t, p, tt.id)
			got := p.inBytes() - before
			require.LessOrEqual(t, got, tt.maxBytes, "bytes the log sent for one lookup")
			require.Zero(t, p.h.finder.work.decoded.Load()-w0, "events decoded")
		})
	}
	require.LessOrEqual(t, p.h.finder.work.headers.Load(), int64(3*200+10), "headers read in all")
	if tail {
		require.Zero(t, p.h.finder.work.scans.Load(), "log reads")
		require.Equal(t, int64(3), p.h.finder.work.indexed.Load(), "lookups answered from the index")
	}
}

// TestUnknownIDsCoveredByTheCheckpointReadNothing: once the projection has
// stored everything up to past an id's window, an unknown id in it is a
// PostgreSQL query, not a log read.
func TestUnknownIDsCoveredByTheCheckpointReadNothing(t *testing.T) {
	env := newLogsEnv(t)
	env.startProjector(t)
	p := env.startAPI(t, IngestConfig{}, LookupConfig{})
	from, _ := fillLog(t, p, 50, 100)
	require.Eventually(t, func() bool {
		var n int
		require.NoError(t, env.pool.QueryRow(t.Context(), `SELECT count(*) FROM log_entries`).Scan(&n))
		return n == 50*100
	}, 30*time.Second, 20*time.Millisecond)

	scans := p.h.finder.work.scans.Load()
	for _, at := range []time.Time{from.Add(-time.Hour), from.Add(-10 * time.Minute)} {
		requireNotFound(t, p, idAt(at).String())
	}
	require.Equal(t, scans, p.h.finder.work.scans.Load(), "log reads")
}

// TestUnprojectedEntriesAreFoundByEveryProcess: an entry accepted but not
// yet projected is served from the log with "persisted": false, by the
// process that accepted it and by another one, among a backlog.
func TestUnprojectedEntriesAreFoundByEveryProcess(t *testing.T) {
	for _, mode := range []struct {
		name string
		tail bool
	}{{"tail index", true}, {"log scan", false}} {
		t.Run(mode.name, func(t *testing.T) { testUnprojectedEntriesAreFound(t, mode.tail) })
	}
}

func testUnprojectedEntriesAreFound(t *testing.T, tail bool) {
	env := newLogsEnv(t)
	a := env.startAPIWith(t, IngestConfig{}, LookupConfig{}, tail)
	b := env.startAPIWith(t, IngestConfig{}, LookupConfig{}, tail)
	fillLog(t, a, 20, 100)
	var one struct {
		ID  uuid.UUID `json:"id"`
		Seq uint64    `json:"seq"`
	}
	resp, _ := do(t, "POST", a.URL+"/api/logs", "application/json", []byte(`{"level":"error","message":"needle","source":"t"}`), &one)
	require.Equal(t, http.StatusAccepted, resp.StatusCode)
	fillLog(t, b, 20, 100)
	var batch batchAnswer
	resp, _ = do(t, "POST", b.URL+"/api/logs/batch", "application/json", []byte(`[{"message":"in a batch"},{"message":"second"}]`), &batch)
	require.Equal(t, http.StatusAccepted, resp.StatusCode)

	for name, p := range map[string]*apiProc{"accepting process": a, "other process": b} {
		t.Run(name, func(t *testing.T) {
			var e entryView
			resp, raw := do(t, "GET", p.URL+"/api/logs/"+one.ID.String(), "", nil, &e)
			require.Equal(t, http.StatusOK, resp.StatusCode, "body: %s", raw)
			require.False(t, e.Persisted)
			require.Equal(t, "needle", e.Message)
			require.Equal(t, one.Seq, e.Seq)
			var got map[string]any
			require.NoError(t, json.Unmarshal(raw, &got))
			require.Equal(t, false, got["persisted"])

			resp, raw = do(t, "GET", p.URL+"/api/logs/"+batch.IDs[1].String(), "", nil, &e)
			require.Equal(t, http.StatusOK, resp.StatusCode, "body: %s", raw)
			require.Equal(t, "second", e.Message)
			require.Equal(t, batch.LastSeq, e.Seq)
		})
	}
	require.LessOrEqual(t, a.h.finder.work.decoded.Load()+b.h.finder.work.decoded.Load(), int64(4), "events decoded")
}

// TestLookupsOverTheirPaceGet503: lookups PostgreSQL cannot answer are
// paced; one that would wait past its timeout is refused.
func TestLookupsOverTheirPaceGet503(t *testing.T) {
	env := newLogsEnv(t)
	p := env.startAPI(t, IngestConfig{}, LookupConfig{Rate: 0.01, Burst: 1, Timeout: 200 * time.Millisecond})
	requireNotFound(t, p, idAt(time.Now()).String())
	var e apiError
	resp, raw := do(t, "GET", p.URL+"/api/logs/"+idAt(time.Now()).String(), "", nil, &e)
	require.Equal(t, http.StatusServiceUnavailable, resp.StatusCode, "body: %s", raw)
	require.Equal(t, "overloaded", e.Error.Code)
	require.Equal(t, "1", resp.Header.Get("Retry-After"))
}

// TestLookupsOverTheirSlotsGet503: lookups that read the log have a
// concurrency limit of their own; over it they are refused at once.
func TestLookupsOverTheirSlotsGet503(t *testing.T) {
	env := newLogsEnv(t)
	p := env.startAPIWith(t, IngestConfig{}, LookupConfig{Concurrency: 1}, false)
	p.h.finder.slots <- struct{}{} // a lookup in progress
	var e apiError
	resp, raw := do(t, "GET", p.URL+"/api/logs/"+idAt(time.Now()).String(), "", nil, &e)
	require.Equal(t, http.StatusServiceUnavailable, resp.StatusCode, "body: %s", raw)
	require.Equal(t, "overloaded", e.Error.Code)
	require.Equal(t, "1", resp.Header.Get("Retry-After"))
	<-p.h.finder.slots
	requireNotFound(t, p, idAt(time.Now()).String())
}

// TestTailIndexIsBounded: the index keeps at most its bound of events, the
// newest; an entry in an older unprojected event is still found, by
// reading the part of the log the index does not reach back to.
func TestTailIndexIsBounded(t *testing.T) {
	env := newLogsEnv(t)
	a := env.startAPI(t, IngestConfig{}, LookupConfig{})
	b := env.startAPI(t, IngestConfig{}, LookupConfig{TailEvents: 5})
	var first struct {
		ID uuid.UUID `json:"id"`
	}
	resp, _ := do(t, "POST", a.URL+"/api/logs", "application/json", []byte(`{"message":"first"}`), &first)
	require.Equal(t, http.StatusAccepted, resp.StatusCode)
	fillLog(t, a, 20, 1)
	require.True(t, b.h.finder.tail.caughtUp(t.Context()))
	b.h.finder.tail.mu.Lock()
	n, from := len(b.h.finder.tail.events), b.h.finder.tail.from
	b.h.finder.tail.mu.Unlock()
	require.LessOrEqual(t, n, 5)
	require.Greater(t, from, uint64(1))

	var e entryView
	resp, raw := do(t, "GET", b.URL+"/api/logs/"+first.ID.String(), "", nil, &e)
	require.Equal(t, http.StatusOK, resp.StatusCode, "body: %s", raw)
	require.Equal(t, "first", e.Message)
	require.Equal(t, int64(1), b.h.finder.work.scans.Load(), "the older part was read")
	requireNotFound(t, b, idAt(time.Now()).String())
}
