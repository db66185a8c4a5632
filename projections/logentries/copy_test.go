package logentries

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/eventline/eventline/domain/logs"
	"github.com/eventline/eventline/eventstore"
	"github.com/eventline/eventline/internal/testenv"
	"github.com/eventline/eventline/migrations"
	"github.com/eventline/eventline/projections"
)

// TestBinaryCopyStoresWhatPgxStores projects the same awkward entries with
// the hand-written binary COPY and with pgx's own encoding (the upsert
// path), and requires identical rows.
func TestBinaryCopyStoresWhatPgxStores(t *testing.T) {
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, testenv.Postgres(t))
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	_, err = migrations.Up(ctx, pool)
	require.NoError(t, err)
	for _, table := range []string{"copy_binary", "copy_pgx"} {
		_, err := pool.Exec(ctx, `CREATE TABLE `+table+` (LIKE log_entries INCLUDING ALL)`)
		require.NoError(t, err)
	}
	entries := []logs.Entry{
		{ID: uuid.Must(uuid.NewV7()), Level: "info", Message: "plain", Source: "api", ReceivedAt: time.Date(2026, 11, 23, 4, 5, 6, 123456789, time.UTC)},
		{ID: uuid.Must(uuid.NewV7()), Level: "error", Message: "ünïcödé ✓ \"quoted\" \\ tab\t", Source: "", Context: []byte(`{"nested":{"a":[1,2.5,"x",null,true]},"emoji":"🙂"}`),
			ReceivedAt: time.Date(1999, 12, 31, 23, 59, 59, 999999999, time.FixedZone("x", -7*3600))},
		{ID: uuid.Must(uuid.NewV7()), Level: "debug", Message: "", Source: "worker-7", Context: []byte(`[]`), ReceivedAt: time.Date(1970, 1, 1, 0, 0, 0, 1000, time.UTC)},
		{ID: uuid.Must(uuid.NewV7()), Level: "warn", Message: "x", Source: "s", Context: []byte(`{}`), ReceivedAt: time.Date(2262, 4, 11, 23, 47, 16, 0, time.UTC)},
		{ID: uuid.Must(uuid.NewV7()), Level: "info", Message: "otel", Source: "checkout", Context: []byte(`{"resource":{"service.name":"checkout"},"attributes":{}}`),
			ReceivedAt: time.Date(2026, 11, 23, 4, 5, 6, 0, time.UTC), TraceID: "5b8efff798038103d269b633813fc60c", SpanID: "eee19b7ec3c1b174",
			Time: time.Date(2018, 12, 13, 14, 51, 0, 300000123, time.UTC), ObservedTime: time.Date(2018, 12, 13, 14, 51, 1, 0, time.UTC)},
	}
	var events []projections.Event
	for i, e := range entries {
		enc, err := logs.EncodeEntry(e)
		require.NoError(t, err)
		env := eventstore.Envelope{ID: uuid.Must(uuid.NewV7()), Type: logs.EntriesReceivedV1, OccurredAt: time.Now(), Data: logs.AppendPayload(nil, [][]byte{enc})}
		events = append(events, projections.Event{Seq: uint64(100 + i), Envelope: env})
	}
	require.NoError(t, pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		n, err := New("copy_binary").Apply(ctx, tx, events)
		require.EqualValues(t, len(entries), n)
		return err
	}))
	require.NoError(t, pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		p := New("copy_pgx")
		rows, err := p.Rows(events)
		require.NoError(t, err)
		n, err := p.upsert(ctx, tx, rows)
		require.EqualValues(t, len(entries), n)
		return err
	}))
	const cols = `id, seq, level, message, context, source, received_at, trace_id, span_id, event_time, observed_time`
	for _, q := range []string{
		`SELECT ` + cols + ` FROM copy_binary EXCEPT SELECT ` + cols + ` FROM copy_pgx`,
		`SELECT ` + cols + ` FROM copy_pgx EXCEPT SELECT ` + cols + ` FROM copy_binary`,
	} {
		var n int
		require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FROM (`+q+`) d`).Scan(&n))
		require.Zero(t, n, q)
	}
	var ctxNull bool
	require.NoError(t, pool.QueryRow(ctx, `SELECT context IS NULL FROM copy_binary WHERE seq = 100`).Scan(&ctxNull))
	require.True(t, ctxNull, "an entry without context stores NULL")
	var trace, span *string
	var at *time.Time
	require.NoError(t, pool.QueryRow(ctx, `SELECT trace_id, span_id, event_time FROM copy_binary WHERE seq = 104`).Scan(&trace, &span, &at))
	require.Equal(t, "5b8efff798038103d269b633813fc60c", *trace)
	require.Equal(t, "eee19b7ec3c1b174", *span)
	require.True(t, entries[4].Time.Truncate(time.Microsecond).Equal(*at), "event time kept to the microsecond")
	require.NoError(t, pool.QueryRow(ctx, `SELECT trace_id, event_time FROM copy_binary WHERE seq = 100`).Scan(&trace, &at))
	require.Nil(t, trace, "no trace id stores NULL")
	require.Nil(t, at, "no event time stores NULL")
}

// pgconn's CopyFrom can return on a fatal server error while its goroutine
// is still reading (it does not wait for it then): once stopped, the
// reader must read nothing more, so that the projector may finish its
// blocks. Before stop existed, the goroutine went on filling rows into the
// finished block builder and crashed the process (nil token set).
func TestACopyReaderStoppedWhileBeingReadReadsNoMore(t *testing.T) {
	var encoded [][]byte
	for i := range 100 {
		e, fe := logs.DecodeSingle([]byte(`{"level":"info","message":"entry `+strconv.Itoa(i)+` of a batch"}`), time.Now())
		require.Nil(t, fe)
		enc, err := logs.EncodeEntry(e)
		require.NoError(t, err)
		encoded = append(encoded, enc)
	}
	env := eventstore.Envelope{ID: uuid.New(), Type: logs.EntriesReceivedV1, OccurredAt: time.Now(), Data: logs.AppendPayload(nil, encoded)}
	events := make([]projections.Event, 2000) // 200,000 rows: far more than one Read
	for i := range events {
		events[i] = projections.Event{Seq: uint64(i + 1), Envelope: env}
	}
	r := &logCopyReader{entries: logEntries{events: events}, blocks: newBlockBuilder(true)}

	// pgconn's reading goroutine, as CopyFrom runs it.
	firstRead := make(chan struct{})
	readErr := make(chan error, 1)
	go func() {
		buf := make([]byte, 64<<10)
		for i := 0; ; i++ {
			_, err := r.Read(buf)
			if i == 0 {
				close(firstRead)
			}
			if err != nil {
				readErr <- err
				return
			}
		}
	}()
	<-firstRead
	r.stop() // what writeOnce does once CopyFrom returned
	rows := r.rows
	blocks := r.blocks.finish()
	require.ErrorIs(t, <-readErr, errCopyStopped)
	require.Less(t, rows, int64(200_000), "the reader was stopped mid-stream")
	require.Equal(t, rows, r.rows, "no row read after stop")
	total := 0
	for _, b := range blocks {
		total += b.entries
	}
	require.Equal(t, int(rows), total, "the blocks cover the rows read")
}
