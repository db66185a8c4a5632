package logsapi

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/plog/plogotlp"
)

// TestSearchFiltersAndTimeRange: q= (substring), context filters on the
// attributes and the resource of OTLP entries and on the context of our
// own, and since/until, alone and together, with the cursor paging.
func TestSearchFiltersAndTimeRange(t *testing.T) {
	env := newLogsEnv(t)
	env.startProjector(t)
	p := env.startAPI(t, IngestConfig{}, LookupConfig{})

	var last uint64
	post := func(body string) {
		var acc acceptedOne
		resp, raw := do(t, http.MethodPost, p.URL+"/api/logs", "application/json", []byte(body), &acc)
		require.Equal(t, http.StatusAccepted, resp.StatusCode, "%s", raw)
		last = max(last, acc.Seq)
	}
	post(`{"message":"payment declined for order 17","context":{"user_id":42,"plan":"pro"},"source":"billing"}`)
	post(`{"message":"Payment captured","context":{"user_id":"42"},"source":"billing"}`)
	post(`{"message":"disk nearly full","context":{"user_id":7},"source":"node-1"}`)
	ld := plog.NewLogs()
	rl := ld.ResourceLogs().AppendEmpty()
	rl.Resource().Attributes().PutStr("service.name", "checkout")
	lr := rl.ScopeLogs().AppendEmpty().LogRecords().AppendEmpty()
	lr.SetTimestamp(pcommon.NewTimestampFromTime(time.Now()))
	lr.Body().SetStr("checkout payment retried")
	lr.Attributes().PutInt("user_id", 42)
	lr.Attributes().PutBool("retry", true)
	body, err := plogotlp.NewExportRequestFromLogs(ld).MarshalProto()
	require.NoError(t, err)
	resp, raw := postOTLP(t, p.URL, otlpProtobuf, "", body)
	require.Equal(t, http.StatusOK, resp.StatusCode, "%s", raw)
	seq, err := strconv.ParseUint(resp.Header.Get("X-Eventline-Seq"), 10, 64)
	require.NoError(t, err)
	last = max(last, seq)

	list := func(query string) []string {
		t.Helper()
		var out listResponse
		resp, raw := do(t, http.MethodGet, p.URL+"/api/logs?min_seq="+strconv.FormatUint(last, 10)+"&"+query, "", nil, &out)
		require.Equal(t, http.StatusOK, resp.StatusCode, "%s: %s", query, raw)
		var msgs []string
		for _, e := range out.Items {
			msgs = append(msgs, e.Message)
		}
		return msgs
	}
	tests := []struct {
		query string
		want  []string
	}{
		{"q=payment", []string{"checkout payment retried", "Payment captured", "payment declined for order 17"}},
		{"q=" + url.QueryEscape("nearly fu"), []string{"disk nearly full"}},
		{"attr.user_id=42", []string{"checkout payment retried", "Payment captured", "payment declined for order 17"}},
		{"ctx.user_id=42", []string{"Payment captured", "payment declined for order 17"}},
		{"resource.service.name=checkout", []string{"checkout payment retried"}},
		{"attr.retry=true", []string{"checkout payment retried"}},
		{"attr.user_id=42&attr.plan=pro", []string{"payment declined for order 17"}},
		{"attr.user_id=42&q=captured", []string{"Payment captured"}},
		{"attr.user_id=8", nil},
		{"since=1h&until=" + url.QueryEscape(time.Now().Add(time.Minute).Format(time.RFC3339Nano)) + "&source=node-1", []string{"disk nearly full"}},
		{"until=" + url.QueryEscape(time.Now().Add(-time.Hour).Format(time.RFC3339)), nil},
	}
	for _, tt := range tests {
		require.Equal(t, tt.want, list(tt.query), tt.query)
	}

	// Pages of one.
	var page listResponse
	do(t, http.MethodGet, p.URL+"/api/logs?attr.user_id=42&limit=1", "", nil, &page)
	var seen []string
	for {
		require.Len(t, page.Items, 1)
		seen = append(seen, page.Items[0].Message)
		if page.NextCursor == "" {
			break
		}
		next := page.NextCursor
		page = listResponse{}
		do(t, http.MethodGet, p.URL+"/api/logs?attr.user_id=42&limit=1&cursor="+next, "", nil, &page)
	}
	require.Len(t, seen, 3)

	for _, bad := range []string{"attr.=1", "attr.k=" + strings.Repeat("x", 1100), "attr.k=%00", "q=%ff", "until=later"} {
		var e apiError
		resp, raw := do(t, http.MethodGet, p.URL+"/api/logs?"+bad, "", nil, &e)
		require.Equal(t, http.StatusBadRequest, resp.StatusCode, "%s: %s", bad, raw)
		require.NotEmpty(t, e.Error.Message)
	}
}

// TestSearchIsServedByIndexes: the queries q= and the context filters
// make can use the trigram and jsonb indexes (the plan names them once the
// planner may not read the whole table).
func TestSearchIsServedByIndexes(t *testing.T) {
	env := newLogsEnv(t)
	now := time.Now()
	tests := []struct {
		query string
		index string
	}{
		// Each partition's index is named after the partition and its column.
		{"q=payment", "_message_idx"},
		{"attr.user_id=42", "_context_idx"},
		{"resource.service.name=checkout", "_context_idx"},
		{"trace_id=0af7651916cd43dd8448eb211c80319c", "_trace_id_"},
	}
	for _, tt := range tests {
		r, err := http.NewRequest(http.MethodGet, "/api/logs?"+tt.query, nil)
		require.NoError(t, err)
		lq, err := parseListQuery(r, now)
		require.NoError(t, err)
		query, args := lq.sql("log_entries")
		var plan []string
		err = pgx.BeginFunc(context.Background(), env.pool, func(tx pgx.Tx) error {
			if _, err := tx.Exec(context.Background(), `SET LOCAL enable_seqscan = off; SET LOCAL enable_indexscan = off`); err != nil {
				return err
			}
			rows, err := tx.Query(context.Background(), "EXPLAIN "+query, args...)
			if err != nil {
				return err
			}
			plan, err = pgx.CollectRows(rows, pgx.RowTo[string])
			return err
		})
		require.NoError(t, err)
		require.Contains(t, strings.Join(plan, "\n"), "Index Scan", tt.query)
		require.Contains(t, strings.Join(plan, "\n"), tt.index, tt.query)
	}
}
