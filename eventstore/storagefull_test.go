package eventstore_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/stretchr/testify/require"

	"github.com/eventline/eventline/eventstore"
	"github.com/eventline/eventline/internal/testenv"
)

// bigEvent is an event of about n bytes.
func bigEvent(t *testing.T, n int) eventstore.Envelope {
	t.Helper()
	return newEvent(t, "test.big.v1", map[string]string{"pad": strings.Repeat("x", n)})
}

// TestStorageLimitIsStorageFull runs a server with a small storage limit, as
// an external NATS may have: once it is reached, appends fail with
// ErrStorageFull, not as an unreachable log.
func TestStorageLimitIsStorageFull(t *testing.T) {
	srv, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: server.RANDOM_PORT, JetStream: true,
		StoreDir: t.TempDir(), JetStreamMaxStore: 1 << 20, JetStreamMaxMemory: 16 << 20, NoLog: true, NoSigs: true})
	require.NoError(t, err)
	srv.Start()
	t.Cleanup(srv.Shutdown)
	require.True(t, srv.ReadyForConnections(10*time.Second))
	ctx := context.Background()
	st, err := eventstore.Connect(ctx, eventstore.Options{URL: srv.ClientURL(), Name: t.Name()})
	require.NoError(t, err)
	t.Cleanup(st.Close)
	require.NoError(t, st.EnsureStreams(ctx, testenv.Streams))

	for _, tc := range []struct {
		name   string
		append func() error
	}{
		{"sync", func() error {
			_, err := st.Append(ctx, testenv.TestSubject, eventstore.NoExpectation, bigEvent(t, 128<<10))
			return err
		}},
		{"async", func() error {
			p, err := st.AppendAsync(testenv.TestSubject, bigEvent(t, 128<<10))
			if err != nil {
				return err
			}
			_, err = p.Wait(ctx)
			return err
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var err error
			for i := 0; i < 20 && err == nil; i++ {
				err = tc.append()
			}
			require.ErrorIs(t, err, eventstore.ErrStorageFull, fmt.Sprint(err))
		})
	}
}
