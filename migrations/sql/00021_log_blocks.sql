-- +goose Up
-- Search blocks (issue 24; projections/logentries/blocks.go). The search
-- index of the logs is kept per block of up to 512 consecutive entries
-- instead of per entry: a row per block holds its receive-time range and
-- the distinct tokens (message trigrams, context leaves) of its entries,
-- and a GIN index on the tokens finds the blocks a search must read. The
-- per-entry trigram and jsonb GIN indexes cost PostgreSQL more than the
-- entries themselves; they go.
--
-- tbl is the partitioned table's oid, as in log_volume (a rebuild's shadow
-- table takes its blocks along when renamed into place). tokens NULL: a
-- block nobody indexed yet, which every search reads; the entries already
-- stored get one such block per day here, and the logs maintenance indexes
-- them (newest first) in the background.
CREATE TABLE log_blocks (
    id       bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tbl      oid         NOT NULL,
    first_at timestamptz NOT NULL,
    last_at  timestamptz NOT NULL,
    entries  integer     NOT NULL,
    tokens   integer[]
);
-- A search reads log_blocks through the GIN index only: an index on the
-- times would let the planner walk the blocks in time order and test each
-- one's tokens, which are stored apart (TOAST) and cost ~50 µs each to
-- read back (a rare value: a read of every block). The blocks nobody
-- indexed have a partial index of their own.
CREATE INDEX log_blocks_tokens_idx ON log_blocks USING gin (tokens);
CREATE INDEX log_blocks_pending_idx ON log_blocks (tbl, last_at DESC) WHERE tokens IS NULL;

INSERT INTO log_blocks (tbl, first_at, last_at, entries, tokens)
SELECT tbl, min(minute), max(minute) + interval '1 minute', sum(entries), NULL
FROM log_volume WHERE tbl = 'log_entries'::regclass
GROUP BY tbl, date_trunc('day', minute, 'UTC');

DROP INDEX IF EXISTS log_entries_message_trgm_idx;
DROP INDEX IF EXISTS log_entries_context_idx;

-- +goose Down
CREATE INDEX log_entries_context_idx ON log_entries USING gin (context jsonb_path_ops);
-- +goose StatementBegin
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'pg_trgm') THEN
        CREATE INDEX log_entries_message_trgm_idx ON log_entries USING gin (message gin_trgm_ops);
    END IF;
END
$$;
-- +goose StatementEnd
DROP TABLE log_blocks;
