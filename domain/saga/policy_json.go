package saga

import (
	"fmt"
	"time"

	json "github.com/go-json-experiment/json/v1"
)

// policyJSON is Policy as stored in events: durations in Go syntax
// ("60s"), readable in a saga's history.
type policyJSON struct {
	Attempts            int      `json:"attempts"`
	FirstDelay          duration `json:"first_delay"`
	MaxDelay            duration `json:"max_delay"`
	Jitter              float64  `json:"jitter"`
	AttemptTimeout      duration `json:"attempt_timeout"`
	CompensationTimeout duration `json:"compensation_timeout"`
}

// MarshalJSON encodes p with its durations in Go syntax ("1m0s").
func (p Policy) MarshalJSON() ([]byte, error) {
	return json.Marshal(policyJSON{Attempts: p.Attempts, FirstDelay: duration(p.FirstDelay), MaxDelay: duration(p.MaxDelay),
		Jitter: p.Jitter, AttemptTimeout: duration(p.AttemptTimeout), CompensationTimeout: duration(p.CompensationTimeout)})
}

// UnmarshalJSON decodes a policy whose durations are strings in Go syntax
// or numbers of nanoseconds.
func (p *Policy) UnmarshalJSON(b []byte) error {
	var v policyJSON
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	*p = Policy{Attempts: v.Attempts, FirstDelay: time.Duration(v.FirstDelay), MaxDelay: time.Duration(v.MaxDelay),
		Jitter: v.Jitter, AttemptTimeout: time.Duration(v.AttemptTimeout), CompensationTimeout: time.Duration(v.CompensationTimeout)}
	return nil
}

type duration time.Duration

func (d duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

func (d *duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		var n int64
		if err := json.Unmarshal(b, &n); err != nil {
			return fmt.Errorf("duration %s: want a string like \"60s\" or nanoseconds", b)
		}
		*d = duration(n)
		return nil
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("duration: %w", err)
	}
	*d = duration(v)
	return nil
}
