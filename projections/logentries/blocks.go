package logentries

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Search blocks (issue 24). A per-entry trigram GIN index cost PostgreSQL
// about four times the COPY of the entries, and the jsonb one a fifth more:
// with both the projector wrote 0.55–0.6 of its rate without them. The
// search index is kept per block of consecutive entries instead, as
// ClickHouse's skip indexes and Loki's chunks do: a log_blocks row per
// block records its receive-time range, its entry count and its distinct
// tokens (tokens.go), and a GIN index on the tokens finds the blocks that
// may hold a match. A search then reads the entries of those blocks' time
// ranges only, through the received_at index, testing each. A block has
// up to BlockEntries entries, a few distinct tokens per entry where the
// per-entry index had forty.
//
// A block is written in the transaction that writes its entries, so every
// committed entry is in a block. Blocks are keyed by the table's oid, as
// log_volume is: a rebuild's shadow table takes its blocks along when it
// is renamed into place. A block with NULL tokens is one nobody indexed
// (entries written before this index, or with the index off): every search
// reads it, and IndexPending replaces it with indexed blocks.

// BlockEntries is the most entries a block holds: a search reads a whole
// block for each one whose tokens match, so a rare value costs about this
// many entries read per match on the page.
const BlockEntries = 512

// maxBlockSpan ends a block early at an entry that far from its range: a
// search that reads a block reads every entry of its range, so a block
// must not span much more than its own entries' time (entries come nearly
// in receive order; one written long after is put in a block of its own).
const maxBlockSpan = time.Hour

// maxBlockTokens ends a block early: entries with long, varied messages
// (stack traces) make large token sets.
const maxBlockTokens = 16384

// BlocksTable is the table of search blocks.
const BlocksTable = "log_blocks"

// block is one log_blocks row.
type block struct {
	first, last time.Time
	entries     int
	tokens      []int32 // nil: not indexed
}

// blockBuilder cuts the entries it is given, in order, into blocks.
type blockBuilder struct {
	index  bool // compute tokens (false: blocks with NULL tokens)
	set    *tokenSet
	cur    block
	blocks []block
}

// tokenSets are reused: a set's bitmap is 256 KiB.
var tokenSets = sync.Pool{New: func() any { return new(tokenSet) }}

func newBlockBuilder(index bool) *blockBuilder {
	b := &blockBuilder{index: index}
	if index {
		b.set = tokenSets.Get().(*tokenSet)
	}
	return b
}

// add counts an entry into the current block.
func (b *blockBuilder) add(at time.Time, message string, context []byte) {
	c := &b.cur
	if c.entries > 0 && (at.Sub(c.first) > maxBlockSpan || c.last.Sub(at) > maxBlockSpan) {
		b.cut()
	}
	if c.entries == 0 || at.Before(c.first) {
		c.first = at
	}
	if c.entries == 0 || at.After(c.last) {
		c.last = at
	}
	c.entries++
	if b.index {
		b.set.addEntry(message, context)
		if c.entries >= BlockEntries || b.set.len() >= maxBlockTokens {
			b.cut()
		}
	} else if c.entries >= BlockEntries*64 {
		b.cut()
	}
}

// cut ends the current block.
func (b *blockBuilder) cut() {
	if b.cur.entries == 0 {
		return
	}
	if b.index {
		b.cur.tokens = b.set.take()
		if b.cur.tokens == nil {
			b.cur.tokens = []int32{}
		}
	}
	b.blocks = append(b.blocks, b.cur)
	b.cur = block{}
}

// finish returns the blocks, the last one cut, and gives the token set back.
func (b *blockBuilder) finish() []block {
	b.cut()
	if b.set != nil {
		tokenSets.Put(b.set)
		b.set = nil
	}
	return b.blocks
}

// writeBlocks inserts blocks for table, in one statement.
func writeBlocks(ctx context.Context, tx pgx.Tx, table string, blocks []block) error {
	if len(blocks) == 0 {
		return nil
	}
	n := len(blocks)
	firsts, lasts := make([]time.Time, n), make([]time.Time, n)
	entries, offs, lens := make([]int32, n), make([]int32, n), make([]int32, n)
	indexed := make([]bool, n)
	var all []int32
	for i, b := range blocks {
		firsts[i], lasts[i], entries[i] = b.first, b.last, int32(b.entries)
		offs[i], lens[i], indexed[i] = int32(len(all)), int32(len(b.tokens)), b.tokens != nil
		all = append(all, b.tokens...)
	}
	if all == nil {
		all = []int32{}
	}
	// The tokens of all blocks travel as one array, each block's a slice.
	_, err := tx.Exec(ctx, `INSERT INTO log_blocks (tbl, first_at, last_at, entries, tokens)
		SELECT to_regclass($1), f, l, n, CASE WHEN i THEN ($7::int4[])[o + 1 : o + k] END
		FROM unnest($2::timestamptz[], $3::timestamptz[], $4::int4[], $5::int4[], $6::int4[], $8::bool[]) AS u(f, l, n, o, k, i)`,
		pgx.Identifier{table}.Sanitize(), firsts, lasts, entries, offs, lens, all, indexed)
	if err != nil {
		return fmt.Errorf("write the search blocks of %s: %w", table, err)
	}
	return nil
}

// IndexPending indexes up to max blocks nobody indexed (NULL tokens) of
// table, newest first: it reads their entries and replaces each with
// indexed blocks, in one transaction per block. Another process doing the
// same skips the blocks this one holds. It returns how many it indexed.
func IndexPending(ctx context.Context, pool *pgxpool.Pool, table string, max int) (int, error) {
	done := 0
	for done < max {
		found, err := indexOnePending(ctx, pool, table)
		if err != nil || !found {
			return done, err
		}
		done++
	}
	return done, nil
}

// indexPage is how many entries IndexPending reads at a time.
const indexPage = 50_000

func indexOnePending(ctx context.Context, pool *pgxpool.Pool, table string) (bool, error) {
	found := false
	err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		var id int64
		var first, last time.Time
		err := tx.QueryRow(ctx, `SELECT id, first_at, last_at FROM log_blocks
			WHERE tbl = to_regclass($1) AND tokens IS NULL ORDER BY last_at DESC LIMIT 1 FOR UPDATE SKIP LOCKED`,
			pgx.Identifier{table}.Sanitize()).Scan(&id, &first, &last)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil
		}
		if err != nil {
			return err
		}
		found = true
		if _, err := tx.Exec(ctx, `DELETE FROM log_blocks WHERE id = $1`, id); err != nil {
			return err
		}
		// The entries are read in pages along (received_at, id); the
		// blocks written so far are written page by page.
		b := newBlockBuilder(true)
		defer b.finish()
		afterAt, afterID, started := first, uuid.UUID{}, false
		for {
			cond := `received_at >= $1`
			args := []any{afterAt, last, indexPage}
			if started {
				cond = `(received_at, id) > ($1, $4)`
				args = append(args, afterID)
			}
			rows, err := tx.Query(ctx, `SELECT received_at, id, message, context FROM `+pgx.Identifier{table}.Sanitize()+`
				WHERE `+cond+` AND received_at <= $2 ORDER BY received_at, id LIMIT $3`, args...)
			if err != nil {
				return err
			}
			n := 0
			for rows.Next() {
				var msg string
				var cx []byte
				if err := rows.Scan(&afterAt, &afterID, &msg, &cx); err != nil {
					rows.Close()
					return err
				}
				b.add(afterAt, msg, cx)
				n++
			}
			if err := rows.Err(); err != nil {
				return err
			}
			started = true
			if n < indexPage {
				break
			}
			blocks := b.blocks
			b.blocks = nil
			if err := writeBlocks(ctx, tx, table, blocks); err != nil {
				return err
			}
		}
		return writeBlocks(ctx, tx, table, b.finish())
	})
	if err != nil {
		return false, fmt.Errorf("index the search blocks of %s: %w", table, err)
	}
	return found, nil
}

// MarkUnindexed records table's entries received from first to last as a
// block nobody indexed, which every search reads until IndexPending
// indexes it. Whoever writes entries around the projector (a bulk load, a
// test's fixture) calls it in the same transaction: a search passes over
// the entries no block covers.
func MarkUnindexed(ctx context.Context, db interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
}, table string, first, last time.Time, entries int64) error {
	_, err := db.Exec(ctx, `INSERT INTO log_blocks (tbl, first_at, last_at, entries, tokens) VALUES (to_regclass($1), $2, $3, $4, NULL)`,
		pgx.Identifier{table}.Sanitize(), first, last, entries)
	if err != nil {
		return fmt.Errorf("mark entries of %s unindexed: %w", table, err)
	}
	return nil
}
