package natsserver_test

import (
	"testing"

	"github.com/nats-io/nats.go"
	"github.com/stretchr/testify/require"

	"github.com/eventline/eventline/eventstore"
	"github.com/eventline/eventline/eventstore/natsserver"
)

// TestPullBoundHoldsOneFullBatchEvent: the embedded server takes the
// event of a full 16 MiB batch (plus what the event adds to its entries), and
// its largest message, which is how far a projector pulls ahead, stays under
// two such events, so a projector never holds two of them ahead at once.
func TestPullBoundHoldsOneFullBatchEvent(t *testing.T) {
	const fullBatchEvent = 16<<20 + 1<<20 // MaxBatchBody plus ids and times
	srv, err := natsserver.Start(natsserver.Config{StoreDir: t.TempDir(), Listen: "127.0.0.1:0"})
	require.NoError(t, err)
	t.Cleanup(srv.Shutdown)
	nc, err := nats.Connect(srv.ClientURL())
	require.NoError(t, err)
	t.Cleanup(nc.Close)

	require.GreaterOrEqual(t, nc.MaxPayload(), int64(fullBatchEvent))
	require.NoError(t, nc.Publish("big", make([]byte, fullBatchEvent)), "the event of a full batch is accepted")
	require.NoError(t, nc.Flush())
	require.Less(t, eventstore.PullByteLimit(nc, 16<<20), 2*(16<<20),
		"a projector's pull bound holds at most one event of a full batch")
}
