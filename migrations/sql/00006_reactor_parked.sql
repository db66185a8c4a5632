-- +goose Up
-- Messages a reactor could not handle: a permanent failure, or an error that
-- outlasted the reactor's attempts. The message was acknowledged so that the
-- reactor moved on; `eventline reactors retry NAME` runs the handler again on
-- the event read back from the stream.
CREATE TABLE reactor_parked (
    reactor    text        NOT NULL,
    stream     text        NOT NULL,
    seq        bigint      NOT NULL,
    subject    text        NOT NULL,
    event_id   text        NOT NULL DEFAULT '',
    event_type text        NOT NULL DEFAULT '',
    error      text        NOT NULL,
    attempts   integer     NOT NULL,
    parked_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (reactor, stream, seq)
);

-- Parked messages an operator dropped (`eventline reactors retry NAME --skip SEQ`):
-- who skipped what, when and why.
CREATE TABLE reactor_skipped (
    reactor    text        NOT NULL,
    stream     text        NOT NULL,
    seq        bigint      NOT NULL,
    subject    text        NOT NULL,
    event_id   text        NOT NULL DEFAULT '',
    event_type text        NOT NULL DEFAULT '',
    error      text        NOT NULL,
    attempts   integer     NOT NULL,
    parked_at  timestamptz NOT NULL,
    skipped_by text        NOT NULL,
    reason     text        NOT NULL DEFAULT '',
    skipped_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (reactor, stream, seq)
);

-- +goose Down
DROP TABLE reactor_skipped;
DROP TABLE reactor_parked;
