package orders

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	json "github.com/go-json-experiment/json/v1"

	"github.com/nats-io/nats.go"

	order "github.com/eventline/eventline/domain/orders"
	"github.com/eventline/eventline/eventstore"
	"github.com/eventline/eventline/eventstore/aggregate"
)

// productRoutes sends a product's commands (reserve, release, commit) to
// the process that owns the product's partition (the saga partitions,
// keyed by product id), which runs them on its command loop: the writes
// to a hot product then come from one process, whose group commit
// (aggregate.Definition.Pack) stores those that queue together in one
// append, instead of two processes conflicting on its expected sequence.
// It is a request over core NATS on eventline.products.<partition>, served
// by a queue subscription the owner holds while it owns the partition.
// When nobody answers (a takeover under way) the caller runs the command
// itself: the product's expected sequence keeps that correct, and the
// command's key makes a repeat change nothing.
type productRoutes struct {
	nc    *nats.Conn
	parts *Participants
	owns  func(key string) bool
	of    func(key string) int
	log   func(msg string, args ...any)

	mu   sync.Mutex
	subs map[int]*nats.Subscription
	busy chan struct{}
}

// productCallTimeout bounds a call to a product's owner.
const productCallTimeout = 10 * time.Second

// maxProductCalls bounds the calls an owner serves at once.
const maxProductCalls = 512

// productCall is a product command on its way to the product's owner.
type productCall struct {
	Product string         `json:"product"`
	Reserve *order.Reserve `json:"reserve,omitempty"`
	Release *order.Release `json:"release,omitempty"`
	Commit  *order.Commit  `json:"commit,omitempty"`
	Meta    aggregate.Meta `json:"meta"`
}

// productAnswer is the owner's answer to a productCall.
type productAnswer struct {
	Outcome     order.Outcome `json:"outcome"`
	Error       string        `json:"error,omitempty"`
	Unavailable bool          `json:"unavailable,omitempty"`
}

func productSubject(p int) string { return "eventline.products." + strconv.Itoa(p) }

// handleProduct runs cmd on product id: at the owner of its partition when
// another process owns it, else here.
func (p *Participants) handleProduct(ctx context.Context, id string, cmd any, meta aggregate.Meta) (order.Outcome, error) {
	if r := p.routes; r != nil && !r.owns(id) {
		if o, err, ok := r.call(ctx, id, cmd, meta); ok {
			return o, err
		}
	}
	return handle(ctx, p.Products, id, cmd, meta)
}

// call sends cmd on product id to its owner; ok is false when no owner
// answered (the caller runs it itself).
func (r *productRoutes) call(ctx context.Context, id string, cmd any, meta aggregate.Meta) (order.Outcome, error, bool) {
	c := productCall{Product: id, Meta: meta}
	switch v := cmd.(type) {
	case order.Reserve:
		c.Reserve = &v
	case order.Release:
		c.Release = &v
	case order.Commit:
		c.Commit = &v
	default:
		return order.Outcome{}, nil, false
	}
	data, err := json.Marshal(c)
	if err != nil {
		return order.Outcome{}, nil, false
	}
	cctx, cancel := context.WithTimeout(ctx, productCallTimeout)
	defer cancel()
	msg, err := r.nc.RequestWithContext(cctx, productSubject(r.of(id)), data)
	if err != nil {
		if ctx.Err() != nil {
			return order.Outcome{}, ctx.Err(), true
		}
		return order.Outcome{}, nil, false // no owner answers: run it here
	}
	var a productAnswer
	if err := json.Unmarshal(msg.Data, &a); err != nil {
		return order.Outcome{}, nil, false
	}
	switch {
	case a.Unavailable:
		return order.Outcome{}, fmt.Errorf("product %s at its owner: %s: %w", id, a.Error, eventstore.ErrUnavailable), true
	case a.Error != "":
		return order.Outcome{}, fmt.Errorf("product %s at its owner: %s", id, a.Error), true
	}
	return a.Outcome, nil, true
}

// serve starts answering the product calls of partitions parts, owned here.
func (r *productRoutes) serve(parts []int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, p := range parts {
		if r.subs[p] != nil {
			continue
		}
		sub, err := r.nc.QueueSubscribe(productSubject(p), "owner", r.answer)
		if err != nil {
			r.log("serving a partition's products failed; their callers run commands themselves", "partition", p, "err", err)
			continue
		}
		r.subs[p] = sub
	}
}

// stop stops answering the product calls of partitions parts.
func (r *productRoutes) stop(parts []int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, p := range parts {
		if sub := r.subs[p]; sub != nil {
			_ = sub.Unsubscribe()
			delete(r.subs, p)
		}
	}
}

// answer runs a call on its own goroutine (bounded), so that calls on one
// product queue on its command loop and are stored together.
func (r *productRoutes) answer(msg *nats.Msg) {
	r.busy <- struct{}{}
	go func() {
		defer func() { <-r.busy }()
		var c productCall
		var a productAnswer
		if err := json.Unmarshal(msg.Data, &c); err != nil {
			a.Error = "bad product call: " + err.Error()
		} else {
			ctx, cancel := context.WithTimeout(context.Background(), productCallTimeout)
			var cmd any
			switch {
			case c.Reserve != nil:
				cmd = *c.Reserve
			case c.Release != nil:
				cmd = *c.Release
			case c.Commit != nil:
				cmd = *c.Commit
			}
			var err error
			if cmd == nil {
				err = errors.New("bad product call: no command")
			} else {
				a.Outcome, err = handle(ctx, r.parts.Products, c.Product, cmd, c.Meta)
			}
			cancel()
			if err != nil {
				a.Error, a.Unavailable = err.Error(), errors.Is(err, eventstore.ErrUnavailable)
			}
		}
		data, _ := json.Marshal(a)
		_ = msg.Respond(data)
	}()
}
