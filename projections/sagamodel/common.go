package sagamodel

import (
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/eventline/eventline/projections"
)

// event is one decoded event of an aggregate.
type event struct {
	seq  uint64
	at   time.Time
	typ  string
	data any
}

// group is the events of one aggregate (subject) in a batch, in stream
// order.
type group struct {
	subject string
	id      string
	events  []event
}

// groupEvents decodes events through decode and groups them by subject,
// aggregates in the order of their first event; idOf returns the
// aggregate's id from its subject. An event whose subject or payload is
// not understood is a permanent error.
func groupEvents(events []projections.Event, decode map[string]func([]byte) (any, error),
	idOf func(subject string) (string, bool)) ([]*group, error) {
	var out []*group
	bySubject := map[string]*group{}
	for _, ev := range events {
		id, ok := idOf(ev.Subject)
		if !ok {
			return nil, projections.Permanent(fmt.Errorf("event #%d: unexpected subject %q", ev.Seq, ev.Subject))
		}
		data, at, err := projections.Decode(ev, decode)
		if err != nil {
			return nil, err
		}
		g := bySubject[ev.Subject]
		if g == nil {
			g = &group{subject: ev.Subject, id: id}
			bySubject[ev.Subject] = g
			out = append(out, g)
		}
		g.events = append(g.events, event{seq: ev.Seq, at: at.UTC(), typ: ev.Envelope.Type, data: data})
	}
	return out, nil
}

// tableName returns the sanitized name of the table to write for live.
func tableName(tables map[string]string, live string) string {
	if t := tables[live]; t != "" {
		return pgx.Identifier{t}.Sanitize()
	}
	return pgx.Identifier{live}.Sanitize()
}

// micros returns t as microseconds since the epoch (PostgreSQL's
// precision), 0 for the zero time.
func micros(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMicro()
}

// nullTime returns t in UTC, nil for the zero time.
func nullTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	u := t.UTC()
	return &u
}

// orAt returns t in UTC, or at when t is zero.
func orAt(t, at time.Time) time.Time {
	if t.IsZero() {
		return at
	}
	return t.UTC()
}
