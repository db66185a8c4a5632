package main

import (
	"bytes"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/eventline/eventline/eventstore/partitions"
)

func TestRanges(t *testing.T) {
	for _, tc := range []struct {
		in   []int
		want string
	}{
		{nil, ""},
		{[]int{3}, "3"},
		{[]int{0, 1, 2, 5}, "0-2,5"},
		{[]int{0, 2, 4, 5, 6, 9}, "0,2,4-6,9"},
	} {
		require.Equal(t, tc.want, ranges(tc.in), "%v", tc.in)
	}
}

// A process whose heartbeat stopped is gone, and the partitions it still
// holds a pin of count as unowned until another process takes them.
func TestClusterReportJudgesHeartbeats(t *testing.T) {
	now := time.Date(2026, 12, 7, 3, 0, 0, 0, time.UTC)
	v := partitions.View{Group: "sagas",
		Members: []partitions.Member{
			{ID: "api-1", Host: "h1", PID: 10, Roles: []string{"api", "saga"}, Started: now.Add(-time.Hour), Heartbeat: now.Add(-time.Second), Owned: []int{0, 1, 2}},
			{ID: "api-2", Host: "h2", PID: 20, Roles: []string{"saga"}, Started: now.Add(-time.Hour), Heartbeat: now.Add(-time.Minute), Owned: []int{3}},
		},
		Partition: []partitions.Partition{{Partition: 0, Owner: "api-1"}, {Partition: 1, Owner: "api-1"}, {Partition: 2, Owner: "api-1"},
			{Partition: 3, Owner: "api-2"}}}
	rep := newClusterReport(v, now)
	require.True(t, rep.Processes[0].Alive)
	require.False(t, rep.Processes[1].Alive)
	require.Equal(t, []int{3}, rep.Unowned)

	var b bytes.Buffer
	require.NoError(t, printCluster(&b, rep, now))
	out := b.String()
	require.Contains(t, out, "api-1    alive")
	require.Contains(t, out, "3 0-2")
	require.Contains(t, out, "api-2    gone")
	require.Contains(t, out, "1 of 4 partitions have no live owner now: 3")
}
