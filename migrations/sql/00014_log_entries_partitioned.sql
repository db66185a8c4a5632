-- +goose Up
-- Retention (issue 24): log_entries becomes a table partitioned by
-- received_at, one partition per UTC day named log_entries_pYYYYMMDD, so
-- that an expired day is dropped whole (DETACH … CONCURRENTLY, then DROP)
-- instead of deleted row by row. There is no default partition (DETACH
-- CONCURRENTLY refuses one): writers create the partition of a day they
-- write, and the logs maintenance creates them ahead. The primary key must
-- hold the partition key: (id, received_at); an entry's received_at is
-- part of its event, so a redelivered entry still hits it.
--
-- Existing entries are kept: the old table is renamed, a partition is made
-- for each day it holds (and the last seven and next three days), its rows
-- are copied over and it is dropped. That copy takes about a minute per ten
-- million entries, once, inside this migration's transaction.
ALTER TABLE log_entries RENAME TO log_entries_unpartitioned;
ALTER INDEX log_entries_pkey RENAME TO log_entries_unpartitioned_pkey;
ALTER INDEX log_entries_received_idx RENAME TO log_entries_unpartitioned_received_idx;
ALTER INDEX log_entries_level_idx RENAME TO log_entries_unpartitioned_level_idx;
ALTER INDEX log_entries_source_idx RENAME TO log_entries_unpartitioned_source_idx;
ALTER INDEX log_entries_trace_idx RENAME TO log_entries_unpartitioned_trace_idx;
ALTER INDEX log_entries_span_idx RENAME TO log_entries_unpartitioned_span_idx;

CREATE TABLE log_entries (
    id            uuid        NOT NULL,
    seq           bigint      NOT NULL,
    level         text        NOT NULL,
    message       text        NOT NULL,
    context       jsonb,
    source        text        NOT NULL DEFAULT '',
    received_at   timestamptz NOT NULL,
    persisted_at  timestamptz NOT NULL DEFAULT now(),
    trace_id      text,
    span_id       text,
    event_time    timestamptz,
    observed_time timestamptz,
    CONSTRAINT log_entries_pkey PRIMARY KEY (id, received_at)
) PARTITION BY RANGE (received_at);
CREATE INDEX log_entries_received_idx ON log_entries (received_at DESC, id DESC);
CREATE INDEX log_entries_level_idx ON log_entries (level, received_at DESC, id DESC);
CREATE INDEX log_entries_source_idx ON log_entries (source, received_at DESC, id DESC);
CREATE INDEX log_entries_trace_idx ON log_entries (trace_id, received_at DESC, id DESC) WHERE trace_id IS NOT NULL;
CREATE INDEX log_entries_span_idx ON log_entries (span_id) WHERE span_id IS NOT NULL;

-- +goose StatementBegin
DO $$
DECLARE
    today date := (now() AT TIME ZONE 'UTC')::date;
    first date;
    d date;
BEGIN
    SELECT least((min(received_at) AT TIME ZONE 'UTC')::date, today - 7) INTO first FROM log_entries_unpartitioned;
    IF first IS NULL THEN
        first := today - 7;
    END IF;
    d := first;
    WHILE d <= today + 3 LOOP
        EXECUTE format('CREATE TABLE %I PARTITION OF log_entries FOR VALUES FROM (%L) TO (%L)',
            'log_entries_p' || to_char(d, 'YYYYMMDD'), d::text || ' 00:00:00+00', (d + 1)::text || ' 00:00:00+00');
        d := d + 1;
    END LOOP;
    -- Days the old table holds are all covered: min..today+3, and entries
    -- are received now, not in the future beyond three days.
    SELECT greatest(max((received_at AT TIME ZONE 'UTC')::date), today + 3) INTO d FROM log_entries_unpartitioned;
    WHILE d > today + 3 LOOP
        EXECUTE format('CREATE TABLE IF NOT EXISTS %I PARTITION OF log_entries FOR VALUES FROM (%L) TO (%L)',
            'log_entries_p' || to_char(d, 'YYYYMMDD'), d::text || ' 00:00:00+00', (d + 1)::text || ' 00:00:00+00');
        d := d - 1;
    END LOOP;
END
$$;
-- +goose StatementEnd

INSERT INTO log_entries (id, seq, level, message, context, source, received_at, persisted_at, trace_id, span_id, event_time, observed_time)
SELECT id, seq, level, message, context, source, received_at, persisted_at, trace_id, span_id, event_time, observed_time
FROM log_entries_unpartitioned;
DROP TABLE log_entries_unpartitioned;

-- What retention has dropped: shown by GET /api/logs/stats beside the
-- counts, which it leaves alone (persisted counts every entry written,
-- expired the part of it that retention has since dropped).
CREATE TABLE log_retention (
    one                 boolean     PRIMARY KEY DEFAULT true CHECK (one),
    expired_entries     bigint      NOT NULL DEFAULT 0,
    dropped_partitions  bigint      NOT NULL DEFAULT 0,
    last_drop_at        timestamptz,
    last_run_at         timestamptz
);
INSERT INTO log_retention DEFAULT VALUES;

-- +goose Down
DROP TABLE log_retention;
ALTER TABLE log_entries RENAME TO log_entries_partitioned;
ALTER INDEX log_entries_pkey RENAME TO log_entries_partitioned_pkey;
ALTER INDEX log_entries_received_idx RENAME TO log_entries_partitioned_received_idx;
ALTER INDEX log_entries_level_idx RENAME TO log_entries_partitioned_level_idx;
ALTER INDEX log_entries_source_idx RENAME TO log_entries_partitioned_source_idx;
ALTER INDEX log_entries_trace_idx RENAME TO log_entries_partitioned_trace_idx;
ALTER INDEX log_entries_span_idx RENAME TO log_entries_partitioned_span_idx;
CREATE TABLE log_entries (
    id            uuid        PRIMARY KEY,
    seq           bigint      NOT NULL,
    level         text        NOT NULL,
    message       text        NOT NULL,
    context       jsonb,
    source        text        NOT NULL DEFAULT '',
    received_at   timestamptz NOT NULL,
    persisted_at  timestamptz NOT NULL DEFAULT now(),
    trace_id      text,
    span_id       text,
    event_time    timestamptz,
    observed_time timestamptz
);
INSERT INTO log_entries SELECT id, seq, level, message, context, source, received_at, persisted_at, trace_id, span_id, event_time, observed_time
FROM log_entries_partitioned;
DROP TABLE log_entries_partitioned;
CREATE INDEX log_entries_received_idx ON log_entries (received_at DESC, id DESC);
CREATE INDEX log_entries_level_idx ON log_entries (level, received_at DESC, id DESC);
CREATE INDEX log_entries_source_idx ON log_entries (source, received_at DESC, id DESC);
CREATE INDEX log_entries_trace_idx ON log_entries (trace_id, received_at DESC, id DESC) WHERE trace_id IS NOT NULL;
CREATE INDEX log_entries_span_idx ON log_entries (span_id) WHERE span_id IS NOT NULL;
