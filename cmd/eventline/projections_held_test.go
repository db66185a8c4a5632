package main

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/eventline/eventline/projections"
)

func TestParkedTableShowsHeldAggregates(t *testing.T) {
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	for _, tc := range []struct {
		name   string
		parked []projections.Parked
		want   []string // regexps, one per line
	}{
		{
			name: "insert-only: by seq and item",
			parked: []projections.Parked{
				{Seq: 4, Items: 1, Subject: "logs.entries", EventType: "log.entries_received.v1", Error: "bad", ParkedAt: at},
			},
			want: []string{`^SEQ\s+ITEM\s+ENTRIES\s+SUBJECT\s+TYPE\s+PARKED AT\s+ERROR$`,
				`^4\s+\(whole event\)\s+1\s+logs\.entries\s+log\.entries_received\.v1\s+2026-01-02 03:04:05Z\s+bad$`},
		},
		{
			name: "updated in place: aggregate, cause and held",
			parked: []projections.Parked{
				{Seq: 5, Subject: "events.acct.a", EventType: "acct.deposited.v1", Error: "decode #5: amount", ParkedAt: at, Aggregate: "events.acct.a"},
				{Seq: 7, Subject: "events.acct.a", EventType: "acct.withdrawn.v1", Error: "held: waiting for #5", ParkedAt: at, Aggregate: "events.acct.a", HeldBy: 5},
			},
			want: []string{`^SEQ\s+AGGREGATE\s+STATE\s+SUBJECT\s+TYPE\s+PARKED AT\s+ERROR$`,
				`^5\s+events\.acct\.a\s+cause\s+events\.acct\.a\s+acct\.deposited\.v1\s+2026-01-02 03:04:05Z\s+decode #5: amount$`,
				`^7\s+events\.acct\.a\s+held, waiting for #5\s+events\.acct\.a\s+acct\.withdrawn\.v1\s+\S+ \S+\s+held: waiting for #5$`},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var b bytes.Buffer
			require.NoError(t, parkedTable(&b, tc.parked))
			lines := strings.Split(strings.TrimRight(b.String(), "\n"), "\n")
			require.Len(t, lines, len(tc.want), b.String())
			for i, re := range tc.want {
				require.Regexp(t, re, strings.TrimRight(lines[i], " "))
			}
		})
	}
}
