package syncmodel_test

import (
	"context"
	"testing"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/eventline/eventline/domain/workflows"
	"github.com/eventline/eventline/projections/syncmodel"
)

// customerRow is a customers row's operator columns.
type customerRow struct {
	Name, BaseURL, ClientID string
	MaxWorkflows, MaxBytes  *int64
	CredentialsError        *string
	Deleted                 bool
}

func customerRowOf(t *testing.T, e *env, c uuid.UUID) customerRow {
	t.Helper()
	var r customerRow
	require.NoError(t, e.pool.QueryRow(context.Background(), `SELECT name, base_url, client_id, max_workflows, max_bytes,
		credentials_error, deleted_at IS NOT NULL FROM customers WHERE id = $1`, c).Scan(&r.Name, &r.BaseURL, &r.ClientID,
		&r.MaxWorkflows, &r.MaxBytes, &r.CredentialsError, &r.Deleted))
	return r
}

// A running sync's row shows its pages as they are listed (issue 25 item
// 9: "pages": 0 after 700 pages).
func TestARunningSyncShowsItsPages(t *testing.T) {
	e := newEnv(t)
	e.run(t)
	c := uuid.New()
	importThree(t, e, c)
	e.started(t, c, "s2", 10)
	e.emit(t, c, workflows.SyncProgressedV1, 10, workflows.SyncProgressed{SyncID: "s2", Runner: "p1"})
	e.emit(t, c, workflows.SyncProgressedV1, 11, workflows.SyncProgressed{SyncID: "s2", Pages: 700, Listed: 35000})
	e.wait(t)
	require.Equal(t, syncRun{Status: "running", Total: 35000, Errors: "[]", Pages: 700}, syncRunRow(t, e.pool, "s2"))
	seq, err := syncmodel.CustomerSeq(context.Background(), e.pool, c)
	require.NoError(t, err)
	require.Equal(t, e.last, seq, "the customer's row names its last event applied")
}

// An update, a refusal of the credentials and a deletion as the read model
// shows them.
func TestCustomerUpdatedRefusedAndDeleted(t *testing.T) {
	e := newEnv(t)
	e.run(t)
	c := uuid.New()
	importThree(t, e, c)
	e.started(t, c, "s2", 10)
	e.emit(t, c, workflows.SyncFailedV1, 11, workflows.SyncFailed{SyncID: "s2", Reason: "zuora refused the credentials",
		CredentialsRefused: true, Stats: workflows.Stats{Errors: []string{}}, FinishedAt: at(11)})
	e.emit(t, c, workflows.CustomerUpdatedV1, 12, workflows.CustomerUpdated{CustomerID: c.String(), Name: "acme 2",
		BaseURL: "https://zuora.test/acme", ClientID: "client-acme", Limits: workflows.Limits{MaxWorkflows: 10}, UpdatedAt: at(12)})
	e.wait(t)
	reason := "zuora refused the credentials"
	require.Equal(t, customerRow{Name: "acme 2", BaseURL: "https://zuora.test/acme", ClientID: "client-acme",
		MaxWorkflows: ptr(int64(10)), CredentialsError: &reason}, customerRowOf(t, e, c), "a new name leaves the refusal")

	e.emit(t, c, workflows.CustomerUpdatedV1, 13, workflows.CustomerUpdated{CustomerID: c.String(), Name: "acme 2",
		BaseURL: "https://zuora.test/acme", ClientID: "client-acme", SecretRotated: true, UpdatedAt: at(13)})
	e.wait(t)
	require.Nil(t, customerRowOf(t, e, c).CredentialsError, "a rotated secret clears it")

	e.emit(t, c, workflows.CustomerDeletedV1, 14, workflows.CustomerDeleted{CustomerID: c.String(), DeletedAt: at(14)})
	e.wait(t)
	require.True(t, customerRowOf(t, e, c).Deleted)
	require.Empty(t, workflowRows(t, e.pool, c), "its workflows go with it")

	before := dump(t, e.pool)
	apply(t, e, streamEvents(t, e))
	require.Equal(t, before, dump(t, e.pool), "applying the stream again changes nothing (the tombstone stays)")
}
