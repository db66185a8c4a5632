package aggregate

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/eventline/eventline/eventstore"
)

func TestBackoffStaysWithinItsBounds(t *testing.T) {
	tests := []struct {
		attempt int
		upper   time.Duration
	}{
		{2, time.Millisecond},
		{3, 2 * time.Millisecond},
		{5, 8 * time.Millisecond},
		{8, 50 * time.Millisecond},
		{100, 50 * time.Millisecond},
	}
	for _, tt := range tests {
		for range 200 {
			delays := conflictDelays(time.Millisecond, 50*time.Millisecond)
			for range tt.attempt - 2 { // the waits before earlier attempts
				delays.NextBackOff()
			}
			d := delays.NextBackOff()
			require.GreaterOrEqual(t, d, time.Duration(0))
			require.LessOrEqual(t, d, tt.upper, "attempt %d", tt.attempt)
		}
	}
}

func TestCacheKeepsTheNewestAndStaysBounded(t *testing.T) {
	c := newCache[int](2)
	c.put("a", folded[int]{state: 1, seq: 5})
	c.put("a", folded[int]{state: 0, seq: 3}) // older: ignored
	s, ok := c.get("a")
	require.True(t, ok)
	require.Equal(t, folded[int]{state: 1, seq: 5}, s)
	c.put("b", folded[int]{state: 2, seq: 6})
	c.put("c", folded[int]{state: 3, seq: 7})
	require.Equal(t, 2, c.len())
	_, ok = c.get("c")
	require.True(t, ok, "the newest entry is kept")
	c.drop("c")
	_, ok = c.get("c")
	require.False(t, ok)

	off := newCache[int](-1)
	off.put("a", folded[int]{state: 1, seq: 1})
	require.Zero(t, off.len())
}

func TestEnvelopesCarryTheCommandsMetadata(t *testing.T) {
	envs, err := envelopes([]Event{{Type: "counter.incremented.v1", Data: map[string]int{"by": 1}},
		{Type: "counter.incremented.v1", Data: map[string]int{"by": 2}}}, Meta{CorrelationID: "c", CausationID: "k"})
	require.NoError(t, err)
	require.Len(t, envs, 2)
	require.NotEqual(t, envs[0].ID, envs[1].ID)
	for _, e := range envs {
		require.Equal(t, "c", e.CorrelationID)
		require.Equal(t, "k", e.CausationID)
	}
	_, err = envelopes([]Event{{Type: "counter.incremented.v1", Data: func() {}}}, Meta{})
	require.Error(t, err)
}

// conflictingStore loses every race: a pure stand-in to count attempts.
type conflictingStore struct{ appends int }

func (s *conflictingStore) LoadEach(context.Context, string, string, uint64, func(eventstore.Stored) error) (int64, error) {
	return 0, nil
}

func (s *conflictingStore) AppendBatch(context.Context, string, int64, []eventstore.Envelope, ...eventstore.AppendOption) ([]eventstore.Ack, error) {
	s.appends++
	return nil, eventstore.ErrConflict
}

func TestHandleGivesUpAfterMaxAttempts(t *testing.T) {
	st := &conflictingStore{}
	def := Definition[int, int]{
		Stream:  "S",
		Subject: func(id string) string { return "s." + id },
		Initial: func() int { return 0 },
		Evolve:  func(s int, _ Recorded) int { return s + 1 },
		Decide: func(int, int) ([]Event, error) {
			return []Event{{Type: "counter.incremented.v1", Data: 1}}, nil
		},
	}
	reg := eventstore.NewRegistry()
	reg.Register("counter.incremented.v1", eventstore.JSON[int]())
	h, err := New[int, int](st, reg, def, Options{MaxAttempts: 4, Backoff: time.Microsecond})
	require.NoError(t, err)
	_, err = h.Handle(context.Background(), "x", 1, Meta{})
	require.ErrorIs(t, err, ErrTooManyConflicts)
	require.ErrorIs(t, err, eventstore.ErrConflict)
	require.Equal(t, 4, st.appends)

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err = h.Handle(ctx, "x", 1, Meta{})
	require.ErrorIs(t, err, context.Canceled)
}

// A conflict on the cached state is decided again at once on a state read
// from the store; a conflict on that waits, and a ctx that ends during the
// wait ends Handle with ctx's error after the conflict.
func TestHandleWaitsOnlyAfterAVerifiedConflict(t *testing.T) {
	st := &conflictingStore{}
	def := Definition[int, int]{
		Stream:  "S",
		Subject: func(id string) string { return "s." + id },
		Initial: func() int { return 0 },
		Evolve:  func(s int, _ Recorded) int { return s + 1 },
		Decide: func(int, int) ([]Event, error) {
			return []Event{{Type: "counter.incremented.v1", Data: 1}}, nil
		},
	}
	reg := eventstore.NewRegistry()
	reg.Register("counter.incremented.v1", eventstore.JSON[int]())
	h, err := New[int, int](st, reg, def, Options{Backoff: time.Hour, MaxBackoff: time.Hour})
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, err = h.Handle(ctx, "x", 1, Meta{})
	require.ErrorIs(t, err, context.DeadlineExceeded)
	require.ErrorIs(t, err, eventstore.ErrConflict)
	require.NotErrorIs(t, err, ErrTooManyConflicts)
	require.Equal(t, 2, st.appends)
}

func TestNewRefusesAnIncompleteDefinition(t *testing.T) {
	_, err := New[int, int](&conflictingStore{}, eventstore.NewRegistry(), Definition[int, int]{}, Options{})
	require.Error(t, err)
}

func TestHandleNeverAppendsAnEventItCannotDecode(t *testing.T) {
	st := &conflictingStore{}
	def := Definition[int, int]{
		Stream:  "S",
		Subject: func(id string) string { return "s." + id },
		Initial: func() int { return 0 },
		Evolve:  func(s int, _ Recorded) int { return s + 1 },
		Decide: func(int, int) ([]Event, error) {
			return []Event{{Type: "counter.unregistered.v1", Data: 1}}, nil
		},
	}
	h, err := New[int, int](st, eventstore.NewRegistry(), def, Options{})
	require.NoError(t, err)
	_, err = h.Handle(context.Background(), "x", 1, Meta{})
	require.ErrorIs(t, err, eventstore.ErrUnknownType)
	require.Zero(t, st.appends)
}
