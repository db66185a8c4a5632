package opsdash

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/eventline/eventline/handlers/opsapi"
	"github.com/eventline/eventline/projections"
)

func TestTopLagShowsEachProjectionOnceAndTheFurthestBehindFirst(t *testing.T) {
	cons := []opsapi.ConsumerView{
		{Stream: "LOGS", Name: "proj_logs", Pending: 5000, Projection: "logs"},
		{Stream: "SAGAS", Name: "reactor_x", Pending: 3, Reactor: "x"},
		{Stream: "SAGAS", Name: "idle", Pending: 0},
	}
	projs := []projections.Status{
		{Name: "logs", Stream: "LOGS", LagEvents: 4000, State: projections.StateCatchingUp},
		{Name: "sagas", Stream: "SAGAS", Parked: 2, State: projections.StateRunning},
	}
	card := topLag(cons, projs, 3)
	require.Len(t, card.Rows, 3)
	assert.Equal(t, []string{"logs", "reactor_x", "idle"}, []string{card.Rows[0].Name, card.Rows[1].Name, card.Rows[2].Name})
	assert.Equal(t, "4,000", card.Rows[0].Lag)
	assert.True(t, card.Rows[0].Hot)
	assert.False(t, card.Rows[1].Hot)
	assert.Equal(t, "5,003", card.TotalPending)
	assert.Equal(t, 2, card.Behind)
	assert.Equal(t, 4, card.Tracked)
	assert.Equal(t, 1, card.Parked)
}

func TestProjectionRowsHighlightLagParkedAndStoppedStates(t *testing.T) {
	rows := projectionRows([]projections.Status{
		{Name: "ok", State: projections.StateRunning},
		{Name: "slow", State: projections.StateCatchingUp, LagSeconds: 30},
		{Name: "parked", State: projections.StateRunning, Parked: 1, HeldAggregates: 1},
		{Name: "stalled", State: projections.StateStalled},
	})
	assert.False(t, rows[0].Hot || rows[0].Bad)
	assert.True(t, rows[1].Hot)
	assert.False(t, rows[1].Bad)
	assert.True(t, rows[2].Bad)
	assert.Equal(t, "1 (1 held)", rows[2].Parked)
	assert.True(t, rows[3].Bad)
}
