package logsapi

import (
	"context"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/eventline/eventline/projections/logentries"
)

// A search (q=, context filters) reads only the entries of the search
// blocks whose tokens hold its own (projections/logentries/blocks.go):
// the blocks are found through their GIN index, newest first, and the
// entries of their time ranges are read through the received_at index and
// tested one by one. A block with NULL tokens (never indexed) is read
// whatever the search.

// blockTerms are the tokens a block must hold for lq: all of all, and at
// least one of each anyOf (a context filter's alternatives). ok is false
// when lq has none (no q of three characters, no context filter): no block
// can be passed over.
func (lq listQuery) blockTerms() (all []int32, anyOf [][]int32, ok bool) {
	if lq.q != "" {
		all = logentries.QueryTokens(lq.q)
	}
	for _, f := range lq.context {
		if len(f.tokens) > 0 {
			anyOf = append(anyOf, f.tokens)
		}
	}
	return all, anyOf, len(all) > 0 || len(anyOf) > 0
}

// blockWhere is the log_blocks condition of a search (args by arg).
func blockWhere(all []int32, anyOf [][]int32, arg func(any) string) string {
	var terms []string
	if len(all) > 0 {
		terms = append(terms, "tokens @> "+arg(all)+"::int4[]")
	}
	for _, a := range anyOf {
		terms = append(terms, "tokens && "+arg(a)+"::int4[]")
	}
	return "tbl = 'log_entries'::regclass AND (tokens IS NULL OR (" + strings.Join(terms, " AND ") + "))"
}

// span is a closed range of receive times.
type span struct{ lo, hi time.Time }

// mergeSpans returns the union of spans as disjoint spans, newest first.
func mergeSpans(spans []span) []span {
	slices.SortFunc(spans, func(a, b span) int { return a.lo.Compare(b.lo) })
	var out []span
	for _, s := range spans {
		if n := len(out); n > 0 && !s.lo.After(out[n-1].hi) {
			if s.hi.After(out[n-1].hi) {
				out[n-1].hi = s.hi
			}
			continue
		}
		out = append(out, s)
	}
	slices.Reverse(out)
	return out
}

// Blocks read per round of a search: the first round is small (a common
// value fills the page from the newest blocks), each next one four times
// larger, up to the last.
const (
	firstRoundBlocks = 16
	maxRoundBlocks   = 16384
)

// searchBlocks answers lq (with blockTerms) a page at a time, in rounds.
// A round reads the blocks that may match and straddle its upper bound
// (begin at or before it, end after it) and the k newest of those that
// end at or before it; every entry newer than the oldest end among the
// latter (its lower bound) and not newer than its upper bound is in one
// of them. It reads those entries of their ranges, newest first; the next
// round goes on below its lower bound. Rounds end when the page is full or
// no block is left.
func (h *Handler) searchBlocks(ctx context.Context, tx pgx.Tx, lq listQuery, all []int32, anyOf [][]int32) ([]entryView, error) {
	var upper *time.Time
	if lq.hasCur {
		upper = &lq.cursorAt
	}
	if lq.until != nil && (upper == nil || lq.until.Before(*upper)) {
		upper = lq.until
	}
	// The planner cannot tell that a block's range holds a few hundred
	// entries, so its estimates of the entries' queries pass the JIT
	// threshold, and compiling took ~50 ms of a 7 ms query.
	if _, err := tx.Exec(ctx, `SET LOCAL jit = off`); err != nil {
		return nil, err
	}
	want := lq.limit + 1
	var items []entryView
	for k := firstRoundBlocks; len(items) < want; k = min(k*4, maxRoundBlocks) {
		spans, lower, err := roundBlocks(ctx, tx, all, anyOf, lq.since, upper, k)
		if err != nil {
			return nil, err
		}
		if lower != nil && upper != nil && !lower.Before(*upper) {
			// k blocks end at the upper bound itself: a larger round.
			if k == maxRoundBlocks {
				return items, nil
			}
			continue
		}
		if err := plannerDefaults(ctx, tx); err != nil {
			return nil, err
		}
		if len(spans) > 0 {
			got, err := roundEntries(ctx, tx, lq, spans, lower, upper, want-len(items))
			if err != nil {
				return nil, err
			}
			items = append(items, got...)
		}
		if lower == nil {
			break // every block was read
		}
		upper = lower
	}
	return items, nil
}

// roundBlocks returns the spans, merged, of the blocks a round reads (see
// searchBlocks) and its lower bound (nil: no block is left below).
func roundBlocks(ctx context.Context, tx pgx.Tx, all []int32, anyOf [][]int32, since, upper *time.Time, k int) ([]span, *time.Time, error) {
	var args []any
	arg := func(v any) string {
		args = append(args, v)
		return "$" + strconv.Itoa(len(args))
	}
	cond := func() string {
		where := blockWhere(all, anyOf, arg)
		if since != nil {
			where += " AND last_at >= " + arg(*since)
		}
		return where
	}
	q := `SELECT false, first_at, last_at FROM (SELECT first_at, last_at FROM log_blocks WHERE ` + cond()
	if upper != nil {
		q += ` AND last_at <= ` + arg(*upper)
	}
	q += ` ORDER BY last_at DESC LIMIT ` + arg(k) + `) newest`
	if upper != nil {
		q += ` UNION ALL SELECT true, first_at, last_at FROM log_blocks WHERE ` + cond() +
			` AND first_at <= ` + arg(*upper) + ` AND last_at > ` + arg(*upper)
	}
	rows, err := queryBlocks(ctx, tx, q, args)
	if err != nil {
		return nil, nil, err
	}
	var spans []span
	var newest int
	var oldestEnd time.Time
	for rows.Next() {
		var straddles bool
		var s span
		if err := rows.Scan(&straddles, &s.lo, &s.hi); err != nil {
			rows.Close()
			return nil, nil, err
		}
		if !straddles {
			if newest == 0 || s.hi.Before(oldestEnd) {
				oldestEnd = s.hi
			}
			newest++
		}
		spans = append(spans, s)
	}
	if err := rows.Err(); err != nil {
		return nil, nil, err
	}
	var lower *time.Time
	if newest == k {
		lower = &oldestEnd
	}
	return mergeSpans(spans), lower, nil
}

// queryBlocks runs a query of log_blocks through the GIN index on tokens
// (a bitmap scan), whatever the planner estimates: the other ways it may
// choose, walking log_blocks newest first or reading it whole, test each
// block's tokens, which are stored apart (TOAST) and take about 50 µs
// each to read back, so a rare value would cost a read of every block
// (measured: 110–180 ms over 2,000 blocks). rows must be read before tx
// runs another statement.
func queryBlocks(ctx context.Context, tx pgx.Tx, q string, args []any) (pgx.Rows, error) {
	if _, err := tx.Exec(ctx, `SET LOCAL enable_seqscan = off; SET LOCAL enable_indexscan = off`); err != nil {
		return nil, err
	}
	return tx.Query(ctx, q, args...)
}

// plannerDefaults undoes queryBlocks' settings for the entries' queries,
// but for sequential scans: a block's range is a few hundred entries of a
// partition, read through the received_at index. Today's partition grows
// faster than autoanalyze keeps its statistics, and a partition the
// planner believes small got a sequential scan for each block's range:
// 150-170 ms for attr.user_id=4242 just after 300,000 entries came in, 9 ms
// once analyzed.
func plannerDefaults(ctx context.Context, tx pgx.Tx) error {
	_, err := tx.Exec(ctx, `SET LOCAL enable_indexscan = on`)
	return err
}

// roundEntries reads up to n entries matching lq in spans, newer than lower
// and not newer than upper (each when set), newest first.
func roundEntries(ctx context.Context, tx pgx.Tx, lq listQuery, spans []span, lower, upper *time.Time, n int) ([]entryView, error) {
	los, his := make([]time.Time, len(spans)), make([]time.Time, len(spans))
	for i, s := range spans {
		los[i], his[i] = s.lo, s.hi
	}
	var args []any
	arg := func(v any) string {
		args = append(args, v)
		return "$" + strconv.Itoa(len(args))
	}
	where := append(lq.where(arg), "received_at >= r.lo", "received_at <= r.hi")
	if lq.hasCur {
		where = append(where, "(received_at, id) < ("+arg(lq.cursorAt)+", "+arg(lq.cursorID)+")")
	}
	if lower != nil {
		where = append(where, "received_at > "+arg(*lower))
	}
	if upper != nil {
		where = append(where, "received_at <= "+arg(*upper))
	}
	limit := arg(n)
	q := `SELECT e.* FROM unnest(` + arg(los) + `::timestamptz[], ` + arg(his) + `::timestamptz[]) AS r(lo, hi)
		CROSS JOIN LATERAL (SELECT ` + entryColumns + ` FROM log_entries WHERE ` + strings.Join(where, " AND ") + `
			ORDER BY received_at DESC, id DESC LIMIT ` + limit + `) e
		ORDER BY e.received_at DESC, e.id DESC LIMIT ` + limit
	return queryEntries(ctx, tx, q, args)
}

// matchingSpans returns the spans, merged, of every block that may hold an
// entry matching the terms between from and to: what a count over the
// range must read. more is true when there were over max of them (the
// count then reads the whole range). tx's planner settings are left as
// they were.
func matchingSpans(ctx context.Context, tx pgx.Tx, all []int32, anyOf [][]int32, from, to time.Time, max int) (spans []span, more bool, err error) {
	var args []any
	arg := func(v any) string {
		args = append(args, v)
		return "$" + strconv.Itoa(len(args))
	}
	where := blockWhere(all, anyOf, arg) + " AND last_at >= " + arg(from) + " AND first_at <= " + arg(to)
	rows, err := queryBlocks(ctx, tx, `SELECT first_at, last_at FROM log_blocks WHERE `+where+` LIMIT `+arg(max+1), args)
	if err != nil {
		return nil, false, err
	}
	spans, err = pgx.CollectRows(rows, func(row pgx.CollectableRow) (span, error) {
		var s span
		return s, row.Scan(&s.lo, &s.hi)
	})
	if err == nil {
		err = plannerDefaults(ctx, tx)
	}
	if err != nil || len(spans) > max {
		return nil, err == nil, err
	}
	return mergeSpans(spans), false, nil
}
