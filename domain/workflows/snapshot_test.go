package workflows_test

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/eventline/eventline/domain/workflows"
)

// A customer read back from its snapshot is the customer, at every point
// of a history (no customer, between syncs, mid-sync with counts, after a
// failure), and decides the next command as it does.
func TestCustomerSnapshotRoundTrips(t *testing.T) {
	known := fps(wf(1, "one"), wf(3, "three"))
	cmds := []any{
		workflows.Create{CustomerID: "c1", Name: "Acme", BaseURL: "http://z", ClientID: "id", Now: now},
		workflows.Start{SyncID: "s1", Trigger: workflows.TriggerInterval, Slot: "interval:100", SlotStart: now, Now: now},
		workflows.Apply{SyncID: "s1", Listed: []workflows.Workflow{wf(1, "ONE"), wf(2, "two")}, Known: known},
		workflows.Delete{SyncID: "s1", ZuoraIDs: []int64{3}},
		workflows.Complete{SyncID: "s1", Pages: 1, Now: now.Add(time.Minute)},
		workflows.Start{SyncID: "s2", Trigger: workflows.TriggerDaily, Slot: "daily:1", Now: now.Add(2 * time.Minute)},
		workflows.Fail{SyncID: "s2", Reason: "boom", Now: now.Add(3 * time.Minute)},
		workflows.Start{SyncID: "s3", Trigger: workflows.TriggerManual, Now: now.Add(4 * time.Minute)},
	}
	next := workflows.Start{SyncID: "s4", Trigger: workflows.TriggerInterval, Slot: "interval:100", Now: now.Add(5 * time.Minute)}
	for i := 0; i <= len(cmds); i++ {
		s, _ := fold(t, cmds[:i]...)
		var buf bytes.Buffer
		require.NoError(t, workflows.WriteCustomerSnapshot(s, &buf))
		back, err := workflows.ReadCustomerSnapshot(&buf)
		require.NoError(t, err)
		require.Equal(t, s, back, "after %d commands", i)
		want, wantErr := workflows.Decide(s, next)
		got, gotErr := workflows.Decide(back, next)
		require.Equal(t, wantErr, gotErr)
		require.Equal(t, want, got)
	}
	for _, bad := range []string{"", "nope", `{"ID":1}`, `{"Unknown":true}`} {
		_, err := workflows.ReadCustomerSnapshot(strings.NewReader(bad))
		require.Error(t, err, bad)
	}
}
