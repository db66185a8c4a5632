-- +goose Up
-- The customers pages of the dashboard (issue 14): the customers list,
-- newest first, and the last syncs across customers (the overview card).
-- Both are keyset reads that an index turns into a few index entries
-- instead of a sort of the whole table.
CREATE INDEX customers_created_idx ON customers (created_at DESC, id DESC);
CREATE INDEX sync_runs_started_idx ON sync_runs (started_at DESC, sync_id DESC);

-- +goose Down
DROP INDEX sync_runs_started_idx;
DROP INDEX customers_created_idx;
