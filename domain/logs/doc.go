// Package logs holds the pure part of write-behind logging: log levels, the
// validation of incoming entries (single, JSON array and NDJSON, and OTLP
// records), and the events that carry accepted entries with their decode
// table. It does no I/O; handlers/logsapi serves it and
// projections/logentries stores it.
package logs
