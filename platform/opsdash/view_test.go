package opsdash

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/eventline/eventline/eventstore/partitions"
	"github.com/eventline/eventline/platform/opsapi"
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

func TestStreamRowsShowReplicasLeaderAndFollowers(t *testing.T) {
	rows := streamRows([]opsapi.StreamView{
		{Name: "LOGS", Replicas: 1, Leader: "srv", Peers: []opsapi.ReplicaView{{Name: "srv", Leader: true, Current: true}}},
		{Name: "SAGAS", Replicas: 3, Leader: "n2", Peers: []opsapi.ReplicaView{
			{Name: "n2", Leader: true, Current: true},
			{Name: "n1", Current: true, ActiveSeconds: 0.2},
			{Name: "n3", Offline: true, ActiveSeconds: 75, Lag: 1200},
		}},
		{Name: "TIMERS", Unavailable: "no leader answered"},
	})
	require.Len(t, rows, 3)
	assert.Equal(t, "1", rows[0].Replicas)
	assert.Equal(t, "srv", rows[0].Leader)
	assert.Empty(t, rows[0].Followers)
	assert.False(t, rows[0].Bad)

	assert.Equal(t, "3", rows[1].Replicas)
	assert.Equal(t, "n2", rows[1].Leader)
	assert.Equal(t, []followerCell{
		{Name: "n1", State: "current", Seen: "just now", Lag: "0"},
		{Name: "n3", State: "offline", Seen: "1 min ago", Lag: "1,200", Bad: true},
	}, rows[1].Followers)
	assert.True(t, rows[1].Bad, "a replica is offline")

	assert.True(t, rows[2].Bad)
	assert.Equal(t, "no leader answered", rows[2].Unavailable)
	assert.Equal(t, "—", rows[2].Replicas)
}

func TestPartitionRowsJudgeHeartbeatsAndOwners(t *testing.T) {
	now := time.Date(2026, 12, 7, 3, 0, 0, 0, time.UTC)
	views := []partitions.View{{Group: "sagas",
		Members: []partitions.Member{
			{ID: "a", Host: "h1", Roles: []string{"api", "saga"}, Started: now.Add(-time.Hour), Heartbeat: now.Add(-500 * time.Millisecond), Owned: []int{0, 1}},
			{ID: "b", Host: "h2", Roles: []string{"saga"}, Started: now.Add(-time.Hour), Heartbeat: now.Add(-time.Minute), Owned: []int{2}},
		},
		Partition: []partitions.Partition{{Partition: 0, Owner: "a"}, {Partition: 1, Owner: "a"}, {Partition: 2, Owner: "b"}, {Partition: 3}}}}
	rows := partitionRows(views, now)
	require.Len(t, rows, 1)
	g := rows[0]
	require.Equal(t, processRow{ID: "a", Status: "alive", Host: "h1", Roles: "api, saga", Started: "1 h ago", Heartbeat: "just now", Partitions: "2"}, g.Processes[0])
	require.True(t, g.Processes[1].Gone)
	require.Equal(t, "1 min ago", g.Processes[1].Heartbeat)
	require.Equal(t, []ownerCell{{0, "a"}, {1, "a"}, {2, ""}, {3, ""}}, g.Owners, "a dead process's partitions and unpinned ones have no owner")
	require.Equal(t, 2, g.Unowned)
}
