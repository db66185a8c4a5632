package zuorasim

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"time"
)

// Time formats a tenant can serve its timestamps in.
const (
	// TimeISO serves ISO-8601 with milliseconds and a zone, as Zuora does.
	TimeISO = "iso"
	// TimeSpace serves "YYYY-MM-DD HH:MM:SS" in UTC.
	TimeSpace = "space"
	// TimeMixed alternates the two by workflow id (odd ids ISO, even space).
	TimeMixed = "mixed"
)

// Workflow is a workflow the sim serves. Zero timestamps are set to the
// time the tenant was stored.
type Workflow struct {
	ID          int64     `json:"id"`
	Name        string    `json:"name"`
	Description string    `json:"description"`
	Status      string    `json:"status"`
	CreatedAt   time.Time `json:"createdAt"`
	UpdatedAt   time.Time `json:"updatedAt"`
}

// Tenant is one Zuora tenant: its client secret (the map key holding it is
// the client id) and its workflows.
type Tenant struct {
	ClientSecret string     `json:"client_secret"`
	Workflows    []Workflow `json:"workflows"`
	// TimeFormat is TimeISO (the default), TimeSpace or TimeMixed.
	TimeFormat string `json:"time_format,omitempty"`
}

// Fault makes the next Times requests for Page of a tenant fail with Status
// (a 429 carries Retry-After: RetryAfter seconds when it is positive).
type Fault struct {
	Page       int `json:"page"`
	Status     int `json:"status"`
	Times      int `json:"times"`
	RetryAfter int `json:"retry_after"`
}

// fieldError is a control-API input problem naming the field.
type fieldError struct {
	field string
	msg   string
}

func (e *fieldError) Error() string { return e.field + ": " + e.msg }

// normalize checks a tenant and returns a copy with its workflows sorted by
// id and missing timestamps set to now.
func (t Tenant) normalize(now time.Time) (Tenant, error) {
	if t.ClientSecret == "" {
		return t, &fieldError{"client_secret", "must not be empty"}
	}
	switch t.TimeFormat {
	case "":
		t.TimeFormat = TimeISO
	case TimeISO, TimeSpace, TimeMixed:
	default:
		return t, &fieldError{"time_format", fmt.Sprintf("%q: want iso, space or mixed", t.TimeFormat)}
	}
	wfs := slices.Clone(t.Workflows)
	seen := make(map[int64]bool, len(wfs))
	for i := range wfs {
		w := &wfs[i]
		field := fmt.Sprintf("workflows[%d]", i)
		if w.ID <= 0 {
			return t, &fieldError{field + ".id", "must be a positive integer"}
		}
		if seen[w.ID] {
			return t, &fieldError{field + ".id", fmt.Sprintf("duplicate id %d", w.ID)}
		}
		seen[w.ID] = true
		switch w.Status {
		case "":
			w.Status = "Active"
		case "Active", "Inactive":
		default:
			return t, &fieldError{field + ".status", fmt.Sprintf("%q: want Active or Inactive", w.Status)}
		}
		if w.CreatedAt.IsZero() {
			w.CreatedAt = now
		}
		if w.UpdatedAt.IsZero() {
			w.UpdatedAt = w.CreatedAt
		}
	}
	slices.SortFunc(wfs, func(a, b Workflow) int { return cmp.Compare(a.ID, b.ID) })
	t.Workflows = wfs
	return t, nil
}

// check validates a fault.
func (f Fault) check() error {
	switch {
	case f.Page < 1:
		return &fieldError{"page", "must be at least 1"}
	case f.Status < 400 || f.Status > 599:
		return &fieldError{"status", "must be an HTTP error status (400..599)"}
	case f.Times < 1:
		return &fieldError{"times", "must be at least 1"}
	case f.RetryAfter < 0:
		return &fieldError{"retry_after", "must not be negative"}
	}
	return nil
}

// errUnknownTenant is returned for a client id the sim does not know.
var errUnknownTenant = errors.New("unknown tenant")

// GenerateWorkflows returns n workflows with ids 1..n, a quarter of them
// Inactive, with timestamps counted from base; the same n and base always
// give the same workflows.
func GenerateWorkflows(n int, base time.Time) []Workflow {
	wfs := make([]Workflow, n)
	for i := range wfs {
		id := int64(i + 1)
		status := "Active"
		if id%4 == 0 {
			status = "Inactive"
		}
		created := base.Add(time.Duration(id) * time.Hour).UTC()
		wfs[i] = Workflow{
			ID:          id,
			Name:        fmt.Sprintf("Workflow %d", id),
			Description: fmt.Sprintf("Generated workflow number %d", id),
			Status:      status,
			CreatedAt:   created,
			UpdatedAt:   created.Add(time.Duration(id%60) * time.Minute),
		}
	}
	return wfs
}

// DemoTenants returns the tenants of `zuora-sim --demo`: demo-small (12
// workflows, ISO times), demo-large (500, space-separated times) and
// demo-empty (none). Each secret is the client id followed by "-secret".
func DemoTenants() map[string]Tenant {
	base := time.Date(2026, 1, 5, 9, 0, 0, 0, time.UTC)
	return map[string]Tenant{
		"demo-small": {ClientSecret: "demo-small-secret", Workflows: GenerateWorkflows(12, base), TimeFormat: TimeISO},
		"demo-large": {ClientSecret: "demo-large-secret", Workflows: GenerateWorkflows(500, base), TimeFormat: TimeSpace},
		"demo-empty": {ClientSecret: "demo-empty-secret", TimeFormat: TimeMixed},
	}
}
