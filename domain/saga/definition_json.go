package saga

import (
	json "github.com/go-json-experiment/json/v1"
)

// definitionJSON is a Definition as saga.started.v1 stores it: the first
// step's policy once, at the definition's level, and a step's own policy
// only where it differs. The order saga's five steps share one policy, so
// its definition takes ~600 bytes of the event instead of ~1,250, which
// every copy of the event pays for (the server's, its block caches, each
// consumer's, the projection's decoding; issue 27). A definition stored
// before, every step with its policy, decodes the same: a step's own
// policy wins.
type definitionJSON struct {
	Type   string     `json:"type"`
	Policy *Policy    `json:"policy,omitempty"`
	Steps  []stepJSON `json:"steps"`
}

type stepJSON struct {
	Name         string  `json:"name"`
	Action       string  `json:"action"`
	Compensation string  `json:"compensation,omitempty"`
	Kind         Kind    `json:"kind"`
	Policy       *Policy `json:"policy,omitempty"`
}

// MarshalJSON encodes d with the policy its steps share written once.
func (d Definition) MarshalJSON() ([]byte, error) {
	v := definitionJSON{Type: d.Type}
	if d.Steps != nil {
		v.Steps = make([]stepJSON, len(d.Steps))
	}
	for i, s := range d.Steps {
		if i == 0 {
			v.Policy = &d.Steps[0].Policy
		}
		v.Steps[i] = stepJSON{Name: s.Name, Action: s.Action, Compensation: s.Compensation, Kind: s.Kind}
		if s.Policy != *v.Policy {
			v.Steps[i].Policy = &d.Steps[i].Policy
		}
	}
	return json.Marshal(v)
}

// UnmarshalJSON decodes a definition in either form: each step's policy is
// its own when it has one, else the definition's.
func (d *Definition) UnmarshalJSON(b []byte) error {
	var v definitionJSON
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	*d = Definition{Type: v.Type}
	if v.Steps != nil {
		d.Steps = make([]Step, len(v.Steps))
	}
	for i, s := range v.Steps {
		d.Steps[i] = Step{Name: s.Name, Action: s.Action, Compensation: s.Compensation, Kind: s.Kind}
		switch {
		case s.Policy != nil:
			d.Steps[i].Policy = *s.Policy
		case v.Policy != nil:
			d.Steps[i].Policy = *v.Policy
		}
	}
	return nil
}
