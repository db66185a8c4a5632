package natsserver_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/stretchr/testify/require"

	"github.com/eventline/eventline/eventstore"
	"github.com/eventline/eventline/eventstore/natsserver"
	"github.com/eventline/eventline/internal/testenv"
)

// bigEvent is an event of about n bytes.
func bigEvent(t *testing.T, n int) eventstore.Envelope {
	t.Helper()
	env, err := eventstore.NewEnvelope("test.big.v1", map[string]string{"pad": strings.Repeat("x", n)})
	require.NoError(t, err)
	return env
}

// runGuard runs g until the test ends.
func runGuard(t *testing.T, g *natsserver.DiskGuard) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		_ = g.Run(ctx)
	}()
	t.Cleanup(func() {
		cancel()
		wg.Wait()
	})
}

// TestDiskGuardRecoversTheEmbeddedServer fills the embedded server's
// filesystem behind the guard's back, so that a write fails inside JetStream
// (which then refuses every write to the stream, even after space is freed,
// until it is restarted). The guard refuses appends at once while that lasts
// and, once space is back, restarts JetStream: appends succeed again and the
// events stored before are still there.
func TestDiskGuardRecoversTheEmbeddedServer(t *testing.T) {
	storeDir := filepath.Join(t.TempDir(), "nats")
	testenv.SmallFS(t, storeDir, 64<<20)
	emb, err := natsserver.Start(natsserver.Config{StoreDir: storeDir, Listen: "127.0.0.1:0"})
	require.NoError(t, err)
	t.Cleanup(emb.Shutdown)
	ctx := context.Background()
	st, err := eventstore.Connect(ctx, eventstore.Options{URL: emb.ClientURL(), Name: t.Name()})
	require.NoError(t, err)
	t.Cleanup(st.Close)
	require.NoError(t, st.EnsureStreams(ctx, testenv.Streams))

	guard := natsserver.NewDiskGuard(natsserver.DiskGuardConfig{
		Dir: storeDir, Server: emb, MinFree: 8 << 20, Interval: 50 * time.Millisecond})
	st.SetWriteGuard(guard)
	runGuard(t, guard)

	first, err := st.Append(ctx, testenv.TestSubject, eventstore.NoExpectation, bigEvent(t, 64<<10))
	require.NoError(t, err)

	filler := testenv.FillFS(t, storeDir, 0)
	// Straight to JetStream, past the guard: the server's write fails.
	body, err := bigEvent(t, 256<<10).Marshal()
	require.NoError(t, err)
	pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	_, err = st.JetStream().PublishMsg(pctx, &nats.Msg{Subject: testenv.TestSubject, Data: body})
	cancel()
	require.Error(t, err, "a write to a full disk cannot succeed")

	require.Eventually(t, func() bool {
		err := guard.Check(ctx)
		return err != nil && strings.Contains(err.Error(), "log storage full")
	}, 10*time.Second, 20*time.Millisecond)
	actx, cancel := context.WithTimeout(ctx, 5*time.Second)
	_, err = st.Append(actx, testenv.TestSubject, eventstore.NoExpectation, bigEvent(t, 1<<10))
	cancel()
	require.ErrorIs(t, err, eventstore.ErrStorageFull)

	require.NoError(t, os.Remove(filler))
	var next eventstore.Ack
	require.Eventually(t, func() bool {
		actx, cancel := context.WithTimeout(ctx, 2*time.Second)
		defer cancel()
		next, err = st.Append(actx, testenv.TestSubject, eventstore.NoExpectation, bigEvent(t, 1<<10))
		return err == nil
	}, 30*time.Second, 50*time.Millisecond, "appends never resumed once space was freed")
	require.Greater(t, next.Seq, first.Seq)
	require.NoError(t, guard.Check(ctx))
	for _, seq := range []uint64{first.Seq, next.Seq} {
		_, err := st.Get(ctx, testenv.TestStream.Name, seq)
		require.NoError(t, err, "event #%d", seq)
	}
}
