package opsdash

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/eventline/eventline/platform/dashboard"
	"github.com/eventline/eventline/platform/opsapi"
	"github.com/eventline/eventline/projections"
)

// The overview's banner counts stalled projections (and one stopped on a
// recreated stream), reactors whose consumer holds messages with no
// activity for a minute, and what is parked.
func TestShoutsCountWhatNeedsAPerson(t *testing.T) {
	now := time.Now()
	recent, old := now.Add(-10*time.Second), now.Add(-2*time.Minute)
	projs := []projections.Status{
		{Name: "a", State: projections.StateStalled},
		{Name: "b", State: projections.StateStreamMismatch},
		{Name: "c", State: projections.StateCatchingUp, Parked: 3},
		{Name: "d", State: projections.StateRunning},
	}
	cons := []opsapi.ConsumerView{
		{Name: "react_x", Reactor: "x", Pending: 4, LastActive: &old},
		{Name: "react_y", Reactor: "y", Pending: 4, LastActive: &recent},
		{Name: "react_z", Reactor: "z", Pending: 0, LastActive: &old},
		{Name: "react_w", Reactor: "w", Pending: 1},
		{Name: "proj_a", Projection: "a", Pending: 9, LastActive: &old},
	}
	count := func(s []dashboard.Shout) map[string]int64 {
		m := map[string]int64{}
		for _, x := range s {
			m[x.Text] = x.Count
		}
		return m
	}
	got := count(shouts(projs, cons, nil, now))
	require.Equal(t, int64(2), got["projections stalled"])
	require.Equal(t, int64(2), got["reactors stalled (messages waiting, no activity for a minute)"])
	require.Equal(t, int64(3), got["projection items parked"], "the projections' own count without the parked tables")
	got = count(shouts(nil, nil, &parkedCounts{events: 1, messages: 5}, now))
	require.Equal(t, int64(1), got["projection item parked"])
	require.Equal(t, int64(5), got["reactor messages parked"])
	require.Zero(t, got["projections stalled"])
}
