package workflowsync

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/eventline/eventline/projections/syncmodel"
)

func TestPageURLKeepsOnlySetValues(t *testing.T) {
	require.Equal(t, "/customers", pageURL("/customers", "cursor", ""))
	require.Equal(t, "/c/1?cursor=abc&q=a+%26+b", pageURL("/c/1", "q", "a & b", "status", "", "cursor", "abc"))
	require.Equal(t, "/x", pageURL("/x", "odd"), "a name without a value is left out")
}

func TestFormatCappedShowsThePlusPastTheCap(t *testing.T) {
	require.Equal(t, "0", formatCapped(0, 10_000))
	require.Equal(t, "9,999", formatCapped(9_999, 10_000))
	require.Equal(t, "10,000", formatCapped(10_000, 10_000))
	require.Equal(t, "10,000+", formatCapped(10_001, 10_000))
	require.Equal(t, "1,234,567", groupThousands(1_234_567))
	require.Equal(t, "10,000+", dashCount{N: syncmodel.CountCap + 1}.String())
}

func TestSyncDurationAndWhen(t *testing.T) {
	start := time.Date(2026, 1, 1, 10, 0, 0, 0, time.UTC)
	end := start.Add(1500 * time.Millisecond)
	require.Equal(t, 1500*time.Millisecond, syncDuration(start, &end, start.Add(time.Hour)))
	require.Equal(t, 3*time.Second, syncDuration(start, nil, start.Add(3*time.Second)), "running: until now")
	before := start.Add(-time.Second)
	require.Zero(t, syncDuration(start, &before, start), "clock skew is never negative")
	require.Equal(t, "just now", agoText(start, start.Add(200*time.Millisecond)))
	require.Equal(t, "12 s ago", agoText(start, start.Add(12*time.Second)))
	require.Equal(t, int64(3), dashSync{syncmodel.SyncRun{ErrorCount: 8, Stats: syncmodel.SyncStats{Errors: make([]string, 5)}}}.MoreErrors())
	require.Zero(t, dashSync{syncmodel.SyncRun{ErrorCount: 2, Stats: syncmodel.SyncStats{Errors: make([]string, 2)}}}.MoreErrors())
}

func TestParseDashCursor(t *testing.T) {
	get := func(q string) *http.Request { return httptest.NewRequest(http.MethodGet, "/customers?"+q, nil) }
	c, err := parseDashCursor(get(""), "cursor", true)
	require.NoError(t, err)
	require.Nil(t, c)

	at := time.Date(2026, 1, 1, 10, 0, 0, 0, time.UTC)
	id := uuid.New()
	good := readCursor{At: at, ID: id.String()}.encode()
	c, err = parseDashCursor(get("cursor="+good), "cursor", true)
	require.NoError(t, err)
	require.Equal(t, id.String(), c.ID)
	require.True(t, at.Equal(c.At))

	for name, q := range map[string]string{
		"not base64":      "cursor=%25%25",
		"not JSON":        "cursor=" + url.QueryEscape("bm9wZQ"),
		"no time":         "cursor=" + readCursor{ID: id.String()}.encode(),
		"no id":           "cursor=" + readCursor{At: at}.encode(),
		"id not a UUID":   "cursor=" + readCursor{At: at, ID: "x"}.encode(),
		"a workflow one":  "cursor=" + readCursor{ZuoraID: 5}.encode(),
		"NUL in the id":   "cursor=" + readCursor{At: at, ID: "a\x00"}.encode(),
		"id far too long": "cursor=" + readCursor{At: at, ID: string(make([]byte, 300))}.encode(),
	} {
		_, err := parseDashCursor(get(q), "cursor", true)
		require.Error(t, err, name)
	}
	// A sync id need not be a UUID.
	_, err = parseDashCursor(get("sync_cursor="+readCursor{At: at, ID: "slot-2026"}.encode()), "sync_cursor", false)
	require.NoError(t, err)
}

func TestSyncLiveViewPollsUntilTheSyncEnds(t *testing.T) {
	id := uuid.New()
	v := syncLiveView{CustomerID: id, SyncID: "a/b c"}
	require.True(t, v.Polling(), "not in the read model yet")
	require.Equal(t, "/customers/"+id.String()+"/syncs/a%2Fb%20c", v.Poll())
	v.Found = true
	require.True(t, v.Polling(), "running")
	end := time.Now()
	v.Sync.FinishedAt = &end
	require.False(t, v.Polling())
}
