// Package logsapi serves the write-behind logging endpoints: durable ingest
// with group commit (entries from concurrent requests share one append, each
// request answered only after that append is stored), listing and lookup
// from PostgreSQL with a fall-back to the log for entries not yet projected,
// and ingest statistics. Module plugs write-behind logging into serve.
package logsapi
