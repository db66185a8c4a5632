package saga

import (
	"errors"
	"fmt"
	"time"
)

// Kind says what a step's failure means for the saga.
type Kind string

// Kinds of step (Garcia-Molina's compensatable, pivot and retriable
// transactions).
const (
	// Compensatable steps run before the pivot; when a later step fails
	// for good, their compensation (if any) undoes them, in reverse order.
	Compensatable Kind = "compensatable"
	// Pivot is the step after which the saga can only go forward: its
	// success commits the saga; it has no compensation.
	Pivot Kind = "pivot"
	// Retriable steps run after the pivot; they retry forward and, when
	// their attempts are spent, the saga needs attention (no compensation).
	Retriable Kind = "retriable"
)

// Policy is how a step's attempts are retried and timed out (stored in
// events with its durations in Go syntax, "60s"). A zero field
// takes the value of the defaults passed to Definition.WithDefaults.
type Policy struct {
	// Attempts is how many attempts (the first included) a step gets for
	// transient failures and timeouts before it fails for good.
	Attempts int
	// FirstDelay is the delay before the first retry; each later retry
	// doubles it, up to MaxDelay.
	FirstDelay time.Duration
	// MaxDelay caps a retry's delay (no cap when 0 after defaults).
	MaxDelay time.Duration
	// Jitter is the fraction (0 to 1) of a delay that is taken off at
	// random, so that retries of many sagas spread out.
	Jitter float64
	// AttemptTimeout is one attempt's time limit (an action's or a
	// compensation's).
	AttemptTimeout time.Duration
	// CompensationTimeout is how long a compensation keeps retrying before
	// the saga is failed.
	CompensationTimeout time.Duration
}

// DefaultPolicy returns the contract's defaults (EVENTLINE_SAGA_*): 3
// attempts, 60s first retry delay capped at 1h, 20% jitter, 300s per
// attempt, 600s of compensation. The program's main reads the environment
// and overrides them.
func DefaultPolicy() Policy {
	return Policy{
		Attempts:            3,
		FirstDelay:          60 * time.Second,
		MaxDelay:            time.Hour,
		Jitter:              0.2,
		AttemptTimeout:      300 * time.Second,
		CompensationTimeout: 600 * time.Second,
	}
}

// Or returns p with every zero field taken from d.
func (p Policy) Or(d Policy) Policy {
	if p.Attempts == 0 {
		p.Attempts = d.Attempts
	}
	if p.FirstDelay == 0 {
		p.FirstDelay = d.FirstDelay
	}
	if p.MaxDelay == 0 {
		p.MaxDelay = d.MaxDelay
	}
	if p.Jitter == 0 {
		p.Jitter = d.Jitter
	}
	if p.AttemptTimeout == 0 {
		p.AttemptTimeout = d.AttemptTimeout
	}
	if p.CompensationTimeout == 0 {
		p.CompensationTimeout = d.CompensationTimeout
	}
	return p
}

// Backoff returns the delay before retry number n (1 for the retry after
// the first attempt): FirstDelay doubled n-1 times, capped at MaxDelay,
// minus the fraction jitter*r of it, where r in [0, 1) is drawn by the
// caller (r = 0: no jitter).
func (p Policy) Backoff(n int, r float64) time.Duration {
	d := p.FirstDelay
	for i := 1; i < n && (p.MaxDelay <= 0 || d < p.MaxDelay); i++ {
		d *= 2
	}
	if p.MaxDelay > 0 && d > p.MaxDelay {
		d = p.MaxDelay
	}
	r = min(max(r, 0), 1)
	return d - time.Duration(float64(d)*p.Jitter*r)
}

func (p Policy) validate(step string) error {
	var errs []error
	if p.Attempts < 1 {
		errs = append(errs, fmt.Errorf("step %s: attempts %d < 1", step, p.Attempts))
	}
	if p.FirstDelay < 0 || p.MaxDelay < 0 {
		errs = append(errs, fmt.Errorf("step %s: negative retry delay", step))
	}
	if p.Jitter < 0 || p.Jitter > 1 {
		errs = append(errs, fmt.Errorf("step %s: jitter %v outside [0, 1]", step, p.Jitter))
	}
	if p.AttemptTimeout <= 0 {
		errs = append(errs, fmt.Errorf("step %s: attempt timeout must be positive", step))
	}
	if p.CompensationTimeout <= 0 {
		errs = append(errs, fmt.Errorf("step %s: compensation timeout must be positive", step))
	}
	return errors.Join(errs...)
}

// Step is one step of a saga definition.
type Step struct {
	// Name names the step within its saga ("reserve_inventory").
	Name string `json:"name"`
	// Action is the type of the command the step sends.
	Action string `json:"action"`
	// Compensation is the type of the command that undoes the step ("":
	// nothing to undo).
	Compensation string `json:"compensation,omitempty"`
	// Kind is the step's kind.
	Kind Kind `json:"kind"`
	// Policy is the step's retry and timeout policy.
	Policy Policy `json:"policy"`
}

// Definition is a kind of saga: its type name and its steps, in order.
type Definition struct {
	// Type names the saga ("create_order").
	Type string `json:"type"`
	// Steps run in order.
	Steps []Step `json:"steps"`
}

// ErrInvalidDefinition reports a saga definition that cannot run.
var ErrInvalidDefinition = errors.New("saga: invalid definition")

// WithDefaults returns a copy of d whose steps' zero policy fields are
// taken from p.
func (d Definition) WithDefaults(p Policy) Definition {
	steps := make([]Step, len(d.Steps))
	for i, s := range d.Steps {
		s.Policy = s.Policy.Or(p)
		steps[i] = s
	}
	d.Steps = steps
	return d
}

// Validate reports every problem of d at once, each wrapping
// ErrInvalidDefinition: a type and at least one step, unique step names,
// an action per step, at most one pivot with no compensation, compensatable
// steps before it and retriable steps only after it, and valid policies.
func (d Definition) Validate() error {
	var errs []error
	if d.Type == "" {
		errs = append(errs, errors.New("no type"))
	}
	if len(d.Steps) == 0 {
		errs = append(errs, errors.New("no steps"))
	}
	seen := map[string]bool{}
	pivot := -1
	for i, s := range d.Steps {
		switch {
		case s.Name == "":
			errs = append(errs, fmt.Errorf("step %d: no name", i))
		case seen[s.Name]:
			errs = append(errs, fmt.Errorf("step %s: name used twice", s.Name))
		}
		seen[s.Name] = true
		if s.Action == "" {
			errs = append(errs, fmt.Errorf("step %s: no action", s.Name))
		}
		switch s.Kind {
		case Compensatable:
			if pivot >= 0 {
				errs = append(errs, fmt.Errorf("step %s: compensatable step after the pivot", s.Name))
			}
		case Pivot:
			if pivot >= 0 {
				errs = append(errs, fmt.Errorf("step %s: second pivot", s.Name))
			}
			pivot = i
			if s.Compensation != "" {
				errs = append(errs, fmt.Errorf("step %s: a pivot has no compensation", s.Name))
			}
		case Retriable:
			if pivot < 0 {
				errs = append(errs, fmt.Errorf("step %s: retriable step before the pivot", s.Name))
			}
			if s.Compensation != "" {
				errs = append(errs, fmt.Errorf("step %s: a retriable step has no compensation", s.Name))
			}
		default:
			errs = append(errs, fmt.Errorf("step %s: unknown kind %q", s.Name, s.Kind))
		}
		if err := s.Policy.validate(s.Name); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("%w %q: %w", ErrInvalidDefinition, d.Type, err)
	}
	return nil
}

// pivot returns the index of d's pivot step, -1 when it has none.
func (d Definition) pivot() int {
	for i, s := range d.Steps {
		if s.Kind == Pivot {
			return i
		}
	}
	return -1
}
