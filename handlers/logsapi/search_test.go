package logsapi

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/plog/plogotlp"

	"github.com/eventline/eventline/domain/logs"
	"github.com/eventline/eventline/eventstore"
	"github.com/eventline/eventline/projections"
	"github.com/eventline/eventline/projections/logentries"
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

// TestSearchThroughBlocksFindsWhatAScanFinds: entries spread over many
// search blocks (and a block nobody indexed, written around the
// projector), searched a page at a time through the blocks, give exactly
// the entries and order a plain scan of the table gives, for common and
// rare words, context filters, time ranges and every cursor, over the
// rounds of searchBlocks; and a rare word reads only its own blocks.
func TestSearchThroughBlocksFindsWhatAScanFinds(t *testing.T) {
	ctx := context.Background()
	env := newLogsEnv(t)
	p := env.startAPI(t, IngestConfig{}, LookupConfig{})
	base := time.Now().UTC().Add(-time.Hour).Truncate(time.Millisecond)
	const n = 40 * logentries.BlockEntries
	var encoded [][]byte
	for i := range n {
		msg := fmt.Sprintf("request %d served in %dms", i, i%97)
		if i%7 == 0 {
			msg = fmt.Sprintf("Payment declined for order %d", i)
		}
		if i%5000 == 11 {
			msg += " zanzibar"
		}
		if i%logentries.BlockEntries == logentries.BlockEntries-1 {
			msg += " blockend" // a block's newest entry: where a round ends
		}
		cx := fmt.Sprintf(`{"attributes":{"user_id":%d},"resource":{"service.name":"svc-%d"}}`, i%300, i%3)
		b, err := logs.EncodeEntry(logs.Entry{ID: uuid.Must(uuid.NewV7()), Level: "info", Message: msg, Source: "api",
			Context: json.RawMessage(cx), ReceivedAt: base.Add(time.Duration(i) * 50 * time.Millisecond)})
		require.NoError(t, err)
		encoded = append(encoded, b)
	}
	ev := projections.Event{Seq: 1, Envelope: eventstore.Envelope{ID: uuid.Must(uuid.NewV7()), Type: logs.EntriesReceivedV1,
		OccurredAt: base, Data: logs.AppendPayload(nil, encoded)}}
	require.NoError(t, pgx.BeginFunc(ctx, env.pool, func(tx pgx.Tx) error {
		_, err := logentries.New("").Apply(ctx, tx, []projections.Event{ev})
		return err
	}))
	// Entries written around the projector, in the middle of the others,
	// in a block nobody indexed.
	around := base.Add(time.Duration(n/2)*50*time.Millisecond + 25*time.Millisecond)
	require.NoError(t, pgx.BeginFunc(ctx, env.pool, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO log_entries (id, seq, level, message, context, received_at)
			SELECT gen_random_uuid(), 2, 'info', 'payment written around ' || g, '{"attributes":{"user_id":7}}', $1::timestamptz + g * interval '1 microsecond'
			FROM generate_series(1, 30) g`, around)
		if err != nil {
			return err
		}
		return logentries.MarkUnindexed(ctx, tx, logentries.Table, around, around.Add(time.Millisecond), 30)
	}))
	var blocks int
	require.NoError(t, env.pool.QueryRow(ctx, `SELECT count(*) FROM log_blocks`).Scan(&blocks))
	require.Greater(t, blocks, 30)

	scan := func(lq listQuery) []uuid.UUID {
		query, args := lq.sql("log_entries")
		items, err := queryEntries(ctx, env.pool, query, args)
		require.NoError(t, err)
		return ids(items)
	}
	since, until := base.Add(3*time.Minute), base.Add(12*time.Minute)
	for _, query := range []string{"q=payment", "q=ZANZIBAR", "q=blockend", "q=written around", "q=served in 4", "attr.user_id=7", "attr.user_id=7&q=payment",
		"resource.service.name=svc-1&q=request 1", "q=nothing-like-this", "q=payment&since=" + since.Format(time.RFC3339Nano) + "&until=" + until.Format(time.RFC3339Nano)} {
		for _, limit := range []int{7, 100} {
			r, err := http.NewRequest(http.MethodGet, "/api/logs?limit="+strconv.Itoa(limit)+"&"+strings.ReplaceAll(query, " ", "%20"), nil)
			require.NoError(t, err)
			lq, err := parseListQuery(r, time.Now())
			require.NoError(t, err)
			_, _, ok := lq.blockTerms()
			require.True(t, ok, query)
			pages := 0
			for {
				want := scan(lq)
				got, err := p.h.listEntries(ctx, lq)
				require.NoError(t, err)
				require.Equal(t, want[:min(len(want), limit)], ids(got.Items), "%s, limit %d, page %d", query, limit, pages)
				pages++
				if got.NextCursor == "" || pages == 5 {
					break
				}
				lq.cursorAt, lq.cursorID, _ = decodeCursor(got.NextCursor)
				lq.hasCur = true
			}
		}
	}

	// A rare word's blocks are few: the ones that hold it, and the one
	// nobody indexed.
	var spans []span
	var more bool
	require.NoError(t, pgx.BeginFunc(ctx, env.pool, func(tx pgx.Tx) (err error) {
		spans, more, err = matchingSpans(ctx, tx, logentries.QueryTokens("zanzibar"), nil, base.Add(-time.Hour), base.Add(time.Hour), 1000)
		return err
	}))
	require.False(t, more)
	require.LessOrEqual(t, len(spans), n/5000+2, "blocks read for a rare word: %v", spans)

	// The histogram of a search counts the entries of its blocks only,
	// and the same as counting every entry.
	from, to := base.Add(-time.Minute), base.Add(time.Hour)
	for _, q := range []string{"blockend", "written around", "payment"} {
		var want int64
		require.NoError(t, env.pool.QueryRow(ctx, `SELECT count(*) FROM log_entries WHERE message ILIKE $1`, "%"+q+"%").Scan(&want))
		v, err := p.h.histogram(ctx, listQuery{q: q, since: &from, until: &to}, time.Now())
		require.NoError(t, err)
		require.Equal(t, want, v.Total, q)
	}

	// Once indexed, the block written around the projector still answers.
	indexed, err := logentries.IndexPending(ctx, env.pool, logentries.Table, 10)
	require.NoError(t, err)
	require.Equal(t, 1, indexed)
	got, err := p.h.listEntries(ctx, listQuery{q: "written around", limit: 50})
	require.NoError(t, err)
	require.Len(t, got.Items, 30)
}

func ids(items []entryView) []uuid.UUID {
	out := []uuid.UUID{}
	for _, e := range items {
		out = append(out, e.ID)
	}
	return out
}
