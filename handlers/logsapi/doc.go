// Package logsapi is write-behind logging as a domain module (Module): the
// LOGS stream's ingest over /api/logs and OTLP /v1/logs with group commit
// (each request answered once its append is stored), listing, search and
// lookup (from PostgreSQL, falling back to the log for entries not yet
// projected), ingest statistics, retention of the day partitions, and the
// /logs dashboard pages. Entries are decoded by domain/logs and projected by
// projections/logentries.
package logsapi
