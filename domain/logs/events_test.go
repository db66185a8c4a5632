package logs_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/eventline/eventline/domain/logs"
	"github.com/eventline/eventline/internal/eventtest"
)

// Old payloads in testdata/ must keep decoding through the table production
// code uses: events are forever. Each file is a whole envelope as stored.
func TestOldPayloadsStillDecode(t *testing.T) {
	stored := eventtest.StoredPayloads(t)
	require.NotEmpty(t, stored)
	for typ, data := range stored {
		v, err := logs.Decode(typ, data)
		require.NoError(t, err)
		p, ok := v.(*logs.EntriesReceived)
		require.True(t, ok, "decoded into %T", v)
		require.Len(t, p.Entries, 1)
		require.Equal(t, "hello", p.Entries[0].Message)
	}
}

func TestDecodeKnowsOnlyItsTypes(t *testing.T) {
	_, err := logs.Decode("nobody.knows.v1", []byte(`{}`))
	require.ErrorIs(t, err, logs.ErrUnknownEvent)
	_, err = logs.Decode(logs.EntriesReceivedV1, []byte(`{"entries":"no"}`))
	require.Error(t, err)
	require.Contains(t, logs.Events(), logs.EntriesReceivedV1)
}
