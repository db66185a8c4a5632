-- +goose Up
-- How many entries each day partition of log_entries holds (issue 24), kept
-- by the logs projection in the transaction that writes them, so retention
-- learns what a dropped day held without counting it (a count(*) of a
-- day of 1.5M entries took 0.6 s, more than the drop itself). Keyed by the
-- partitioned table's oid, not its name: a rebuild writes into a shadow
-- table that is renamed into place, and its counts go with it; the rows of
-- a table dropped since (the old live table, an abandoned shadow) are
-- deleted by the next maintenance.
CREATE TABLE log_day_entries (
    tbl     oid    NOT NULL,
    day     date   NOT NULL,
    entries bigint NOT NULL,
    PRIMARY KEY (tbl, day)
);
INSERT INTO log_day_entries (tbl, day, entries)
SELECT 'log_entries'::regclass, (received_at AT TIME ZONE 'UTC')::date, count(*)
FROM log_entries GROUP BY 2;

-- +goose Down
DROP TABLE log_day_entries;
