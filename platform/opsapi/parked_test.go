package opsapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/eventline/eventline/eventstore"
	"github.com/eventline/eventline/internal/testenv"
	"github.com/eventline/eventline/migrations"
	"github.com/eventline/eventline/platform/httpapi"
	"github.com/eventline/eventline/platform/opsapi"
	"github.com/eventline/eventline/platform/reactor"
	"github.com/eventline/eventline/projections"
)

func TestMain(m *testing.M) { testenv.Main(m) }

var errBroken = errors.New("test reactor is broken")

// A reactor's parked messages are listed, skipped (with who and why) and
// retried over /api/ops, as `eventline reactors retry` does, with the
// reactor's real handler; a skip needs a reason, an unknown name is a 404.
func TestParkedReactorMessagesOverTheAPI(t *testing.T) {
	ctx := context.Background()
	store, _ := testenv.Store(t)
	pool, err := pgxpool.New(ctx, testenv.Postgres(t))
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	_, err = migrations.Up(ctx, pool)
	require.NoError(t, err)
	require.NoError(t, store.EnsureStreams(ctx, []eventstore.StreamSpec{{Name: "RTEST", Subjects: []string{"rtest.>"}}}))
	var broken atomic.Bool
	broken.Store(true)
	r := reactor.Reactor{Name: "apitest", Stream: "RTEST", Subjects: []string{"rtest.in.>"},
		Policy: reactor.Policy{MinBackoff: time.Millisecond},
		Handler: func(ctx context.Context, ev reactor.Event, fx *reactor.Effects) error {
			if broken.Load() {
				return reactor.Permanent(errBroken)
			}
			_, err := fx.Append(ctx, "rtest.out", eventstore.NoExpectation, "test.out.v1", map[string]int{"n": 1})
			return err
		}}
	reg := reactor.NewRegistry()
	require.NoError(t, reg.Add(r))
	rt, err := reactor.NewRuntime(store, pool, reg.All(), reactor.Config{})
	require.NoError(t, err)
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- rt.Run(rctx) }()
	t.Cleanup(func() { cancel(); <-done })

	var seqs []uint64
	for i := range 2 {
		env, err := eventstore.NewEnvelope("test.in.v1", map[string]int{"i": i})
		require.NoError(t, err)
		ack, err := store.Append(ctx, "rtest.in."+strconv.Itoa(i), eventstore.NoExpectation, env)
		require.NoError(t, err)
		seqs = append(seqs, ack.Seq)
	}

	parked := opsapi.NewParked(store, pool, projections.NewRegistry(), reg)
	s := httpapi.NewServer(httpapi.ServerConfig{})
	opsapi.NewHandler(opsapi.NewInspector(store.JetStream(), pool, projections.NewRegistry())).WithParked(parked).Mount(s)
	srv := httptest.NewServer(s)
	t.Cleanup(srv.Close)
	call := func(method, path, body string, out any) int {
		t.Helper()
		req, err := http.NewRequest(method, srv.URL+path, bytes.NewBufferString(body))
		require.NoError(t, err)
		if body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		if out != nil {
			require.NoError(t, json.NewDecoder(resp.Body).Decode(out))
		}
		return resp.StatusCode
	}

	var list struct {
		Items      []opsapi.ParkedGroup `json:"items"`
		NextCursor *string              `json:"next_cursor"`
	}
	require.Eventually(t, func() bool {
		require.Equal(t, http.StatusOK, call("GET", "/api/ops/parked", "", &list))
		return len(list.Items) == 1 && list.Items[0].Total == 2
	}, 20*time.Second, 20*time.Millisecond)
	require.NotNil(t, list.NextCursor)
	g := list.Items[0]
	require.Equal(t, opsapi.KindReactor, g.Kind)
	require.Equal(t, "apitest", g.Name)
	require.Contains(t, g.Items[0].Error, errBroken.Error())
	require.Equal(t, http.StatusOK, call("GET", "/api/ops/parked?limit=1", "", &list))
	require.Len(t, list.Items[0].Items, 1, "limit bounds the items shown")
	require.Equal(t, int64(2), list.Items[0].Total, "the total stays whole")

	var e map[string]map[string]string
	skip := `{"skip":` + strconv.FormatUint(seqs[0], 10) + `,"by":"bob"}`
	require.Equal(t, http.StatusBadRequest, call("POST", "/api/ops/reactors/apitest/retry", skip, &e))
	require.Equal(t, "reason", e["error"]["field"])
	require.Equal(t, http.StatusNotFound, call("POST", "/api/ops/reactors/nope/retry", "", &e))
	require.Equal(t, http.StatusBadRequest, call("POST", "/api/ops/reactors/apitest/retry", `{"skip":1,"oops":1}`, &e))

	var out opsapi.RetryOutcome
	skip = `{"skip":` + strconv.FormatUint(seqs[0], 10) + `,"by":"bob","reason":"bad data"}`
	require.Equal(t, http.StatusOK, call("POST", "/api/ops/reactors/apitest/retry", skip, &out))
	require.Equal(t, seqs[0], out.Skipped)
	var by, reason string
	require.NoError(t, pool.QueryRow(ctx, `SELECT skipped_by, reason FROM reactor_skipped WHERE reactor = 'apitest'`).Scan(&by, &reason))
	require.Equal(t, "bob", by)
	require.Equal(t, "bad data", reason)
	require.Equal(t, http.StatusNotFound, call("POST", "/api/ops/reactors/apitest/retry", skip, &e), "skipped already")
	require.Equal(t, "not_parked", e["error"]["code"])

	broken.Store(false)
	out = opsapi.RetryOutcome{}
	require.Equal(t, http.StatusOK, call("POST", "/api/ops/reactors/apitest/retry", "", &out))
	require.Equal(t, opsapi.RetryOutcome{Kind: opsapi.KindReactor, Name: "apitest", Retried: 1, Done: 1}, out)
	require.Equal(t, http.StatusOK, call("GET", "/api/ops/parked", "", &list))
	require.Empty(t, list.Items)
	evs, _, err := store.Load(ctx, "RTEST", "rtest.out")
	require.NoError(t, err)
	require.Len(t, evs, 1, "the handler ran once on the retried message")
}
