-- +goose Up
-- A projection whose rows are updated in place (sagas, orders) never applies
-- a later event of an aggregate before an earlier one: the event it cannot
-- apply is parked with its aggregate (held_by 0: the cause), and the later
-- events of that aggregate are parked behind it (held_by: the sequence of
-- the event they wait for) until it is retried or skipped. Insert-only
-- projections leave aggregate empty.
ALTER TABLE projection_parked
    ADD COLUMN aggregate text   NOT NULL DEFAULT '',
    ADD COLUMN held_by   bigint NOT NULL DEFAULT 0;
CREATE INDEX projection_parked_aggregate_idx ON projection_parked (projection, aggregate, seq) WHERE aggregate <> '';

ALTER TABLE projection_skipped
    ADD COLUMN aggregate text   NOT NULL DEFAULT '',
    ADD COLUMN held_by   bigint NOT NULL DEFAULT 0;

-- +goose Down
ALTER TABLE projection_skipped DROP COLUMN held_by, DROP COLUMN aggregate;
DROP INDEX projection_parked_aggregate_idx;
ALTER TABLE projection_parked DROP COLUMN held_by, DROP COLUMN aggregate;
