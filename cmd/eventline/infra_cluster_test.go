package main

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/eventline/eventline/internal/testenv"
	"github.com/eventline/eventline/platform/httpapi"
)

// serve's start-up against a cluster that lost its quorum (two nodes of
// three down: no meta leader, requests go unanswered) waits, saying why,
// instead of exiting, and succeeds once the nodes are back and have
// elected their leaders: streams and the idempotency bucket at three
// replicas.
func TestStartUpWaitsForTheClusterToElect(t *testing.T) {
	c := testenv.StartCluster(t, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cfg := defaultConfig()
	cfg.NATSURL, cfg.StreamReplicas, cfg.DataDir = c.URL(), 3, t.TempDir()
	const notReady = "jetstream not ready (no meta leader / stream leader being elected, or too few servers up); retrying"

	type result struct {
		in   *infra
		idem *httpapi.Idempotency
		err  error
	}
	// startUp opens what serve opens on JetStream, in the background.
	startUp := func(logs *syncBuffer) chan result {
		done := make(chan result, 1)
		go func() {
			in, err := openInfra(ctx, cfg, infraNeeds{nats: true, serve: true}, slog.New(slog.NewTextHandler(logs, nil)))
			if err != nil {
				done <- result{err: err}
				return
			}
			idem, err := openIdempotency(ctx, cfg, in)
			done <- result{in: in, idem: idem, err: err}
		}()
		return done
	}
	finished := func(done chan result, logs *syncBuffer) result {
		t.Helper()
		select {
		case r := <-done:
			require.NoError(t, r.err, "logs:\n%s", logs.String())
			t.Cleanup(r.in.close)
			require.NotNil(t, r.idem)
			return r
		case <-ctx.Done():
			t.Fatalf("start-up did not end once the cluster was whole; logs:\n%s", logs.String())
			return result{}
		}
	}

	// Two nodes of three down: no quorum, no meta leader.
	c.Kill(1)
	c.Kill(2)
	logs := &syncBuffer{}
	done := startUp(logs)
	require.Eventually(t, func() bool { return strings.Contains(logs.String(), notReady) }, 30*time.Second, 10*time.Millisecond,
		"a log line says why start-up waits; logs:\n%s", logs.String())
	select {
	case r := <-done:
		t.Fatalf("start-up ended without a quorum: %v", r.err)
	default:
	}
	c.Restart(1)
	c.Restart(2)
	r := finished(done, logs)
	js := r.in.store.JetStream()
	for _, name := range []string{modules(cfg).Streams()[0].Name, "KV_" + httpapi.IdempotencyBucket} {
		s, err := js.Stream(ctx, name)
		require.NoError(t, err)
		require.Equal(t, 3, s.CachedInfo().Config.Replicas, name)
	}
	require.Contains(t, logs.String(), `step="create streams"`)
}
