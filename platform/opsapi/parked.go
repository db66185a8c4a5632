package opsapi

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/eventline/eventline/eventstore"
	"github.com/eventline/eventline/platform/reactor"
	"github.com/eventline/eventline/projections"
)

// Kinds of parked work.
const (
	KindProjection = "projection"
	KindReactor    = "reactor"
)

// ErrUnknownParked reports a projection or reactor that is not registered.
var ErrUnknownParked = errors.New("unknown projection or reactor")

// ParkedItem is one parked event (or item of an event) of a projection,
// or one parked message of a reactor.
type ParkedItem struct {
	Seq       uint64    `json:"seq"`
	Item      string    `json:"item,omitempty"`
	Stream    string    `json:"stream,omitempty"`
	Subject   string    `json:"subject"`
	EventType string    `json:"event_type"`
	Error     string    `json:"error"`
	ParkedAt  time.Time `json:"parked_at"`
	// Aggregate and HeldBy are a projection's updated in place: HeldBy is
	// the event this one waits behind (0: the cause).
	Aggregate string `json:"aggregate,omitempty"`
	HeldBy    uint64 `json:"held_by,omitempty"`
	// Attempts is how often a reactor tried the message.
	Attempts int `json:"attempts,omitempty"`
}

// ParkedGroup is what one projection or reactor parked: how many, and the
// oldest of them.
type ParkedGroup struct {
	Kind  string       `json:"kind"`
	Name  string       `json:"name"`
	Total int64        `json:"total"`
	Items []ParkedItem `json:"items"`
}

// RetryOutcome is what a retry (after a skip, when one was asked) did.
type RetryOutcome struct {
	Kind string `json:"kind"`
	Name string `json:"name"`
	// Skipped is the sequence skipped (0: none).
	Skipped     uint64 `json:"skipped,omitempty"`
	Retried     int    `json:"retried"`
	Done        int    `json:"done"`
	StillParked int    `json:"still_parked"`
}

// Parked lists and acts on what projections and reactors parked, as
// `eventline projections parked|retry` and `eventline reactors
// parked|retry` do: a retry applies (or handles) again, reading each event
// from the stream; a skip drops one with who and why, recorded.
type Parked struct {
	store    *eventstore.Store
	pool     *pgxpool.Pool
	projs    *projections.Registry
	reactors *reactor.Registry
}

// NewParked returns the parked work of projs and of reactors (the same
// handlers the CLI runs), over store and pool (a pool that may write).
func NewParked(store *eventstore.Store, pool *pgxpool.Pool, projs *projections.Registry, reactors *reactor.Registry) *Parked {
	return &Parked{store: store, pool: pool, projs: projs, reactors: reactors}
}

// List returns every projection and reactor with parked work, each with
// its total and its oldest limit items.
func (p *Parked) List(ctx context.Context, limit int) ([]ParkedGroup, error) {
	var out []ParkedGroup
	byName := map[string]*ParkedGroup{}
	group := func(kind, name string, total int64) *ParkedGroup {
		g := byName[kind+"\x00"+name]
		if g == nil {
			out = append(out, ParkedGroup{Kind: kind, Name: name, Total: total, Items: []ParkedItem{}})
			g = &out[len(out)-1]
			byName[kind+"\x00"+name] = g
		}
		return g
	}
	rows, err := p.pool.Query(ctx, `SELECT projection, n, seq, item, subject, event_type, error, parked_at, aggregate, held_by
		FROM (SELECT *, row_number() OVER w AS rn, count(*) OVER (PARTITION BY projection) AS n
			FROM projection_parked WINDOW w AS (PARTITION BY projection ORDER BY seq, item)) x
		WHERE rn <= $1 ORDER BY projection, seq, item`, limit)
	if err != nil {
		return nil, fmt.Errorf("list parked events: %w", err)
	}
	var it ParkedItem
	var name string
	var n, seq, held int64
	if _, err := pgx.ForEachRow(rows, []any{&name, &n, &seq, &it.Item, &it.Subject, &it.EventType, &it.Error, &it.ParkedAt,
		&it.Aggregate, &held}, func() error {
		it.Seq, it.HeldBy = uint64(seq), uint64(held)
		g := group(KindProjection, name, n)
		g.Items = append(g.Items, it)
		return nil
	}); err != nil {
		return nil, fmt.Errorf("list parked events: %w", err)
	}
	rows, err = p.pool.Query(ctx, `SELECT reactor, n, stream, seq, subject, event_type, error, parked_at, attempts
		FROM (SELECT *, row_number() OVER w AS rn, count(*) OVER (PARTITION BY reactor) AS n
			FROM reactor_parked WINDOW w AS (PARTITION BY reactor ORDER BY stream, seq)) x
		WHERE rn <= $1 ORDER BY reactor, stream, seq`, limit)
	if err != nil {
		return nil, fmt.Errorf("list parked messages: %w", err)
	}
	it = ParkedItem{}
	if _, err := pgx.ForEachRow(rows, []any{&name, &n, &it.Stream, &seq, &it.Subject, &it.EventType, &it.Error, &it.ParkedAt,
		&it.Attempts}, func() error {
		it.Seq = uint64(seq)
		g := group(KindReactor, name, n)
		g.Items = append(g.Items, it)
		return nil
	}); err != nil {
		return nil, fmt.Errorf("list parked messages: %w", err)
	}
	for i := range out {
		for j := range out[i].Items {
			out[i].Items[j].ParkedAt = out[i].Items[j].ParkedAt.UTC()
		}
	}
	return out, nil
}

// Retry retries what projection or reactor name (of kind) parked, after
// dropping the event (or log entry item) at skip when skip > 0, recording
// by and reason.
func (p *Parked) Retry(ctx context.Context, kind, name string, skip uint64, item, by, reason string) (RetryOutcome, error) {
	out := RetryOutcome{Kind: kind, Name: name, Skipped: skip}
	switch kind {
	case KindProjection:
		spec, ok := p.projs.Lookup(name)
		if !ok {
			return out, fmt.Errorf("%w: projection %q", ErrUnknownParked, name)
		}
		r := projections.NewRetrier(p.store, p.pool, spec)
		if skip > 0 {
			if _, err := r.Skip(ctx, skip, item, by, reason); err != nil {
				return out, err
			}
		}
		res, err := r.Retry(ctx)
		if err != nil {
			return out, err
		}
		out.Retried, out.Done, out.StillParked = res.Retried, res.Applied, len(res.StillParked)
	case KindReactor:
		r, err := p.reactors.Get(name)
		if err != nil {
			return out, fmt.Errorf("%w: reactor %q", ErrUnknownParked, name)
		}
		rt := reactor.NewRetrier(p.store, p.pool, r)
		if skip > 0 {
			if _, err := rt.Skip(ctx, skip, by, reason); err != nil {
				return out, err
			}
			return out, nil // as the CLI: a skip does not retry the others
		}
		res, err := rt.Retry(ctx)
		if err != nil {
			return out, err
		}
		out.Retried, out.Done, out.StillParked = res.Retried, res.Handled, len(res.StillParked)
	default:
		return out, fmt.Errorf("%w: kind %q", ErrUnknownParked, kind)
	}
	return out, nil
}

// Counts returns how many items the projections and the reactors hold
// parked, all told.
func (p *Parked) Counts(ctx context.Context) (projectionItems, reactorMessages int64, err error) {
	err = p.pool.QueryRow(ctx, `SELECT (SELECT count(*) FROM projection_parked), (SELECT count(*) FROM reactor_parked)`).
		Scan(&projectionItems, &reactorMessages)
	if err != nil {
		return 0, 0, fmt.Errorf("count parked: %w", err)
	}
	return projectionItems, reactorMessages, nil
}
