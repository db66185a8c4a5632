-- +goose Up
-- Parked events an operator dropped (`eventline projections retry NAME --skip SEQ`):
-- the event, why it was parked, who skipped it, when and why.
CREATE TABLE projection_skipped (
    projection text        NOT NULL,
    seq        bigint      NOT NULL,
    subject    text        NOT NULL,
    event_type text        NOT NULL DEFAULT '',
    error      text        NOT NULL,
    data       bytea,
    parked_at  timestamptz NOT NULL,
    skipped_by text        NOT NULL,
    reason     text        NOT NULL DEFAULT '',
    skipped_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (projection, seq)
);

-- +goose Down
DROP TABLE projection_skipped;
