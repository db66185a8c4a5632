package orders_test

import (
	json "github.com/go-json-experiment/json/v1"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/eventline/eventline/domain/orders"
)

var t0 = time.Date(2026, 11, 25, 3, 0, 0, 0, time.UTC)

// aggregate is what every participant's state offers.
type aggregate[S any] interface {
	Decide(cmd any) ([]orders.Event, error)
	Answer(cmd any) orders.Outcome
	Evolve(eventType string, data any) S
}

// result is what one command did.
type result[S any] struct {
	state   S
	events  []orders.Event
	outcome orders.Outcome
	err     error
}

// handle decides cmd on s, folds the events back through the decode table
// (as the command loop does after storing them) and answers from the state
// after them.
func handle[S aggregate[S]](t testing.TB, s S, cmd any) result[S] {
	t.Helper()
	evs, err := s.Decide(cmd)
	if err != nil {
		require.Empty(t, evs)
		return result[S]{state: s, err: err}
	}
	for _, ev := range evs {
		s = s.Evolve(ev.Type, roundTrip(t, ev))
	}
	return result[S]{state: s, events: evs, outcome: s.Answer(cmd)}
}

// run handles cmds in order from the zero state.
func run[S aggregate[S]](t testing.TB, cmds ...any) (S, []result[S]) {
	t.Helper()
	var s S
	out := make([]result[S], 0, len(cmds))
	for _, c := range cmds {
		r := handle(t, s, c)
		s = r.state
		out = append(out, r)
	}
	return s, out
}

// roundTrip encodes an event's payload and decodes it through Events.
func roundTrip(t testing.TB, ev orders.Event) any {
	t.Helper()
	b, err := json.Marshal(ev.Data)
	require.NoError(t, err)
	dec, ok := orders.Events()[ev.Type]
	require.True(t, ok, ev.Type)
	v, err := dec(b)
	require.NoError(t, err, ev.Type)
	require.Equal(t, ev.Data, v, "payload survives JSON: %s", ev.Type)
	return v
}

func types(evs []orders.Event) []string {
	out := make([]string, 0, len(evs))
	for _, e := range evs {
		out = append(out, e.Type)
	}
	return out
}

// output decodes a successful outcome's output.
func output[T any](t testing.TB, o orders.Outcome) T {
	t.Helper()
	require.True(t, o.OK(), "outcome: %+v", o)
	var v T
	require.NoError(t, json.Unmarshal(o.Output, &v))
	return v
}
