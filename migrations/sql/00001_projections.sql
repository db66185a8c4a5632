-- +goose Up
-- Where each projection has got to in its stream, and what it has done.
CREATE TABLE projection_checkpoints (
    name          text PRIMARY KEY,
    last_seq      bigint      NOT NULL DEFAULT 0,
    events        bigint      NOT NULL DEFAULT 0,
    rows          bigint      NOT NULL DEFAULT 0,
    batches       bigint      NOT NULL DEFAULT 0,
    last_flush_at timestamptz,
    updated_at    timestamptz NOT NULL DEFAULT now()
);

-- Events a projection could not apply: kept, counted and visible instead of
-- blocking the stream.
CREATE TABLE projection_parked (
    projection text        NOT NULL,
    seq        bigint      NOT NULL,
    subject    text        NOT NULL,
    event_type text        NOT NULL DEFAULT '',
    error      text        NOT NULL,
    data       bytea,
    parked_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (projection, seq)
);

-- +goose Down
DROP TABLE projection_parked;
DROP TABLE projection_checkpoints;
