package module

import (
	"context"
	"log/slog"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/eventline/eventline/eventstore"
	"github.com/eventline/eventline/platform/dashboard"
	"github.com/eventline/eventline/platform/httpapi"
	"github.com/eventline/eventline/platform/reactor"
	"github.com/eventline/eventline/projections"
)

// Host is what a running serve offers a module's Start: its connections,
// its HTTP server and a way to run workers under serve's lifetime.
type Host struct {
	// Store appends events and reads them back.
	Store *eventstore.Store
	// Reads is a second connection for API reads of the log, so that they
	// never share a connection with appends.
	Reads *eventstore.Store
	// Pool is the PostgreSQL pool of projectors and workers.
	Pool *pgxpool.Pool
	// ReadPool serves HTTP reads: bounded statements, its own connections.
	ReadPool *pgxpool.Pool
	// Server is the HTTP server to mount routes and readiness checks on.
	Server *httpapi.Server
	// Dashboard takes the module's pages (nil without the api role).
	Dashboard *dashboard.Dashboard
	// Idempotency remembers Idempotency-Key answers (nil without the api role).
	Idempotency *httpapi.Idempotency
	// Metrics registers the module's Prometheus collectors.
	Metrics prometheus.Registerer
	// Log is serve's logger; every line carries the process id.
	Log *slog.Logger
	// ProcessID names this process among the others of a deployment
	// (EVENTLINE_PROCESS_ID): fit for NATS consumer names and subject
	// tokens ([A-Za-z0-9_-]{1,64}).
	ProcessID string
	// EmbeddedNATS is true when the JetStream server runs inside this
	// process (its memory is this process's memory).
	EmbeddedNATS bool

	// HasRole reports whether this process runs role (api, projector, saga, sync).
	HasRole func(role string) bool
	// Runners are the projection runners of this process, by projection name.
	Runners map[string]*projections.Runner
	// Go runs fn until serve stops (ctx ends on shutdown); an error stops serve.
	Go func(fn func(ctx context.Context) error)
	// GoDrained is Go for work that HTTP requests wait on: its ctx ends
	// only after the HTTP server has answered its last request.
	GoDrained func(fn func(ctx context.Context) error)

	// reactors collects what the module being started hands serve
	// (AddReactors).
	reactors *[]reactor.Reactor
}

// AddReactors hands serve the module's reactors, built by its Start over
// h's connections together with its routes (one set of parts per
// process): serve runs them on a process with the module's ReactorRole,
// and its ops API retries what they parked with them. A module whose Start
// hands none has its Reactors built over h's connections instead.
func (h *Host) AddReactors(rs ...reactor.Reactor) { *h.reactors = append(*h.reactors, rs...) }

// Runner returns this process's runner of the projection name, or nil.
func (h *Host) Runner(name string) *projections.Runner { return h.Runners[name] }
