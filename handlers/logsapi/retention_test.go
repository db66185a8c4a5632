package logsapi

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/eventline/eventline/domain/logs"
	"github.com/eventline/eventline/projections/logentries"
)

// TestModuleStreamCarriesRetention: the LOGS stream gets the configured
// age and byte limits.
func TestModuleStreamCarriesRetention(t *testing.T) {
	env := newLogsEnv(t)
	st := connect(t, env.natsURL, "retention")
	ctx := context.Background()
	require.NoError(t, st.EnsureStreams(ctx, Module(Config{Retention: time.Hour, MaxBytes: 1 << 30}).Streams))
	s, err := st.JetStream().Stream(ctx, logs.Stream)
	require.NoError(t, err)
	info, err := s.Info(ctx)
	require.NoError(t, err)
	require.Equal(t, time.Hour, info.Config.MaxAge)
	require.EqualValues(t, 1<<30, info.Config.MaxBytes)
	require.NoError(t, st.EnsureStreams(ctx, Module(Config{}).Streams))
	info, err = s.Info(ctx)
	require.NoError(t, err)
	require.Zero(t, info.Config.MaxAge, "0 keeps forever")
	require.EqualValues(t, -1, info.Config.MaxBytes)
}

// TestStatsShowRetention: a day dropped by retention shows in the stats'
// retention part (expired, oldest retained entry), and the counts still
// add up: received = persisted + pending + parked.
func TestStatsShowRetention(t *testing.T) {
	env := newLogsEnv(t)
	env.startProjector(t)
	p := env.startAPI(t, IngestConfig{}, LookupConfig{})
	p.h.Retention = Config{Retention: time.Hour}
	var seq uint64
	for i := range 3 {
		var acc acceptedOne
		resp, _ := do(t, http.MethodPost, p.URL+"/api/logs", "application/json", []byte(fmt.Sprintf(`{"message":"m%d"}`, i)), &acc)
		require.Equal(t, http.StatusAccepted, resp.StatusCode)
		seq = acc.Seq
	}
	resp, _ := do(t, http.MethodGet, p.URL+"/api/logs?min_seq="+strconv.FormatUint(seq, 10), "", nil, nil)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	// An old day, as a long-running deployment has (written straight in:
	// the projector never saw it, so the counts do not include it).
	ctx := context.Background()
	old := time.Now().UTC().AddDate(0, 0, -20)
	_, err := env.pool.Exec(ctx, fmt.Sprintf(`CREATE TABLE %s PARTITION OF log_entries FOR VALUES FROM ('%s') TO ('%s')`,
		logentries.PartitionName("log_entries", logentries.DayOf(old)), logentries.DayOf(old).Start().Format(time.RFC3339), logentries.DayOf(old).End().Format(time.RFC3339)))
	require.NoError(t, err)
	_, err = env.pool.Exec(ctx, `INSERT INTO log_entries (id, seq, level, message, received_at) VALUES (gen_random_uuid(), 1, 'info', 'old', $1)`, old)
	require.NoError(t, err)

	var before statsView
	do(t, http.MethodGet, p.URL+"/api/logs/stats", "", nil, &before)
	require.NotNil(t, before.Retention.OldestRetained)
	require.WithinDuration(t, old, *before.Retention.OldestRetained, time.Millisecond)
	require.EqualValues(t, 3600, before.Retention.MaxAgeSeconds)

	res, err := logentries.Maintain(ctx, env.pool, p.h.Retention.retention(), time.Now())
	require.NoError(t, err)
	require.NotEmpty(t, res.Dropped)

	var after statsView
	do(t, http.MethodGet, p.URL+"/api/logs/stats", "", nil, &after)
	require.Greater(t, after.Retention.Expired, int64(0))
	require.Equal(t, after.Received, after.Persisted+after.Pending+after.Parked)
	require.EqualValues(t, 3, after.Persisted, "persisted counts what was written; expired is apart")
	require.NotNil(t, after.Retention.OldestRetained)
	require.True(t, after.Retention.OldestRetained.After(time.Now().Add(-time.Hour)), "only the last hour's entries remain")
	require.NotZero(t, after.Retention.Partitions)
	require.NotNil(t, after.Retention.LastDropAt)
}
