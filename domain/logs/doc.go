// Package logs holds the pure part of write-behind logging: log levels, the
// validation of incoming entries (single, JSON array and NDJSON), and the
// events that carry accepted entries. It does no I/O.
package logs
