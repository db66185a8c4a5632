package opsdash

import (
	"context"
	"embed"
	"errors"
	"html/template"
	"net/http"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/eventline/eventline/eventstore"
	"github.com/eventline/eventline/platform/dashboard"
	"github.com/eventline/eventline/platform/opsapi"
)

//go:embed templates/*.html
var templateFS embed.FS

// fragmentTimeout bounds the JetStream and PostgreSQL calls of one fragment:
// shorter than the 2 s poll, so that a slow server never piles requests up.
const fragmentTimeout = 1500 * time.Millisecond

// Paths of the page and its fragments.
const (
	PagePath        = "/streams"
	StreamsPath     = "/streams/fragment/streams"
	ConsumersPath   = "/streams/fragment/consumers"
	ProjectionsPath = "/streams/fragment/projections"
	CardPath        = "/streams/fragment/card"
	PartitionsPath  = "/streams/fragment/partitions"
	ParkedPath      = "/streams/fragment/parked"
)

// pages serves /streams and its fragments.
type pages struct {
	d      *dashboard.Dashboard
	snaps  *snapshots
	tmpl   *template.Template
	parked *opsapi.Parked
}

// Mount registers /streams (navigation "Streams"), its fragments and the
// overview's "Consumers" card on d, reading through in.
func Mount(d *dashboard.Dashboard, in *opsapi.Inspector) { MountWithParked(d, in, nil) }

// MountWithParked is Mount with the parked projection and reactor items
// of parked listed on /streams, with Retry and Skip (who and why) as the
// CLI's `projections retry` and `reactors retry`.
func MountWithParked(d *dashboard.Dashboard, in *opsapi.Inspector, parked *opsapi.Parked) {
	p := &pages{d: d, snaps: &snapshots{in: in}, tmpl: d.MustTemplates(templateFS, "templates/*.html"), parked: parked}
	if parked != nil {
		p.mountParked()
	}
	d.Page(dashboard.Page{Pattern: "GET " + PagePath, Nav: "Streams", Order: 40, Handler: p.page})
	d.Handle("GET "+StreamsPath, p.fragment("streams", func(s *snapshot) (any, error) {
		return streamRows(s.streams), s.streamsErr
	}))
	d.Handle("GET "+ConsumersPath, p.fragment("consumers", func(s *snapshot) (any, error) {
		return consumerRows(s.consumers, time.Now()), s.consumersErr
	}))
	d.Handle("GET "+ProjectionsPath, p.fragment("projections", func(s *snapshot) (any, error) {
		return projectionRows(s.projections), s.projectionsErr
	}))
	d.Handle("GET "+PartitionsPath, p.fragment("partitions", func(s *snapshot) (any, error) {
		return partitionRows(s.partitions, time.Now()), s.partitionsErr
	}))
	d.Handle("GET "+CardPath, p.card)
	d.Card(dashboard.Card{Title: "Consumers", Fragment: CardPath, Link: PagePath, Order: 40})
	d.Alert(dashboard.Alert{Name: "projections and reactors", Order: 40, Check: p.alerts})
}

func (p *pages) page(w http.ResponseWriter, r *http.Request) {
	parked := ""
	if p.parked != nil {
		parked = ParkedPath
	}
	p.d.Render(w, r, p.tmpl, "Streams", struct{ Streams, Consumers, Projections, Partitions, Parked string }{
		StreamsPath, ConsumersPath, ProjectionsPath, PartitionsPath, parked})
}

// fragment returns the handler of fragment name: the rows rows draws from
// the shared reading, or the reason that part of it failed.
func (p *pages) fragment(name string, rows func(s *snapshot) (any, error)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		snap, ok := p.snapshot(w, r)
		if !ok {
			return
		}
		v, err := rows(snap)
		if err != nil {
			p.failed(w, r, name, err)
			return
		}
		p.d.Fragment(w, r, p.tmpl, name, v)
	}
}

// card renders the overview's card: the consumers and projections
// furthest behind.
func (p *pages) card(w http.ResponseWriter, r *http.Request) {
	snap, ok := p.snapshot(w, r)
	if !ok {
		return
	}
	switch {
	case snap.consumersErr != nil:
		p.failed(w, r, "consumers", snap.consumersErr)
	case snap.projectionsErr != nil:
		p.failed(w, r, "projections", snap.projectionsErr)
	default:
		p.d.Fragment(w, r, p.tmpl, "card", topLag(snap.consumers, snap.projections, cardRows))
	}
}

// snapshot returns the shared reading, or writes the failure and false
// when even waiting for it took too long (the request went away).
func (p *pages) snapshot(w http.ResponseWriter, r *http.Request) (*snapshot, bool) {
	ctx, cancel := context.WithTimeout(r.Context(), fragmentTimeout+500*time.Millisecond)
	defer cancel()
	snap, err := p.snaps.get(ctx)
	if err != nil {
		p.failed(w, r, "streams, consumers and projections", err)
		return nil, false
	}
	return snap, true
}

// failed renders what went wrong in place of the fragment. It answers 200,
// so that htmx swaps the message in (it keeps the old content on an error
// status) and the next poll replaces it once the server answers again.
func (p *pages) failed(w http.ResponseWriter, r *http.Request, what string, err error) {
	msg := "Could not read the " + what + ": " + err.Error()
	if unreachable(err) {
		msg = "NATS JetStream (or PostgreSQL) did not answer within " + dashboard.FormatMillis(fragmentTimeout) +
			" while reading the " + what + ": the server is slow or down (" + err.Error() + "). Retrying every 2 s."
	}
	p.d.Fragment(w, r, p.tmpl, "failed", msg)
}

// unreachable reports an error that means the server did not answer in
// time or the connection to it is down (rather than a bug or a refusal).
func unreachable(err error) bool {
	for _, e := range []error{context.DeadlineExceeded, eventstore.ErrUnavailable, nats.ErrReconnectBufExceeded,
		nats.ErrConnectionReconnecting, nats.ErrConnectionClosed, nats.ErrDisconnected, nats.ErrNoServers, nats.ErrTimeout} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}
