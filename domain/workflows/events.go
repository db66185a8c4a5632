package workflows

import (
	"encoding/json"
	"time"
)

// Stream is the JetStream stream of the workflow-sync events.
const Stream = "WORKFLOWS"

// Subjects is the stream's subject filter.
const Subjects = "customer.>"

// Subject is the subject of customer id's events.
func Subject(customerID string) string { return "customer." + customerID }

// Event type names.
const (
	CustomerCreatedV1 = "customer.created.v1"
	SyncStartedV1     = "sync.started.v1"
	WorkflowCreatedV1 = "workflow.created.v1"
	WorkflowUpdatedV1 = "workflow.updated.v1"
	WorkflowDeletedV1 = "workflow.deleted.v1"
	SyncCompletedV1   = "sync.completed.v1"
	SyncFailedV1      = "sync.failed.v1"
	SyncProgressedV1  = "sync.progressed.v1"
	CustomerUpdatedV1 = "customer.updated.v1"
	CustomerDeletedV1 = "customer.deleted.v1"
)

// Limits bound what one sync of a customer may take in; zero fields take
// the process's defaults (WorkerConfig.MaxWorkflows, MaxBytes).
type Limits struct {
	// MaxWorkflows bounds the distinct workflows one listing may hold.
	MaxWorkflows int `json:"max_workflows,omitempty"`
	// MaxBytes bounds the bytes of the pages one listing may read.
	MaxBytes int64 `json:"max_bytes,omitempty"`
}

// CustomerCreated is the payload of CustomerCreatedV1. The Zuora client
// secret is not in it: it is kept encrypted in PostgreSQL only.
type CustomerCreated struct {
	CustomerID string    `json:"customer_id"`
	Name       string    `json:"name"`
	BaseURL    string    `json:"base_url"`
	ClientID   string    `json:"client_id"`
	Limits     Limits    `json:"limits,omitzero"`
	CreatedAt  time.Time `json:"created_at"`
}

// CustomerUpdated is the payload of CustomerUpdatedV1: the customer's
// profile after an operator's change. The client secret is never in it;
// SecretRotated says a new one was stored.
type CustomerUpdated struct {
	CustomerID    string    `json:"customer_id"`
	Name          string    `json:"name"`
	BaseURL       string    `json:"base_url"`
	ClientID      string    `json:"client_id"`
	Limits        Limits    `json:"limits,omitzero"`
	SecretRotated bool      `json:"secret_rotated,omitempty"`
	UpdatedAt     time.Time `json:"updated_at"`
}

// CredentialsChanged reports whether the update changed what the customer
// signs in to Zuora with (base URL, client id or secret), compared with
// the profile before it.
func (e CustomerUpdated) CredentialsChanged(baseURL, clientID string) bool {
	return e.SecretRotated || e.BaseURL != baseURL || e.ClientID != clientID
}

// CustomerDeleted is the payload of CustomerDeletedV1: the customer and its
// workflows are gone; a sync it was running failed just before.
type CustomerDeleted struct {
	CustomerID string    `json:"customer_id"`
	DeletedAt  time.Time `json:"deleted_at"`
}

// SyncProgressed is the payload of SyncProgressedV1: how far the listing
// of a running sync has come. The first one of a sync, with Pages 0,
// names the process that began running it (Runner): a sync has one
// runner, and one that never began is waiting, not interrupted.
type SyncProgressed struct {
	SyncID string `json:"sync_id"`
	Runner string `json:"runner,omitempty"`
	Pages  int    `json:"pages"`
	Listed int    `json:"listed"`
	Bytes  int64  `json:"bytes"`
}

// Trigger says why a sync started.
type Trigger string

// Triggers of a sync.
const (
	TriggerCreated  Trigger = "customer_created"
	TriggerManual   Trigger = "manual"
	TriggerInterval Trigger = "interval"
	TriggerDaily    Trigger = "daily"
	TriggerCLI      Trigger = "cli"
)

// SyncStarted is the payload of SyncStartedV1.
type SyncStarted struct {
	SyncID  string  `json:"sync_id"`
	Trigger Trigger `json:"trigger"`
	// Slot names the schedule slot a scheduled sync fills
	// ("interval:<unix>", "daily:2026-11-25"), so that each runs once
	// however many processes schedule it.
	Slot            string    `json:"slot,omitempty"`
	AllowMassDelete bool      `json:"allow_mass_delete,omitempty"`
	StartedAt       time.Time `json:"started_at"`
}

// Workflow is a Zuora workflow as the sync stores it.
type Workflow struct {
	ZuoraID     int64     `json:"zuora_id"`
	Name        string    `json:"name"`
	Description string    `json:"description"`
	Status      string    `json:"status"`
	CreatedAt   time.Time `json:"created_at"`
	UpdatedAt   time.Time `json:"updated_at"`
}

// Same reports whether w and o hold the same data.
func (w Workflow) Same(o Workflow) bool {
	return w.ZuoraID == o.ZuoraID && w.Name == o.Name && w.Description == o.Description && w.Status == o.Status &&
		w.CreatedAt.Equal(o.CreatedAt) && w.UpdatedAt.Equal(o.UpdatedAt)
}

// WorkflowChanged is the payload of WorkflowCreatedV1 and WorkflowUpdatedV1.
type WorkflowChanged struct {
	SyncID   string   `json:"sync_id"`
	Workflow Workflow `json:"workflow"`
}

// WorkflowDeleted is the payload of WorkflowDeletedV1: the workflow is gone
// from the listing of sync SyncID; it is deleted when that sync completes.
type WorkflowDeleted struct {
	SyncID  string `json:"sync_id"`
	ZuoraID int64  `json:"zuora_id"`
}

// Stats are the counts of one sync.
type Stats struct {
	Created   int      `json:"created"`
	Updated   int      `json:"updated"`
	Deleted   int      `json:"deleted"`
	Unchanged int      `json:"unchanged"`
	Total     int      `json:"total"`
	Errors    []string `json:"errors"`
}

// SyncCompleted is the payload of SyncCompletedV1.
type SyncCompleted struct {
	SyncID     string    `json:"sync_id"`
	Stats      Stats     `json:"stats"`
	Pages      int       `json:"pages"`
	FinishedAt time.Time `json:"finished_at"`
}

// SyncFailed is the payload of SyncFailedV1. Nothing was deleted.
// CredentialsRefused marks a sync Zuora refused the customer's credentials
// for: the customer is shown so and its scheduled syncs back off until its
// credentials change.
type SyncFailed struct {
	SyncID             string    `json:"sync_id"`
	Reason             string    `json:"reason"`
	CredentialsRefused bool      `json:"credentials_refused,omitempty"`
	Stats              Stats     `json:"stats"`
	Pages              int       `json:"pages"`
	FinishedAt         time.Time `json:"finished_at"`
}

// Events is the decode table of the workflow-sync events; production code
// decodes through it and old payloads in testdata/ must keep decoding.
func Events() map[string]func(data []byte) (any, error) {
	return map[string]func([]byte) (any, error){
		CustomerCreatedV1: decodeJSON[CustomerCreated],
		SyncStartedV1:     decodeJSON[SyncStarted],
		WorkflowCreatedV1: decodeJSON[WorkflowChanged],
		WorkflowUpdatedV1: decodeJSON[WorkflowChanged],
		WorkflowDeletedV1: decodeJSON[WorkflowDeleted],
		SyncCompletedV1:   decodeJSON[SyncCompleted],
		SyncFailedV1:      decodeJSON[SyncFailed],
		SyncProgressedV1:  decodeJSON[SyncProgressed],
		CustomerUpdatedV1: decodeJSON[CustomerUpdated],
		CustomerDeletedV1: decodeJSON[CustomerDeleted],
	}
}

func decodeJSON[T any](data []byte) (any, error) {
	v := new(T)
	if err := json.Unmarshal(data, v); err != nil {
		return nil, err
	}
	return v, nil
}
