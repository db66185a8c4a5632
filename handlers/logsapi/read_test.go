package logsapi

import (
	"net/http/httptest"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"
)

func TestCursorRoundTrip(t *testing.T) {
	at := time.Date(2026, 11, 23, 2, 8, 59, 693805000, time.UTC)
	id := uuid.Must(uuid.NewV7())
	gotAt, gotID, err := decodeCursor(encodeCursor(at, id))
	require.NoError(t, err)
	require.True(t, at.Equal(gotAt))
	require.Equal(t, id, gotID)

	for _, bad := range []string{"", "!!", "bm9wZQ", "MTIzX25vdC1hLXV1aWQ"} {
		_, _, err := decodeCursor(bad)
		require.Error(t, err, bad)
	}
}

func TestParseListQuery(t *testing.T) {
	now := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		query     string
		wantField string
		check     func(t *testing.T, lq listQuery)
	}{
		{query: "", check: func(t *testing.T, lq listQuery) {
			require.Equal(t, defaultLimit, lq.limit)
			require.Nil(t, lq.since)
			require.False(t, lq.hasCur)
		}},
		{query: "level=ERROR,warning&source=api&q=x&limit=7", check: func(t *testing.T, lq listQuery) {
			require.Equal(t, []string{"error", "warning"}, lq.levels)
			require.Equal(t, "api", lq.source)
			require.Equal(t, 7, lq.limit)
		}},
		{query: "since=90m", check: func(t *testing.T, lq listQuery) { require.Equal(t, now.Add(-90*time.Minute), *lq.since) }},
		{query: "since=2026-01-02T03:04:05Z", check: func(t *testing.T, lq listQuery) {
			require.Equal(t, time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), *lq.since)
		}},
		{query: "level=verbose", wantField: "level"},
		{query: "since=-5m", wantField: "since"},
		{query: "limit=0", wantField: "limit"},
		{query: "limit=1001", wantField: "limit"},
		{query: "cursor=xyz", wantField: "cursor"},
	}
	for _, tt := range tests {
		t.Run(tt.query, func(t *testing.T) {
			lq, err := parseListQuery(httptest.NewRequest("GET", "/api/logs?"+tt.query, nil), now)
			if tt.wantField != "" {
				require.Error(t, err)
				require.Contains(t, err.Error(), tt.wantField)
				return
			}
			require.NoError(t, err)
			tt.check(t, lq)
		})
	}
}

func TestListSQLBindsEveryValue(t *testing.T) {
	since := time.Unix(0, 0)
	lq := listQuery{levels: []string{"error", "info"}, source: "s'; DROP TABLE x; --", q: "50%_off", since: &since, limit: 10,
		hasCur: true, cursorAt: since, cursorID: uuid.Nil}
	sql, args := lq.sql("log_entries")
	require.NotContains(t, sql, "DROP")
	require.Contains(t, sql, `FROM "log_entries" WHERE level = ANY($1) AND source = $2 AND message ILIKE $3 AND received_at >= $4 AND (received_at, id) < ($5, $6)`)
	require.Contains(t, sql, "LIMIT $7")
	require.Equal(t, `%50\%\_off%`, args[2])
	require.Equal(t, 11, args[6], "one more than the limit tells whether a next page exists")
}

func TestRecentIndexForgetsTheOldest(t *testing.T) {
	x := newRecentIndex(3)
	ids := []uuid.UUID{uuid.New(), uuid.New(), uuid.New(), uuid.New()}
	x.add(ids[:2], 1)
	x.add(ids[2:], 2)
	_, ok := x.get(ids[0])
	require.False(t, ok, "evicted")
	for i, want := range []uint64{0, 1, 2, 2} {
		if i == 0 {
			continue
		}
		seq, ok := x.get(ids[i])
		require.True(t, ok)
		require.Equal(t, want, seq)
	}
}
