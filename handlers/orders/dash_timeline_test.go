package orders

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/eventline/eventline/domain/saga"
)

func TestBuildTimelinePairsAttemptsAndNamesCompensations(t *testing.T) {
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	due := at(1500)
	events := []eventEntry{
		{Type: saga.StartedV1, At: at(0), Definition: "create_order"},
		{Type: saga.StepStartedV1, Step: "reserve_inventory", Attempt: 1, At: at(1)},
		{Type: saga.StepCompletedV1, Step: "reserve_inventory", Attempt: 1, At: at(11)},
		{Type: saga.StepStartedV1, Step: "process_payment", Attempt: 1, At: at(20)},
		{Type: saga.StepFailedV1, Step: "process_payment", Attempt: 1, Failure: "transient", Error: "try again", At: at(25)},
		{Type: saga.RetryScheduledV1, Step: "process_payment", Attempt: 2, Due: &due, At: at(25)},
		{Type: saga.StepStartedV1, Step: "process_payment", Attempt: 2, At: at(1500)},
		{Type: saga.StepFailedV1, Step: "process_payment", Attempt: 2, Failure: "permanent", Error: "card declined", Final: true, At: at(1530)},
		{Type: saga.CompensationStartedV1, Step: "reserve_inventory", Attempt: 1, Compensation: true, At: at(1531)},
		{Type: saga.StepCompensatedV1, Step: "reserve_inventory", Attempt: 1, Compensation: true, At: at(1541)},
		{Type: saga.CompensatedV1, At: at(1542)},
	}
	items := buildTimeline(events, map[string]string{"reserve_inventory": "release_inventory"})
	titles := make([]string, len(items))
	for i, it := range items {
		titles[i] = it.Title
	}
	require.Equal(t, []string{"saga started", "reserve_inventory", "process_payment", "retry of process_payment scheduled (attempt 2)",
		"process_payment", "release_inventory (compensates reserve_inventory)", "saga compensated"}, titles)

	assert.Equal(t, "completed", items[1].Outcome)
	assert.Equal(t, 10*time.Millisecond, items[1].Duration())
	assert.Equal(t, "warn", items[2].Class, "a transient failure is retried")
	assert.Equal(t, "failed (transient)", items[2].Outcome)
	assert.Equal(t, "try again", items[2].Error)
	assert.Equal(t, "due 03:04:06.500", items[3].Note)
	assert.Equal(t, 2, items[4].Attempt)
	assert.Equal(t, "bad", items[4].Class, "a final failure")
	assert.Equal(t, "error", items[4].Badge())
	assert.Equal(t, 30*time.Millisecond, items[4].Duration())
	assert.True(t, items[5].Compensation)
	assert.Equal(t, "compensated", items[5].Outcome)
	assert.Equal(t, 10*time.Millisecond, items[5].Duration())
	assert.Equal(t, time.Duration(-1), items[6].Duration(), "the saga's own events have no duration")
}

func TestBuildTimelineShowsRunningTimedOutAndOperators(t *testing.T) {
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	events := []eventEntry{
		{Type: saga.StepStartedV1, Step: "send_notification", Attempt: 1, At: t0},
		{Type: saga.StepTimedOutV1, Step: "send_notification", Attempt: 1, Final: true, At: t0.Add(3 * time.Second)},
		{Type: saga.NeedsAttentionV1, Step: "send_notification", Reason: "address bounced", At: t0.Add(3 * time.Second)},
		{Type: saga.RetriedV1, By: "dashboard", At: t0.Add(4 * time.Second)},
		{Type: saga.StepStartedV1, Step: "send_notification", Attempt: 2, At: t0.Add(4 * time.Second)},
		// A re-issued start of the same attempt is the same line.
		{Type: saga.StepStartedV1, Step: "send_notification", Attempt: 2, At: t0.Add(5 * time.Second)},
		// The end of an attempt whose start was not read still shows.
		{Type: saga.CompensationFailedV1, Step: "create_order", Attempt: 3, Compensation: true, TimedOut: true, At: t0.Add(6 * time.Second)},
		{Type: "saga.unknown.v9", At: t0.Add(7 * time.Second)},
	}
	items := buildTimeline(events, nil)
	require.Len(t, items, 6)
	assert.Equal(t, "timed out", items[0].Outcome)
	assert.Equal(t, "bad", items[0].Class)
	assert.Equal(t, "address bounced", items[1].Error)
	assert.Equal(t, "dashboard", items[2].Note)
	assert.Equal(t, "running", items[3].Outcome)
	assert.Equal(t, t0.Add(5*time.Second), items[3].At)
	assert.Equal(t, time.Duration(-1), items[3].Duration(), "still running")
	assert.Equal(t, "running", items[3].Badge())
	assert.Equal(t, "compensate create_order", items[4].Title)
	assert.Equal(t, "timed out", items[4].Outcome)
	assert.Equal(t, "saga.unknown.v9", items[5].Title)
}

// Each line names the process that recorded its outcome: an attempt
// started by one process and finished by the one that took its partition
// over says so.
func TestBuildTimelineNamesTheDrivingProcess(t *testing.T) {
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	items := buildTimeline([]eventEntry{
		{Type: saga.StartedV1, At: t0, Definition: "create_order", DrivenBy: "api-1"},
		{Type: saga.StepStartedV1, Step: "validate_user", Attempt: 1, At: t0, DrivenBy: "saga-1"},
		{Type: saga.StepCompletedV1, Step: "validate_user", Attempt: 1, At: t0.Add(time.Second), DrivenBy: "saga-2"},
	}, nil)
	require.Len(t, items, 2)
	require.Equal(t, "api-1", items[0].By)
	require.Equal(t, "saga-2", items[1].By)
}
