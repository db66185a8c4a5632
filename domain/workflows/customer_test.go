package workflows_test

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/eventline/eventline/domain/workflows"
	"github.com/eventline/eventline/internal/eventtest"
)

var now = time.Date(2026, 11, 25, 3, 0, 0, 0, time.UTC)

func wf(id int64, name string) workflows.Workflow {
	return workflows.Workflow{ZuoraID: id, Name: name, Status: "Active", CreatedAt: now, UpdatedAt: now}
}

// fold decides cmds in order against a fresh customer, folding each
// decision's events back through the decode table as the command loop does.
func fold(t *testing.T, cmds ...any) (workflows.Customer, []error) {
	t.Helper()
	var s workflows.Customer
	var errs []error
	for _, c := range cmds {
		evs, err := workflows.Decide(s, c)
		errs = append(errs, err)
		for _, ev := range evs {
			b, err := json.Marshal(ev.Data)
			require.NoError(t, err)
			v, err := workflows.Events()[ev.Type](b)
			require.NoError(t, err)
			s = workflows.Evolve(s, ev.Type, v)
		}
	}
	return s, errs
}

func TestOneSyncAtATimeAndEachSlotOnce(t *testing.T) {
	create := workflows.Create{CustomerID: "c1", Name: "Acme", BaseURL: "http://z", ClientID: "id", Now: now}
	s, errs := fold(t,
		workflows.Start{SyncID: "s0", Trigger: workflows.TriggerManual, Now: now}, // no customer yet
		create, create,
		workflows.Start{SyncID: "s1", Trigger: workflows.TriggerInterval, Slot: "interval:100", Now: now},
		workflows.Start{SyncID: "s2", Trigger: workflows.TriggerManual, Now: now},
		workflows.Complete{SyncID: "s1", Pages: 1, Now: now},
		workflows.Start{SyncID: "s3", Trigger: workflows.TriggerInterval, Slot: "interval:100", Now: now}, // same slot
		workflows.Start{SyncID: "s4", Trigger: workflows.TriggerInterval, Slot: "interval:200", Now: now},
		workflows.Complete{SyncID: "s1", Now: now}, // already over
	)
	require.ErrorIs(t, errs[0], workflows.ErrNoCustomer)
	require.NoError(t, errs[1])
	require.ErrorIs(t, errs[2], workflows.ErrCustomerTaken)
	require.NoError(t, errs[3])
	require.ErrorIs(t, errs[4], workflows.ErrSyncRunning)
	require.NoError(t, errs[5])
	require.ErrorIs(t, errs[6], workflows.ErrSlotTaken)
	require.NoError(t, errs[7])
	require.ErrorIs(t, errs[8], workflows.ErrNotRunning)
	require.Equal(t, "s4", s.Running.SyncID)
	require.Equal(t, "completed", s.LastSync)
}

func TestACompletedSyncFillsTheSlotItStartedIn(t *testing.T) {
	create := workflows.Create{CustomerID: "c1", Name: "Acme", BaseURL: "http://z", ClientID: "id", Now: now}
	hour := now.Truncate(time.Hour)
	slot := func(id string, start time.Time) workflows.Start {
		return workflows.Start{SyncID: id, Trigger: workflows.TriggerInterval, Slot: fmt.Sprint("interval:", start.Unix()),
			SlotStart: start, Now: now.Add(time.Minute)}
	}
	s, errs := fold(t, create,
		workflows.Start{SyncID: "first", Trigger: workflows.TriggerCreated, Now: now},
		slot("while-running", hour), // the first sync is still running
		workflows.Fail{SyncID: "first", Reason: "boom", Now: now},
		slot("after-a-failure", hour), // a failed sync fills nothing
		workflows.Complete{SyncID: "after-a-failure", Now: now.Add(2 * time.Minute)},
		workflows.Start{SyncID: "manual", Trigger: workflows.TriggerManual, Now: now.Add(3 * time.Minute)},
		workflows.Complete{SyncID: "manual", Now: now.Add(4 * time.Minute)},
		slot("daily", now.Add(3*time.Minute)), // the manual sync started at the slot's start: filled
		slot("next-hour", hour.Add(time.Hour)),
	)
	require.NoError(t, errs[0])
	require.NoError(t, errs[1])
	require.ErrorIs(t, errs[2], workflows.ErrSyncRunning)
	require.NoError(t, errs[4])
	require.NoError(t, errs[6])
	require.ErrorIs(t, errs[8], workflows.ErrSlotTaken)
	require.NoError(t, errs[9])
	require.Equal(t, "next-hour", s.Running.SyncID)
	require.Equal(t, now.Add(3*time.Minute), s.LastComplete, "the start of the last sync that completed")
}

// fps are the fingerprints of wfs, by Zuora id.
func fps(wfs ...workflows.Workflow) map[int64]workflows.Fingerprint {
	out := map[int64]workflows.Fingerprint{}
	for _, w := range wfs {
		out[w.ZuoraID] = w.Fingerprint()
	}
	return out
}

func TestStatsComeFromTheRunsEvents(t *testing.T) {
	known := fps(wf(1, "one"), wf(2, "two"), wf(3, "three"))
	listed := []workflows.Workflow{wf(1, "one"), wf(2, "TWO"), wf(4, "four"), wf(5, "five")}
	s, errs := fold(t,
		workflows.Create{CustomerID: "c1", Name: "Acme", Now: now},
		workflows.Start{SyncID: "s1", Trigger: workflows.TriggerManual, Now: now},
		workflows.Apply{SyncID: "s1", Listed: listed, Known: known},
		workflows.Delete{SyncID: "s1", ZuoraIDs: []int64{3}},
	)
	for _, err := range errs {
		require.NoError(t, err)
	}
	require.Equal(t, 2, s.Running.Created)
	require.Equal(t, 1, s.Running.Updated)
	require.Equal(t, 1, s.Running.Deleting)
	evs, err := workflows.Decide(s, workflows.Complete{SyncID: "s1", Stats: workflows.Stats{Unchanged: 1, Total: 4}, Pages: 1, Now: now})
	require.NoError(t, err)
	done := evs[0].Data.(workflows.SyncCompleted)
	require.Equal(t, workflows.Stats{Created: 2, Updated: 1, Deleted: 1, Unchanged: 1, Total: 4, Errors: []string{}}, done.Stats)

	evs, err = workflows.Decide(s, workflows.Fail{SyncID: "s1", Reason: "page 3: 500", Now: now})
	require.NoError(t, err)
	require.Zero(t, evs[0].Data.(workflows.SyncFailed).Stats.Deleted, "a failed sync deletes nothing")
}

func TestDiff(t *testing.T) {
	known := fps(wf(1, "one"), wf(2, "two"))
	moved := wf(2, "two")
	moved.UpdatedAt = now.Add(time.Hour)
	tests := []struct {
		name   string
		listed []workflows.Workflow
		want   []workflows.Change
	}{
		{"unchanged produce nothing", []workflows.Workflow{wf(1, "one"), wf(2, "two")}, nil},
		{"new is created", []workflows.Workflow{wf(3, "three")}, []workflows.Change{{workflows.WorkflowCreatedV1, wf(3, "three")}}},
		{"a newer updatedAt is an update", []workflows.Workflow{moved}, []workflows.Change{{workflows.WorkflowUpdatedV1, moved}}},
		{"listed twice counts once, as last listed", []workflows.Workflow{wf(3, "a"), wf(1, "one"), wf(3, "b")},
			[]workflows.Change{{workflows.WorkflowCreatedV1, wf(3, "b")}}},
		{"listed twice, last unchanged", []workflows.Workflow{wf(1, "x"), wf(1, "one")}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			require.Equal(t, tt.want, workflows.Diff(tt.listed, known))
		})
	}
	listed := map[int64]bool{2: true, 9: true}
	require.Equal(t, []int64{1, 3}, workflows.Gone([]int64{3, 2, 1}, func(id int64) bool { return listed[id] }))
}

func TestGuardDeletion(t *testing.T) {
	tests := []struct {
		known, deleting int
		allow           bool
		want            string
	}{
		{10, 0, false, ""},
		{10, 5, false, ""},
		{10, 6, false, "delete 6 of 10 workflows, more than half"},
		{10, 10, false, "delete all 10 workflows"},
		{1, 1, false, "delete all 1 workflows"},
		{10, 10, true, ""},
	}
	for _, tt := range tests {
		err := workflows.GuardDeletion(tt.known, tt.deleting, tt.allow)
		if tt.want == "" {
			require.NoError(t, err)
			continue
		}
		require.ErrorContains(t, err, tt.want)
	}
}

func TestCommandsAreBounded(t *testing.T) {
	s, _ := fold(t, workflows.Create{CustomerID: "c", Now: now}, workflows.Start{SyncID: "s", Now: now})
	ids := make([]int64, workflows.MaxPerCommand+1)
	_, err := workflows.Decide(s, workflows.Delete{SyncID: "s", ZuoraIDs: ids})
	require.ErrorIs(t, err, workflows.ErrTooMany)
}

// Old payloads in testdata/ must keep decoding: events are forever.
func TestOldPayloadsStillDecode(t *testing.T) {
	stored := eventtest.StoredPayloads(t)
	require.Len(t, stored, len(workflows.Events()), "one stored payload per event type")
	for typ, data := range stored {
		require.Regexp(t, eventtest.TypeName, typ)
		dec, ok := workflows.Events()[typ]
		require.True(t, ok, typ)
		_, err := dec(data)
		require.NoError(t, err, typ)
	}
}
