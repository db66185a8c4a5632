-- +goose Up
-- Indexed search of the logs (issue 24). q= is a case-insensitive substring
-- of the message (message ILIKE '%q%'), which a trigram GIN index answers
-- for a q of three characters or more instead of reading the whole table.
-- Context filters (attr.K=V, resource.K=V, ctx.K=V) are containment tests
-- (context @> '{"attributes":{"K":V}}'), which a jsonb_path_ops GIN index
-- answers. Both are built on every day partition (the index of the
-- partitioned table is inherited by the partitions made later). pg_trgm is
-- a trusted extension: the database's owner may create it.
CREATE EXTENSION IF NOT EXISTS pg_trgm;
CREATE INDEX log_entries_message_trgm_idx ON log_entries USING gin (message gin_trgm_ops);
CREATE INDEX log_entries_context_idx ON log_entries USING gin (context jsonb_path_ops);

-- +goose Down
DROP INDEX log_entries_context_idx;
DROP INDEX log_entries_message_trgm_idx;
