package eventtest

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TypeName is the event store's rule for an event type name, e.g.
// "order.created.v1".
var TypeName = regexp.MustCompile(`^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+\.v[0-9]+$`)

// StoredPayloads reads testdata/*.json of the package under test: each file
// an envelope of the type its name says. It returns the payloads by type.
func StoredPayloads(t testing.TB) map[string]json.RawMessage {
	t.Helper()
	files, err := filepath.Glob("testdata/*.json")
	require.NoError(t, err)
	out := map[string]json.RawMessage{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		require.NoError(t, err)
		var env struct {
			Type string          `json:"type"`
			Data json.RawMessage `json:"data"`
		}
		require.NoError(t, json.Unmarshal(b, &env), f)
		require.Equal(t, strings.TrimSuffix(filepath.Base(f), ".json"), env.Type)
		out[env.Type] = env.Data
	}
	return out
}
