package sagamodel

import (
	"context"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/eventline/eventline/domain/saga"
	"github.com/eventline/eventline/projections"
)

// SagasName is the name of the projection of the SAGAS stream (its
// checkpoint and consumer "proj_sagas").
const SagasName = "sagas"

// Tables of the sagas read model.
const (
	SagasTable     = "sagas"
	SagaStepsTable = "saga_steps"
)

// SagasSpec describes the sagas projection to the runtime and the operator
// tools. Every column is written by the projection, so a rebuild compares
// whole rows.
func SagasSpec() projections.Spec {
	return projections.Spec{
		Name:     SagasName,
		Stream:   saga.Stream,
		Subjects: []string{saga.Subjects},
		Tables: []projections.Table{
			{Name: SagasTable, Key: "id", Seq: "seq"},
			{Name: SagaStepsTable, Key: "saga_id, position", Seq: "seq"},
		},
		New: func(tables map[string]string) projections.Projection {
			return NewSagas(tables)
		},
	}
}

// Sagas projects the SAGAS stream into sagas and saga_steps.
type Sagas struct {
	projections.UpdatedInPlace
	sagas, steps string // sanitized identifiers
	decode       map[string]func([]byte) (any, error)
}

// NewSagas returns the sagas projection writing into tables, which maps
// each live table name to the one to write into (a missing entry means the
// live table).
func NewSagas(tables map[string]string) *Sagas {
	return &Sagas{sagas: tableName(tables, SagasTable), steps: tableName(tables, SagaStepsTable), decode: saga.Events()}
}

// Name implements projections.Projection.
func (m *Sagas) Name() string { return SagasName }

// Stream implements projections.Projection.
func (m *Sagas) Stream() string { return saga.Stream }

// Subjects implements projections.Projection.
func (m *Sagas) Subjects() []string { return []string{saga.Subjects} }

// Apply implements projections.Projection: it reads the rows of the
// batch's sagas, folds their events not applied yet with saga.Evolve, and
// writes back the rows that changed, in one round trip. It returns the
// rows written.
func (m *Sagas) Apply(ctx context.Context, tx pgx.Tx, events []projections.Event) (int64, error) {
	groups, err := groupEvents(events, m.decode, func(subject string) (string, bool) {
		id, ok := strings.CutPrefix(subject, "saga.")
		return id, ok && id != ""
	})
	if err != nil {
		return 0, fmt.Errorf("sagas: %w", err)
	}
	if len(groups) == 0 {
		return 0, nil
	}
	loaded, err := m.load(ctx, tx, groups)
	if err != nil {
		return 0, err
	}
	// Sized for the common case (every saga of the batch and its five
	// steps changed), so that the writes grow no slice.
	w := &sagaWrites{sagas: make([]sagaOut, 0, len(groups)), steps: make([]stepOut, 0, 5*len(groups))}
	for _, g := range groups {
		foldSaga(w, g, loaded[g.id])
	}
	b := &pgx.Batch{}
	m.queue(b, w)
	return projections.SendBatch(ctx, tx, b, "sagas")
}

// sagaRow is a saga as it was read from its rows: its state, as far as the
// rows hold it, and the seq of each row.
type sagaRow struct {
	state    saga.State
	seq      uint64
	stepSeqs []uint64
}

// stepRow is what a saga_steps row holds of a step.
type stepRow struct {
	Name         string
	Status       saga.StepStatus
	Attempts     int
	StartedAt    int64 // UnixMicro; 0 for none
	FinishedAt   int64
	Error        string
	CompStatus   saga.CompStatus
	CompAttempts int
	CompError    string
}

func rowOf(st saga.StepState) stepRow {
	return stepRow{Name: st.Name, Status: st.Status, Attempts: st.Action.Attempts, StartedAt: micros(st.StartedAt),
		FinishedAt: micros(st.FinishedAt), Error: st.Action.Error, CompStatus: st.Compensation,
		CompAttempts: st.Comp.Attempts, CompError: st.Comp.Error}
}

// sagaWrites are the rows of a batch to write.
type sagaWrites struct {
	sagas []sagaOut
	steps []stepOut
	// before is foldSaga's scratch space, reused from saga to saga.
	before []stepRow
}

type sagaOut struct {
	id  string
	s   saga.State
	seq uint64
}

type stepOut struct {
	sagaID   string
	position int
	st       saga.StepState
	seq      uint64
}

// foldSaga folds g's events after the rows' seq into the state read from
// the rows (the zero state when the saga has none) and adds to w the saga's
// row and the rows of the steps an event changed, each with the seq of the
// last event that changed it.
func foldSaga(w *sagaWrites, g *group, row *sagaRow) {
	var s saga.State
	var applied uint64
	var stepSeqs []uint64
	if row != nil {
		s, applied, stepSeqs = row.state, row.seq, row.stepSeqs
	}
	var last uint64
	before := w.before[:0]
	defer func() { w.before = before }()
	for _, ev := range g.events {
		if ev.seq <= applied {
			continue
		}
		before = before[:0]
		for _, st := range s.Steps {
			before = append(before, rowOf(st))
		}
		// The state is this fold's own (read from the rows, or started by
		// the batch): its steps change in place.
		s = saga.EvolveOwned(s, ev.typ, ev.data)
		for len(stepSeqs) < len(s.Steps) {
			stepSeqs = append(stepSeqs, 0)
		}
		for i, st := range s.Steps {
			if i >= len(before) || rowOf(st) != before[i] {
				stepSeqs[i] = ev.seq
			}
		}
		last = ev.seq
	}
	if last == 0 || s.ID == "" {
		return // nothing new, or no saga.started.v1 yet
	}
	w.sagas = append(w.sagas, sagaOut{id: g.id, s: s, seq: last})
	for i, st := range s.Steps {
		if stepSeqs[i] > applied {
			w.steps = append(w.steps, stepOut{sagaID: g.id, position: i, st: st, seq: stepSeqs[i]})
		}
	}
}
