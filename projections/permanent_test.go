package projections_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/stretchr/testify/require"

	"github.com/eventline/eventline/projections"
)

func TestIsPermanent(t *testing.T) {
	pg := func(code string) error { return fmt.Errorf("apply: %w", &pgconn.PgError{Code: code}) }
	for _, tc := range []struct {
		name string
		err  error
		want bool
	}{
		{"marked Permanent", projections.Permanent(errors.New("bad payload")), true},
		{"wrapped Permanent", fmt.Errorf("wrapped: %w", projections.Permanent(errors.New("x"))), true},
		{"nil", nil, false},
		{"plain error (network)", errors.New("connection refused"), false},
		{"lost connection mid-read", fmt.Errorf("read: %w", io.ErrUnexpectedEOF), false},
		{"context canceled", context.Canceled, false},
		{"connection exception 08006", pg("08006"), false},
		{"missing table 42P01", pg("42P01"), false},
		{"undefined column 42703 (schema behind the code)", pg("42703"), false},
		{"insufficient privilege 42501", pg("42501"), false},
		{"lock timeout 55P03", pg("55P03"), false},
		{"statement timeout / query canceled 57014", pg("57014"), false},
		{"admin shutdown 57P01", pg("57P01"), false},
		{"crash shutdown 57P02", pg("57P02"), false},
		{"serialization failure 40001", pg("40001"), false},
		{"deadlock 40P01", pg("40P01"), false},
		{"disk full 53100", pg("53100"), false},
		{"out of memory 53200", pg("53200"), false},
		{"too many connections 53300", pg("53300"), false},
		{"in failed transaction 25P02", pg("25P02"), false},
		{"io error 58030", pg("58030"), false},
		{"internal error XX000", pg("XX000"), false},
		{"string too long 22001", pg("22001"), true},
		{"NUL in text 22021", pg("22021"), true},
		{"numeric out of range 22003", pg("22003"), true},
		{"untranslatable jsonb 22P05", pg("22P05"), true},
		{"not null 23502", pg("23502"), true},
		{"foreign key 23503", pg("23503"), true},
		{"unique 23505", pg("23505"), true},
		{"check 23514", pg("23514"), true},
		{"Permanent around a transient code", projections.Permanent(pg("40001")), true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			require.Equal(t, tc.want, projections.IsPermanent(tc.err))
		})
	}
}
