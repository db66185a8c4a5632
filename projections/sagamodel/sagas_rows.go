package sagamodel

import (
	"context"
	"fmt"
	"time"

	json "github.com/go-json-experiment/json/v1"
	"github.com/jackc/pgx/v5"

	"github.com/eventline/eventline/domain/saga"
)

// load reads the rows of the sagas of groups, in one round trip, into the
// state they show (as much of saga.State as the rows hold: what Evolve
// needs to fold the rows' fields).
func (m *Sagas) load(ctx context.Context, tx pgx.Tx, groups []*group) (map[string]*sagaRow, error) {
	ids := make([]string, len(groups))
	for i, g := range groups {
		ids[i] = g.id
	}
	b := &pgx.Batch{}
	b.Queue(`SELECT id, status, current_step, reason, aborted, created_at, updated_at, seq FROM `+m.sagas+`
		WHERE id = ANY($1)`, ids)
	b.Queue(`SELECT saga_id, position, name, status, attempts, started_at, finished_at, error, comp_status,
			comp_attempts, comp_error, seq
		FROM `+m.steps+` WHERE saga_id = ANY($1) ORDER BY saga_id, position`, ids)
	res := tx.SendBatch(ctx, b)
	defer res.Close()

	out := make(map[string]*sagaRow, len(groups))
	current := map[string]string{}
	rows, err := res.Query()
	if err != nil {
		return nil, fmt.Errorf("sagas: read sagas: %w", err)
	}
	var id, status, cur string
	var r sagaRow
	var seq int64
	if _, err := pgx.ForEachRow(rows, []any{&id, &status, &cur, &r.state.Reason, &r.state.Aborted, &r.state.CreatedAt,
		&r.state.UpdatedAt, &seq}, func() error {
		row := r
		row.state.ID, row.state.Status, row.seq = id, saga.Status(status), uint64(seq)
		out[id], current[id] = &row, cur
		return nil
	}); err != nil {
		return nil, fmt.Errorf("sagas: read sagas: %w", err)
	}

	rows, err = res.Query()
	if err != nil {
		return nil, fmt.Errorf("sagas: read saga steps: %w", err)
	}
	var pos int
	var st saga.StepState
	var stepStatus, compStatus string
	var started, finished *time.Time
	if _, err := pgx.ForEachRow(rows, []any{&id, &pos, &st.Name, &stepStatus, &st.Action.Attempts, &started, &finished,
		&st.Action.Error, &compStatus, &st.Comp.Attempts, &st.Comp.Error, &seq}, func() error {
		row := out[id]
		if row == nil || pos != len(row.state.Steps) {
			return fmt.Errorf("saga %s: step row %d out of place", id, pos)
		}
		s := st
		s.Status, s.Compensation = saga.StepStatus(stepStatus), saga.CompStatus(compStatus)
		if started != nil {
			s.StartedAt = started.UTC()
		}
		if finished != nil {
			s.FinishedAt = finished.UTC()
		}
		if row.state.Steps == nil {
			row.state.Steps = make([]saga.StepState, 0, 8) // one allocation for a saga's steps
		}
		row.state.Steps = append(row.state.Steps, s)
		row.stepSeqs = append(row.stepSeqs, uint64(seq))
		return nil
	}); err != nil {
		return nil, fmt.Errorf("sagas: read saga steps: %w", err)
	}
	for id, row := range out {
		row.state.Current = max(row.state.StepIndex(current[id]), 0)
	}
	return out, nil
}

// inputUser returns the user_id of a saga's input (an order saga's user;
// "" for a saga whose input has none, or whose input is not read: a row
// loaded from the table, whose user_id an upsert leaves as it is).
func inputUser(input []byte) string {
	if len(input) == 0 {
		return ""
	}
	var in struct {
		UserID string `json:"user_id"`
	}
	if json.Unmarshal(input, &in) != nil {
		return ""
	}
	return in.UserID
}

// queue queues the writes of w: one upsert per table, each row replacing
// only a row written by an earlier event.
func (m *Sagas) queue(b *pgx.Batch, w *sagaWrites) {
	if n := len(w.sagas); n > 0 {
		ids, types, statuses, currents, reasons := make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
		users := make([]string, n)
		aborted, created, updated, seqs := make([]bool, n), make([]time.Time, n), make([]time.Time, n), make([]int64, n)
		for i, o := range w.sagas {
			s := o.s
			ids[i], types[i], statuses[i], reasons[i], aborted[i] = o.id, s.Definition.Type, string(s.Status), s.Reason, s.Aborted
			users[i] = inputUser(s.Input)
			if s.Current >= 0 && s.Current < len(s.Steps) {
				currents[i] = s.Steps[s.Current].Name
			}
			created[i], updated[i], seqs[i] = s.CreatedAt.UTC(), s.UpdatedAt.UTC(), int64(o.seq)
		}
		b.Queue(`INSERT INTO `+m.sagas+` AS t (id, type, status, current_step, reason, aborted, created_at, updated_at, seq, user_id)
			SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::boolean[],
				$7::timestamptz[], $8::timestamptz[], $9::bigint[], $10::text[])
			ON CONFLICT (id) DO UPDATE SET status = EXCLUDED.status, current_step = EXCLUDED.current_step,
				reason = EXCLUDED.reason, aborted = EXCLUDED.aborted, updated_at = EXCLUDED.updated_at, seq = EXCLUDED.seq
			WHERE t.seq < EXCLUDED.seq`,
			ids, types, statuses, currents, reasons, aborted, created, updated, seqs, users)
	}
	if n := len(w.steps); n > 0 {
		ids, positions, names, statuses := make([]string, n), make([]int32, n), make([]string, n), make([]string, n)
		attempts, compAttempts, seqs := make([]int32, n), make([]int32, n), make([]int64, n)
		started, finished := make([]*time.Time, n), make([]*time.Time, n)
		errs, compStatuses, compErrs := make([]string, n), make([]string, n), make([]string, n)
		for i, o := range w.steps {
			st := o.st
			ids[i], positions[i], names[i], statuses[i] = o.sagaID, int32(o.position), st.Name, string(st.Status)
			attempts[i], started[i], finished[i], errs[i] = int32(st.Action.Attempts), nullTime(st.StartedAt), nullTime(st.FinishedAt), st.Action.Error
			compStatuses[i], compAttempts[i], compErrs[i], seqs[i] = string(st.Compensation), int32(st.Comp.Attempts), st.Comp.Error, int64(o.seq)
		}
		b.Queue(`INSERT INTO `+m.steps+` AS t (saga_id, position, name, status, attempts, started_at, finished_at, error,
				comp_status, comp_attempts, comp_error, seq)
			SELECT * FROM unnest($1::text[], $2::integer[], $3::text[], $4::text[], $5::integer[], $6::timestamptz[],
				$7::timestamptz[], $8::text[], $9::text[], $10::integer[], $11::text[], $12::bigint[])
			ON CONFLICT (saga_id, position) DO UPDATE SET name = EXCLUDED.name, status = EXCLUDED.status,
				attempts = EXCLUDED.attempts, started_at = EXCLUDED.started_at, finished_at = EXCLUDED.finished_at,
				error = EXCLUDED.error, comp_status = EXCLUDED.comp_status, comp_attempts = EXCLUDED.comp_attempts,
				comp_error = EXCLUDED.comp_error, seq = EXCLUDED.seq
			WHERE t.seq < EXCLUDED.seq`,
			ids, positions, names, statuses, attempts, started, finished, errs, compStatuses, compAttempts, compErrs, seqs)
	}
}
