-- +goose Up
-- OpenTelemetry's fields of a log entry (POST /v1/logs): the trace context
-- as lower-case hex, the time the event happened by its source's clock, and
-- the time a collector first observed it. NULL for entries that had none,
-- which is every entry written before (adding nullable columns rewrites
-- nothing). An entry is found by its trace or span through the partial
-- indexes, which hold only the entries that have one.
ALTER TABLE log_entries
    ADD COLUMN trace_id      text,
    ADD COLUMN span_id       text,
    ADD COLUMN event_time    timestamptz,
    ADD COLUMN observed_time timestamptz;
CREATE INDEX log_entries_trace_idx ON log_entries (trace_id, received_at DESC, id DESC) WHERE trace_id IS NOT NULL;
CREATE INDEX log_entries_span_idx ON log_entries (span_id) WHERE span_id IS NOT NULL;

-- +goose Down
DROP INDEX log_entries_span_idx;
DROP INDEX log_entries_trace_idx;
ALTER TABLE log_entries DROP COLUMN observed_time, DROP COLUMN event_time, DROP COLUMN span_id, DROP COLUMN trace_id;
