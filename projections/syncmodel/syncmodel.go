package syncmodel

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/eventline/eventline/domain/workflows"
	"github.com/eventline/eventline/projections"
)

// Name is the projection's name (its checkpoint and consumer "proj_syncmodel").
const Name = "syncmodel"

// Tables of the read model.
const (
	CustomersTable = "customers"
	WorkflowsTable = "workflows"
	SyncRunsTable  = "sync_runs"
)

// Sync statuses as sync_runs and customers.last_sync_status hold them.
const (
	StatusRunning   = "running"
	StatusCompleted = "completed"
	StatusFailed    = "failed"
)

// Spec describes the projection to the runtime and the operator tools. Its
// rows are updated in place, one aggregate per customer subject; every
// column is written by the projection, so a rebuild compares whole rows.
func Spec() projections.Spec {
	return projections.Spec{
		Name:     Name,
		Stream:   workflows.Stream,
		Subjects: []string{workflows.Subjects},
		Tables: []projections.Table{
			{Name: CustomersTable, Key: "id", Seq: "seq"},
			{Name: WorkflowsTable, Key: "id", Seq: "seq"},
			{Name: SyncRunsTable, Key: "sync_id", Seq: "seq"},
		},
		New: func(tables map[string]string) projections.Projection {
			return New(tables)
		},
	}
}

// workflowNamespace is the UUID v5 namespace of workflow row ids.
var workflowNamespace = uuid.NewSHA1(uuid.NameSpaceURL, []byte("https://eventline.dev/ns/workflows"))

// WorkflowID is the id of the row of customer customerID's Zuora workflow
// zuoraID: a UUID v5 of "<customer_id>:<zuora_id>", the same in every
// rebuild.
func WorkflowID(customerID uuid.UUID, zuoraID int64) uuid.UUID {
	return uuid.NewSHA1(workflowNamespace, []byte(customerID.String()+":"+strconv.FormatInt(zuoraID, 10)))
}

// Model projects the WORKFLOWS stream into customers, workflows and
// sync_runs.
type Model struct {
	projections.UpdatedInPlace
	customers, workflows, syncRuns string // sanitized identifiers
	decode                         map[string]func([]byte) (any, error)
}

// New returns the model writing into tables, which maps each live table name
// to the one to write into (a missing entry means the live table).
func New(tables map[string]string) *Model {
	name := func(live string) string {
		if t := tables[live]; t != "" {
			return pgx.Identifier{t}.Sanitize()
		}
		return pgx.Identifier{live}.Sanitize()
	}
	return &Model{customers: name(CustomersTable), workflows: name(WorkflowsTable), syncRuns: name(SyncRunsTable),
		decode: workflows.Events()}
}

// Name implements projections.Projection.
func (m *Model) Name() string { return Name }

// Stream implements projections.Projection.
func (m *Model) Stream() string { return workflows.Stream }

// Subjects implements projections.Projection.
func (m *Model) Subjects() []string { return []string{workflows.Subjects} }

// event is one decoded event of a customer.
type event struct {
	seq  uint64
	at   time.Time
	typ  string
	data any
}

// customerEvents are the events of one customer in a batch, in stream order.
type customerEvents struct {
	id     uuid.UUID
	events []event
}

// Apply implements projections.Projection: the events of each customer not
// applied yet are turned into statements sent in one round trip. It returns
// the rows the statements wrote.
func (m *Model) Apply(ctx context.Context, tx pgx.Tx, events []projections.Event) (int64, error) {
	groups, err := m.group(events)
	if err != nil {
		return 0, err
	}
	if len(groups) == 0 {
		return 0, nil
	}
	applied, err := m.appliedSeqs(ctx, tx, groups)
	if err != nil {
		return 0, err
	}
	b := &pgx.Batch{}
	for _, g := range groups {
		m.queueCustomer(b, g, applied[g.id])
	}
	return projections.SendBatch(ctx, tx, b, "syncmodel")
}

// group decodes events and groups them by customer, customers in the order
// of their first event. An event that cannot be decoded is a permanent error.
func (m *Model) group(events []projections.Event) ([]*customerEvents, error) {
	var out []*customerEvents
	byID := map[uuid.UUID]*customerEvents{}
	for _, ev := range events {
		id, err := uuid.Parse(strings.TrimPrefix(ev.Subject, "customer."))
		if err != nil || !strings.HasPrefix(ev.Subject, "customer.") {
			return nil, projections.Permanent(fmt.Errorf("syncmodel: event #%d: subject %q is not customer.<uuid>", ev.Seq, ev.Subject))
		}
		data, at, err := projections.Decode(ev, m.decode)
		if err != nil {
			return nil, fmt.Errorf("syncmodel: %w", err)
		}
		g := byID[id]
		if g == nil {
			g = &customerEvents{id: id}
			byID[id] = g
			out = append(out, g)
		}
		g.events = append(g.events, event{seq: ev.Seq, at: at.UTC(), typ: ev.Envelope.Type, data: data})
	}
	return out, nil
}

// appliedSeqs returns, per customer of groups that has a row, the sequence
// of the last of its events applied.
func (m *Model) appliedSeqs(ctx context.Context, tx pgx.Tx, groups []*customerEvents) (map[uuid.UUID]uint64, error) {
	ids := make([]uuid.UUID, len(groups))
	for i, g := range groups {
		ids[i] = g.id
	}
	rows, err := tx.Query(ctx, `SELECT id, seq FROM `+m.customers+` WHERE id = ANY($1)`, ids)
	if err != nil {
		return nil, fmt.Errorf("syncmodel: read customers: %w", err)
	}
	out := make(map[uuid.UUID]uint64, len(groups))
	var id uuid.UUID
	var seq int64
	if _, err := pgx.ForEachRow(rows, []any{&id, &seq}, func() error {
		out[id] = uint64(seq)
		return nil
	}); err != nil {
		return nil, fmt.Errorf("syncmodel: read customers: %w", err)
	}
	return out, nil
}
