-- +goose Up
-- The stream a checkpoint counts in: its name and creation time. A stream
-- deleted and created again (a wiped store) starts its sequences over; a
-- projector that finds another stream than its checkpoint's stops instead of
-- skipping the new stream's first events. NULL: written before this column
-- existed (adopted by the first runner that can tell it is safe).
ALTER TABLE projection_checkpoints
    ADD COLUMN stream         text NOT NULL DEFAULT '',
    ADD COLUMN stream_created timestamptz;

-- +goose Down
ALTER TABLE projection_checkpoints DROP COLUMN stream_created, DROP COLUMN stream;
