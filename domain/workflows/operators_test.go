package workflows_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/eventline/eventline/domain/workflows"
)

// A sync has one runner: the first Begin claims it, a second is refused;
// progress events move its page count forward only.
func TestASyncHasOneRunnerAndItsProgress(t *testing.T) {
	create := workflows.Create{CustomerID: "c1", Name: "Acme", BaseURL: "http://z", ClientID: "id", Now: now}
	s, errs := fold(t, create,
		workflows.Start{SyncID: "s1", Trigger: workflows.TriggerManual, Now: now},
		workflows.Begin{SyncID: "s1", Runner: "p1"},
		workflows.Begin{SyncID: "s1", Runner: "p2"},
		workflows.Apply{SyncID: "s1", Listed: []workflows.Workflow{wf(1, "one")}, Known: fps(),
			Progress: &workflows.SyncProgressed{Pages: 3, Listed: 120}},
		workflows.Apply{SyncID: "s1", Known: fps(), Progress: &workflows.SyncProgressed{Pages: 2, Listed: 80}},
	)
	require.NoError(t, errs[2])
	require.ErrorIs(t, errs[3], workflows.ErrClaimed)
	require.Equal(t, "p1", s.Running.Runner)
	require.Equal(t, 3, s.Running.Pages)
	require.Equal(t, 120, s.Running.Listed)
	require.Equal(t, 1, s.Running.Created)
}

// An update records the profile after it (never a secret), clears a
// credentials refusal when the credentials change, and records nothing
// when nothing changes.
func TestUpdateAndCredentialsRefused(t *testing.T) {
	name, url := "Acme Corp", "http://z2"
	create := workflows.Create{CustomerID: "c1", Name: "Acme", BaseURL: "http://z", ClientID: "id", Now: now}
	s, errs := fold(t, create,
		workflows.Start{SyncID: "s1", Trigger: workflows.TriggerManual, Now: now},
		workflows.Fail{SyncID: "s1", Reason: "zuora: unauthorized (invalid_client)", CredentialsRefused: true, Now: now},
		workflows.Update{Name: &name, Now: now},
	)
	require.NoError(t, errs[3])
	require.Equal(t, "Acme Corp", s.Name)
	require.Equal(t, "zuora: unauthorized (invalid_client)", s.CredentialsRefused, "a new name is no new credentials")

	evs, err := workflows.Decide(s, workflows.Update{Name: &name, Now: now})
	require.NoError(t, err)
	require.Empty(t, evs, "nothing changes: nothing recorded")

	s, _ = fold(t, create, workflows.Start{SyncID: "s1", Now: now},
		workflows.Fail{SyncID: "s1", Reason: "refused", CredentialsRefused: true, Now: now},
		workflows.Update{BaseURL: &url, Limits: &workflows.Limits{MaxWorkflows: 10}, Now: now})
	require.Empty(t, s.CredentialsRefused)
	require.Equal(t, workflows.Limits{MaxWorkflows: 10}, s.Limits)
	s, _ = fold(t, create, workflows.Start{SyncID: "s1", Now: now},
		workflows.Fail{SyncID: "s1", Reason: "refused", CredentialsRefused: true, Now: now},
		workflows.Update{SecretRotated: true, Now: now})
	require.Empty(t, s.CredentialsRefused, "a rotated secret may be accepted")
}

// Deleting a customer fails the sync it runs first, in the same decision;
// a deleted customer takes no command and its id is not reused.
func TestRemoveFailsTheRunningSyncFirst(t *testing.T) {
	create := workflows.Create{CustomerID: "c1", Name: "Acme", Now: now}
	s, _ := fold(t, create, workflows.Start{SyncID: "s1", Now: now},
		workflows.Apply{SyncID: "s1", Listed: []workflows.Workflow{wf(1, "one"), wf(2, "two")}, Known: fps()})
	evs, err := workflows.Decide(s, workflows.Remove{Now: now.Add(time.Minute)})
	require.NoError(t, err)
	require.Len(t, evs, 2)
	require.Equal(t, workflows.SyncFailedV1, evs[0].Type)
	failed := evs[0].Data.(workflows.SyncFailed)
	require.Equal(t, workflows.ReasonCustomerDeleted, failed.Reason)
	require.Equal(t, 2, failed.Stats.Created)
	require.Equal(t, workflows.CustomerDeletedV1, evs[1].Type)

	s, errs := fold(t, create, workflows.Remove{Now: now}, workflows.Start{SyncID: "s2", Now: now}, create,
		workflows.Remove{Now: now})
	require.NoError(t, errs[1])
	require.ErrorIs(t, errs[2], workflows.ErrNoCustomer)
	require.ErrorIs(t, errs[3], workflows.ErrCustomerTaken)
	require.ErrorIs(t, errs[4], workflows.ErrNoCustomer)
	require.True(t, s.Deleted)
	require.False(t, s.Exists)
}

// A fingerprint built from a stored row's fields and its description's
// hash (as PostgreSQL computes it) is the listed workflow's.
func TestFingerprintFromStoredFields(t *testing.T) {
	w := wf(7, "seven")
	w.Description = "a long description"
	got := workflows.FingerprintOf(w.Name, w.Status, w.CreatedAt, w.UpdatedAt, workflows.DescriptionHash(w.Description))
	require.Equal(t, w.Fingerprint(), got)
	o := w
	o.Description += "!"
	require.NotEqual(t, w.Fingerprint(), o.Fingerprint())
	o = w
	o.UpdatedAt = o.UpdatedAt.Add(time.Second)
	require.NotEqual(t, w.Fingerprint(), o.Fingerprint())
}
