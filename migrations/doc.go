// Package migrations owns the PostgreSQL schema of Eventline's read models,
// as goose SQL migrations embedded in the binary.
package migrations
