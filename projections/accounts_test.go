package projections_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/eventline/eventline/eventstore"
	"github.com/eventline/eventline/internal/testenv"
	"github.com/eventline/eventline/projections"
)

// The accounts read model is updated in place: one row per account, its
// balance and its history (the events applied, in order, so that a row
// shows whether an event was applied before an earlier one).
const (
	accountsName  = "accounts"
	accountsTable = "accounts"
	acctOpened    = "acct.opened.v1"
	acctDeposited = "acct.deposited.v1"
	acctWithdrawn = "acct.withdrawn.v1"
)

// accounts projects events.acct.<id> into the accounts table. A payload
// whose amount is a string is poison (a Permanent decode error) unless
// lenient is set: the fix a test flips.
type accounts struct {
	projections.UpdatedInPlace
	table   string
	lenient *atomic.Bool
}

func (a accounts) Name() string       { return accountsName }
func (a accounts) Stream() string     { return testenv.TestStream.Name }
func (a accounts) Subjects() []string { return []string{"events.acct.>"} }

// amount decodes an event's amount.
func (a accounts) amount(ev projections.Event) (int64, error) {
	var p struct {
		Amount json.RawMessage `json:"amount"`
	}
	if err := json.Unmarshal(ev.Envelope.Data, &p); err != nil {
		return 0, projections.Permanent(fmt.Errorf("decode #%d: %w", ev.Seq, err))
	}
	raw := string(p.Amount)
	if a.lenient.Load() {
		raw = strings.Trim(raw, `"`)
	}
	n, err := strconv.ParseInt(raw, 10, 64)
	if err != nil {
		return 0, projections.Permanent(fmt.Errorf("decode #%d: amount %s: %w", ev.Seq, p.Amount, err))
	}
	return n, nil
}

// Apply writes each event in order; an event at or below the row's last_seq
// changes nothing (idempotent).
func (a accounts) Apply(ctx context.Context, tx pgx.Tx, events []projections.Event) (int64, error) {
	t := pgx.Identifier{a.table}.Sanitize()
	var rows int64
	for _, ev := range events {
		id := ev.Subject[strings.LastIndexByte(ev.Subject, '.')+1:]
		var sql string
		var args []any
		switch ev.Envelope.Type {
		case acctOpened:
			sql = `INSERT INTO ` + t + ` (id, balance, history, last_seq) VALUES ($1, 0, 'open', $2) ON CONFLICT (id) DO NOTHING`
			args = []any{id, int64(ev.Seq)}
		case acctDeposited, acctWithdrawn:
			n, err := a.amount(ev)
			if err != nil {
				return 0, err
			}
			step := fmt.Sprintf(",+%d", n)
			if ev.Envelope.Type == acctWithdrawn {
				n, step = -n, fmt.Sprintf(",-%d", n)
			}
			sql = `UPDATE ` + t + ` SET balance = balance + $2, history = history || $3, last_seq = $4 WHERE id = $1 AND last_seq < $4`
			args = []any{id, n, step, int64(ev.Seq)}
		default:
			return 0, projections.Permanent(fmt.Errorf("#%d: unknown type %q", ev.Seq, ev.Envelope.Type))
		}
		tag, err := tx.Exec(ctx, sql, args...)
		if err != nil {
			return 0, err
		}
		rows += tag.RowsAffected()
	}
	return rows, nil
}

// accountsSpec describes the accounts projection; lenient is its fix.
func accountsSpec(lenient *atomic.Bool) projections.Spec {
	return projections.Spec{
		Name:     accountsName,
		Stream:   testenv.TestStream.Name,
		Subjects: []string{"events.acct.>"},
		Tables:   []projections.Table{{Name: accountsTable, Key: "id", Seq: "last_seq"}},
		New: func(tables map[string]string) projections.Projection {
			return accounts{table: tables[accountsTable], lenient: lenient}
		},
	}
}

// createAccounts creates the accounts table (named table).
func createAccounts(t *testing.T, pool *pgxpool.Pool, table string) {
	t.Helper()
	_, err := pool.Exec(context.Background(), `CREATE TABLE `+pgx.Identifier{table}.Sanitize()+` (
		id text PRIMARY KEY, balance bigint NOT NULL, history text NOT NULL, last_seq bigint NOT NULL)`)
	require.NoError(t, err)
}

// acctEvent is one event of an account's history.
type acctEvent struct {
	id, typ, amount string // amount: JSON ("5" a number, `"5"` poison)
}

func opened(id string) acctEvent           { return acctEvent{id, acctOpened, ""} }
func deposit(id, amount string) acctEvent  { return acctEvent{id, acctDeposited, amount} }
func withdraw(id, amount string) acctEvent { return acctEvent{id, acctWithdrawn, amount} }

// appendAccounts appends evs in order and returns their sequences.
func appendAccounts(t *testing.T, st *eventstore.Store, evs ...acctEvent) []uint64 {
	t.Helper()
	var seqs []uint64
	for _, e := range evs {
		data := `{}`
		if e.amount != "" {
			data = `{"amount":` + e.amount + `}`
		}
		env := eventstore.Envelope{ID: uuid.Must(uuid.NewV7()), Type: e.typ, OccurredAt: time.Now().UTC(), Data: json.RawMessage(data)}
		ack, err := st.Append(context.Background(), "events.acct."+e.id, eventstore.NoExpectation, env)
		require.NoError(t, err)
		seqs = append(seqs, ack.Seq)
	}
	return seqs
}

// accountRows returns the rows of table as "id balance history", by id.
func accountRows(t *testing.T, pool *pgxpool.Pool, table string) []string {
	t.Helper()
	rows, err := pool.Query(context.Background(), `SELECT id || ' ' || balance || ' ' || history FROM `+pgx.Identifier{table}.Sanitize()+` ORDER BY id`)
	require.NoError(t, err)
	defer rows.Close()
	out, err := pgx.CollectRows(rows, pgx.RowTo[string])
	require.NoError(t, err)
	return out
}

// cleanAccounts projects the whole stream with the fixed projection into a
// fresh table and returns its rows: what the live model must end up as.
func cleanAccounts(t *testing.T, st *eventstore.Store, pool *pgxpool.Pool, skip ...uint64) []string {
	t.Helper()
	ctx := context.Background()
	table := "accounts_clean"
	_, err := pool.Exec(ctx, `DROP TABLE IF EXISTS `+table)
	require.NoError(t, err)
	createAccounts(t, pool, table)
	lenient := &atomic.Bool{}
	lenient.Store(true)
	var events []projections.Event
	require.NoError(t, st.Read(ctx, testenv.TestStream.Name, eventstore.ReadOptions{Subjects: []string{"events.acct.>"}}, func(ev eventstore.RawEvent) error {
		for _, s := range skip {
			if s == ev.Seq {
				return nil
			}
		}
		env, err := eventstore.UnmarshalEnvelope(ev.Data)
		require.NoError(t, err)
		events = append(events, projections.Event{Seq: ev.Seq, Subject: ev.Subject, Envelope: env})
		return nil
	}))
	require.NoError(t, pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		_, err := accounts{table: table, lenient: lenient}.Apply(ctx, tx, events)
		return err
	}))
	return accountRows(t, pool, table)
}

// runAccounts runs the live accounts projector until stop or the test ends.
func runAccounts(t *testing.T, st *eventstore.Store, pool *pgxpool.Pool, spec projections.Spec, cfg projections.Config) (*projections.Runner, func()) {
	t.Helper()
	if cfg.BatchWait == 0 {
		cfg.BatchWait = 5 * time.Millisecond
	}
	cfg.MinBackoff, cfg.MaxBackoff = 20*time.Millisecond, 100*time.Millisecond
	r := projections.NewRunner(spec.Live(), st.JetStream(), pool, cfg, nil, nil)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	var stopped atomic.Bool
	stop := func() {
		if stopped.CompareAndSwap(false, true) {
			cancel()
			require.NoError(t, <-done)
		}
	}
	t.Cleanup(stop)
	return r, stop
}

// waitAccountsCheckpoint polls until the accounts checkpoint reaches seq.
func waitAccountsCheckpoint(t *testing.T, pool *pgxpool.Pool, seq uint64) {
	t.Helper()
	require.Eventually(t, func() bool {
		cp, err := projections.LoadCheckpoint(context.Background(), pool, accountsName)
		return err == nil && cp.LastSeq >= seq
	}, 20*time.Second, 10*time.Millisecond, "checkpoint reaches #%d", seq)
}

// parkedStates summarises the parked events as "seq aggregate cause" or
// "seq aggregate held:N".
func parkedStates(t *testing.T, pool *pgxpool.Pool) []string {
	t.Helper()
	parked, err := projections.ListParked(context.Background(), pool, accountsName)
	require.NoError(t, err)
	out := []string{}
	for _, p := range parked {
		state := "cause"
		if p.Held() {
			state = fmt.Sprintf("held:%d", p.HeldBy)
		}
		out = append(out, fmt.Sprintf("%d %s %s", p.Seq, p.Aggregate, state))
	}
	return out
}
