package logs_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/eventline/eventline/domain/logs"
)

// Old payloads in testdata/ must keep decoding through the table production
// code uses: events are forever. Each file is a whole envelope as stored.
func TestOldPayloadsStillDecode(t *testing.T) {
	files, err := filepath.Glob("testdata/*.json")
	require.NoError(t, err)
	require.NotEmpty(t, files)
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			b, err := os.ReadFile(f)
			require.NoError(t, err)
			var env struct {
				Type string          `json:"type"`
				Data json.RawMessage `json:"data"`
			}
			require.NoError(t, json.Unmarshal(b, &env))
			require.Equal(t, strings.TrimSuffix(filepath.Base(f), ".json"), env.Type)
			v, err := logs.Decode(env.Type, env.Data)
			require.NoError(t, err)
			p, ok := v.(*logs.EntriesReceived)
			require.True(t, ok, "decoded into %T", v)
			require.Len(t, p.Entries, 1)
			require.Equal(t, "hello", p.Entries[0].Message)
		})
	}
}

func TestDecodeKnowsOnlyItsTypes(t *testing.T) {
	_, err := logs.Decode("nobody.knows.v1", []byte(`{}`))
	require.ErrorIs(t, err, logs.ErrUnknownEvent)
	_, err = logs.Decode(logs.EntriesReceivedV1, []byte(`{"entries":"no"}`))
	require.Error(t, err)
	require.Contains(t, logs.Events(), logs.EntriesReceivedV1)
}
