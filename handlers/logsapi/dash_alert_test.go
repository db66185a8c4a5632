package logsapi

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// The overview's banner says so when log entries have waited for
// PostgreSQL for a minute or more, and only then.
func TestPendingShouts(t *testing.T) {
	require.Empty(t, pendingShouts(0, time.Hour))
	require.Empty(t, pendingShouts(500, 59*time.Second))
	s := pendingShouts(500, 61*time.Second)
	require.Len(t, s, 1)
	require.Equal(t, int64(500), s[0].Count)
	require.Equal(t, "/logs", s[0].Link)
	require.Contains(t, s[0].Text, "log entries pending, the oldest for")
}
