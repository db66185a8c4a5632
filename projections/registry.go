package projections

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

// Table describes one PostgreSQL table of a read model, as the operator
// tools need it: to build a shadow copy, compare it with the live one and
// swap them.
type Table struct {
	// Name is the live table's name.
	Name string
	// Key is the column list that identifies a row (usually the primary
	// key: "id", or "a, b"); a rebuild that finds a difference counts the
	// rows that differ by it.
	Key string
	// Ignore lists the columns the projection does not own: written by the
	// database when the row is (a `DEFAULT now()` timestamp), so a shadow
	// built later differs there by design. A rebuild compares a hash of
	// every other column of every row.
	Ignore []string
	// Seq, when set, is the column holding the stream sequence that wrote
	// the row. It lets a rebuild compare a shadow that is ahead of the live
	// model; read models without it are rebuilt up to the live checkpoint.
	Seq string
}

// Spec describes a projection to the operator tools: where it reads, which
// tables it owns and how to build one that writes into other tables.
type Spec struct {
	// Name is the projection's name (its checkpoint and "proj_<name>" consumer).
	Name string
	// Stream is the stream it reads.
	Stream string
	// Subjects filters the stream (empty: every subject).
	Subjects []string
	// Tables are the tables it writes, all rebuilt and swapped together.
	Tables []Table
	// New returns the projection writing into the tables named by tables,
	// which maps each live table name to the name to write into.
	New func(tables map[string]string) Projection
	// Retained, when set, reads what a read model with retention still
	// holds (the logs): its oldest row's time (nil when empty) and how
	// many rows retention has dropped. The operator tools show it.
	Retained func(ctx context.Context, pool *pgxpool.Pool) (oldest *time.Time, expired int64, err error)
}

// Kind returns the kind the spec's projection declares (KindOf).
func (s Spec) Kind() Kind { return KindOf(s.Live()) }

// Live returns the projection writing into the live tables.
func (s Spec) Live() Projection {
	m := make(map[string]string, len(s.Tables))
	for _, t := range s.Tables {
		m[t.Name] = t.Name
	}
	return s.New(m)
}

// Registry is the list of projections the operator tools know. Build it in
// the composition root with the projections the binary runs.
type Registry struct {
	specs []Spec
}

// NewRegistry returns a registry of specs. Duplicate or incomplete specs
// are programming errors and panic.
func NewRegistry(specs ...Spec) *Registry {
	r := &Registry{}
	for _, s := range specs {
		if s.Name == "" || s.Stream == "" || len(s.Tables) == 0 || s.New == nil {
			panic(fmt.Sprintf("projections: incomplete spec %q", s.Name))
		}
		if _, ok := r.Lookup(s.Name); ok {
			panic(fmt.Sprintf("projections: spec %q registered twice", s.Name))
		}
		r.specs = append(r.specs, s)
	}
	return r
}

// Specs returns the registered specs in registration order.
func (r *Registry) Specs() []Spec { return slices.Clone(r.specs) }

// Names returns the registered projection names.
func (r *Registry) Names() []string {
	out := make([]string, len(r.specs))
	for i, s := range r.specs {
		out[i] = s.Name
	}
	return out
}

// Lookup finds the spec named name.
func (r *Registry) Lookup(name string) (Spec, bool) {
	for _, s := range r.specs {
		if s.Name == name {
			return s, true
		}
	}
	return Spec{}, false
}

// Get is Lookup with an error naming the known projections.
func (r *Registry) Get(name string) (Spec, error) {
	if s, ok := r.Lookup(name); ok {
		return s, nil
	}
	return Spec{}, fmt.Errorf("unknown projection %q (known: %s)", name, strings.Join(r.Names(), ", "))
}

// ForConsumer finds the spec whose durable consumer on stream is named consumer.
func (r *Registry) ForConsumer(stream, consumer string) (Spec, bool) {
	for _, s := range r.specs {
		if s.Stream == stream && ConsumerName(s.Name) == consumer {
			return s, true
		}
	}
	return Spec{}, false
}
