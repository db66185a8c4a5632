-- +goose Up
-- An insert-only projection parks the item of an event that fails (one log
-- entry of a grouped event) instead of the whole event, so that the other
-- items land. item is '' for a whole parked event; items is how many items
-- (log entries) the record holds: 1 for an item, the event's count for an
-- event.
ALTER TABLE projection_parked
    ADD COLUMN item  text   NOT NULL DEFAULT '',
    ADD COLUMN items bigint NOT NULL DEFAULT 1;
ALTER TABLE projection_parked DROP CONSTRAINT projection_parked_pkey;
ALTER TABLE projection_parked ADD PRIMARY KEY (projection, seq, item);

ALTER TABLE projection_skipped
    ADD COLUMN item  text   NOT NULL DEFAULT '',
    ADD COLUMN items bigint NOT NULL DEFAULT 1;
ALTER TABLE projection_skipped DROP CONSTRAINT projection_skipped_pkey;
ALTER TABLE projection_skipped ADD PRIMARY KEY (projection, seq, item);

-- +goose Down
DELETE FROM projection_skipped WHERE item <> '';
ALTER TABLE projection_skipped DROP CONSTRAINT projection_skipped_pkey;
ALTER TABLE projection_skipped ADD PRIMARY KEY (projection, seq);
ALTER TABLE projection_skipped DROP COLUMN items, DROP COLUMN item;

DELETE FROM projection_parked WHERE item <> '';
ALTER TABLE projection_parked DROP CONSTRAINT projection_parked_pkey;
ALTER TABLE projection_parked ADD PRIMARY KEY (projection, seq);
ALTER TABLE projection_parked DROP COLUMN items, DROP COLUMN item;
