-- +goose Up
-- Indexed search of the logs (issue 24). q= is a case-insensitive substring
-- of the message (message ILIKE '%q%'), which a trigram GIN index answers
-- for a q of three characters or more instead of reading the whole table.
-- Context filters (attr.K=V, resource.K=V, ctx.K=V) are containment tests
-- (context @> '{"attributes":{"K":V}}'), which a jsonb_path_ops GIN index
-- answers. Both are built on every day partition (the index of the
-- partitioned table is inherited by the partitions made later).
--
-- The trigram index needs the pg_trgm extension: the managed cluster's
-- superuser creates it (internal/pgcluster); on another database a role
-- that may create it (pg_trgm is trusted: CREATE on the database is
-- enough) does it here. Without it q= still works, unindexed, and a later
-- `CREATE EXTENSION pg_trgm; CREATE INDEX log_entries_message_trgm_idx ON
-- log_entries USING gin (message gin_trgm_ops)` by an administrator adds
-- the index.
-- +goose StatementBegin
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'pg_trgm') THEN
        BEGIN
            CREATE EXTENSION pg_trgm;
        EXCEPTION WHEN insufficient_privilege OR undefined_file OR feature_not_supported THEN
            RAISE NOTICE 'pg_trgm cannot be created here (%): q= stays unindexed', SQLERRM;
        END;
    END IF;
    IF EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'pg_trgm') THEN
        CREATE INDEX log_entries_message_trgm_idx ON log_entries USING gin (message gin_trgm_ops);
    END IF;
END
$$;
-- +goose StatementEnd
CREATE INDEX log_entries_context_idx ON log_entries USING gin (context jsonb_path_ops);

-- +goose Down
DROP INDEX log_entries_context_idx;
DROP INDEX IF EXISTS log_entries_message_trgm_idx;
