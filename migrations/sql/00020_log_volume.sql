-- +goose Up
-- How many entries of each level log_entries holds per minute (issue 24),
-- kept by the logs projection in the transaction that writes them. It
-- answers the log explorer's volume histogram over long ranges without
-- counting the entries (a week of 10M entries: a few thousand rows), and
-- tells retention what a dropped day held without counting it (a count(*)
-- of a day of 1.5M entries took 0.6 s, more than the drop itself). Keyed
-- by the partitioned table's oid, not its name: a rebuild writes into a
-- shadow table that is renamed into place, and its counts go with it; the
-- rows of a table dropped since (the old live table, an abandoned shadow)
-- are deleted by the next maintenance.
CREATE TABLE log_volume (
    tbl     oid         NOT NULL,
    minute  timestamptz NOT NULL,
    level   text        NOT NULL,
    entries bigint      NOT NULL,
    PRIMARY KEY (tbl, minute, level)
);
INSERT INTO log_volume (tbl, minute, level, entries)
SELECT 'log_entries'::regclass, date_trunc('minute', received_at, 'UTC'), level, count(*)
FROM log_entries GROUP BY 2, 3;

-- +goose Down
DROP TABLE log_volume;
