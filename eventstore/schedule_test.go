package eventstore_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/eventline/eventline/eventstore"
)

// timerStream holds durable timers and the subjects they fire on.
var timerStream = eventstore.StreamSpec{Name: "TIMERS", Subjects: []string{"timers.>"}, AllowMsgSchedules: true}

func TestScheduledAppendFiresOnTarget(t *testing.T) {
	st, _ := setup(t)
	ctx := context.Background()
	require.NoError(t, st.EnsureStreams(ctx, []eventstore.StreamSpec{timerStream}))
	require.NoError(t, st.EnsureStreams(ctx, []eventstore.StreamSpec{timerStream}), "ensuring again changes nothing")

	env := newEvent(t, "saga.step_timed_out.v1", map[string]string{"saga": "s-1"})
	at := time.Now().Add(2 * time.Second)
	_, err := st.Append(ctx, "timers.schedule.s-1", eventstore.NoExpectation, env,
		eventstore.WithScheduleAt(at), eventstore.WithScheduleTarget("timers.fired.s-1"))
	require.NoError(t, err)

	// Nothing on the target before its time.
	fired, _, err := st.Load(ctx, timerStream.Name, "timers.fired.s-1")
	require.NoError(t, err)
	require.Empty(t, fired)

	deadline := time.Now().Add(15 * time.Second)
	for len(fired) == 0 {
		require.True(t, time.Now().Before(deadline), "the timer did not fire")
		time.Sleep(100 * time.Millisecond)
		fired, _, err = st.Load(ctx, timerStream.Name, "timers.fired.s-1")
		require.NoError(t, err)
	}
	require.Len(t, fired, 1)
	require.Equal(t, env.ID, fired[0].Envelope.ID)
	require.Equal(t, env.Type, fired[0].Envelope.Type)
	require.Equal(t, env.Type, fired[0].Header.Get(eventstore.HeaderType), "headers travel with the timer")
	require.JSONEq(t, string(env.Data), string(fired[0].Envelope.Data))
	require.False(t, fired[0].Time.Before(at.Truncate(time.Second)), "fired at %v, scheduled for %v", fired[0].Time, at)
	// A one-shot timer is removed once it has fired, even on a stream that
	// denies deletes: timers do not pile up.
	require.Eventually(t, func() bool {
		pending, _, err := st.Load(ctx, timerStream.Name, "timers.schedule.s-1")
		return err == nil && len(pending) == 0
	}, 10*time.Second, 50*time.Millisecond)
}

func TestScheduledAppendNeedsSchedulesOnTheStream(t *testing.T) {
	st, _ := setup(t)
	env := newEvent(t, "saga.step_timed_out.v1", map[string]string{})
	_, err := st.Append(context.Background(), "test.schedule", eventstore.NoExpectation, env,
		eventstore.WithScheduleAt(time.Now().Add(time.Minute)), eventstore.WithScheduleTarget("test.fired"))
	require.Error(t, err)
	require.False(t, errors.Is(err, eventstore.ErrUnavailable))
}
