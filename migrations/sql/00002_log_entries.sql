-- +goose Up
-- The write-behind log read model. id is the entry's UUIDv7 (time-ordered);
-- seq the stream sequence of the event that carried it.
CREATE TABLE log_entries (
    id           uuid        PRIMARY KEY,
    seq          bigint      NOT NULL,
    level        text        NOT NULL,
    message      text        NOT NULL,
    context      jsonb,
    source       text        NOT NULL DEFAULT '',
    received_at  timestamptz NOT NULL,
    persisted_at timestamptz NOT NULL DEFAULT now()
);
-- Newest first, optionally narrowed by level or source (the list filters).
CREATE INDEX log_entries_received_idx ON log_entries (received_at DESC, id DESC);
CREATE INDEX log_entries_level_idx ON log_entries (level, received_at DESC, id DESC);
CREATE INDEX log_entries_source_idx ON log_entries (source, received_at DESC, id DESC);

-- +goose Down
DROP TABLE log_entries;
