package orders

import (
	"context"
	"errors"
	"fmt"
	"time"

	json "github.com/go-json-experiment/json/v1"

	"github.com/nats-io/nats.go"
	"golang.org/x/sync/errgroup"

	order "github.com/eventline/eventline/domain/orders"
	"github.com/eventline/eventline/domain/saga"
	"github.com/eventline/eventline/eventstore"
	"github.com/eventline/eventline/eventstore/aggregate"
)

// ErrUnknownCommand reports a saga command no participant handles.
var ErrUnknownCommand = errors.New("orders: unknown saga command")

// participant is what every participant's state offers (domain/orders).
type participant[S any] interface {
	Decide(cmd any) ([]order.Event, error)
	Answer(cmd any) order.Outcome
	Evolve(eventType string, data any) S
}

// definition is participant S as the command loop runs it, on subject(id)
// of stream ORDERS.
func definition[S participant[S]](subject func(string) string) aggregate.Definition[S, any] {
	return aggregate.Definition[S, any]{
		Stream:  order.Stream,
		Subject: subject,
		Initial: func() S { var s S; return s },
		Evolve:  func(s S, ev aggregate.Recorded) S { return s.Evolve(ev.Type, ev.Data) },
		Decide: func(s S, cmd any) ([]aggregate.Event, error) {
			evs, err := s.Decide(cmd)
			if err != nil {
				return nil, err
			}
			out := make([]aggregate.Event, len(evs))
			for i, e := range evs {
				out[i] = aggregate.Event{Type: e.Type, Data: e.Data}
			}
			return out, nil
		},
	}
}

// packProducts is aggregate.Definition.Pack for products
// (order.PackProducts).
func packProducts(events []aggregate.Event) (aggregate.Event, error) {
	in := make([]order.Event, len(events))
	for i, e := range events {
		in[i] = order.Event{Type: e.Type, Data: e.Data}
	}
	packed, err := order.PackProducts(in)
	return aggregate.Event{Type: packed.Type, Data: packed.Data}, err
}

// Participants are the command loops of the order saga's participants:
// users, products (inventory), orders, payments and notifications.
type Participants struct {
	Users         *aggregate.Handler[order.User, any]
	Products      *aggregate.Handler[order.Product, any]
	Orders        *aggregate.Handler[order.Order, any]
	Payments      *aggregate.Handler[order.Payments, any]
	Notifications *aggregate.Handler[order.Notifications, any]

	// routes sends product commands to their partition's owner (nil:
	// every product is written here).
	routes *productRoutes

	// beforeConfirm, when set (tests only), runs as Confirm starts.
	beforeConfirm func(sagaID string)
}

// RouteProducts makes p send the commands on a product whose partition
// another process owns to that owner over nc (product_route.go); owns and
// of are the saga partitions' (partitions.Owner). It returns the hooks to
// call as partitions are taken over and given up.
func (p *Participants) RouteProducts(nc *nats.Conn, owns func(key string) bool, of func(key string) int,
	log func(msg string, args ...any)) (gained, lost func(parts []int)) {
	r := &productRoutes{nc: nc, parts: p, owns: owns, of: of, log: log, subs: map[int]*nats.Subscription{},
		busy: make(chan struct{}, maxProductCalls)}
	p.routes = r
	return r.serve, r.stop
}

// NewParticipants returns the participants' command loops over store,
// decoding through reg (which must hold orders.Events()). Products, whose
// history grows with every order they take while what they remember stays
// bounded (orders.CommandTTL), keep stored snapshots in snaps (none
// when nil): a product not cached here loads from its latest one.
func NewParticipants(store aggregate.Store, reg *eventstore.Registry, snaps aggregate.SnapshotStore) (*Participants, error) {
	var p Participants
	var errs [5]error
	products := definition[order.Product](order.ProductSubject)
	products.Snapshot = &aggregate.Snapshot[order.Product]{Version: order.ProductSnapshotVersion,
		Write: order.WriteProductSnapshot, Read: order.ReadProductSnapshot}
	// A product is the one participant many sagas write at once (every
	// order of it reserves and commits): commands that queue behind an
	// append to it are stored together in the next one.
	products.Pack = packProducts
	p.Users, errs[0] = aggregate.New(store, reg, definition[order.User](order.UserSubject), aggregate.Options{})
	p.Products, errs[1] = aggregate.New(store, reg, products, aggregate.Options{Snapshots: snaps})
	p.Orders, errs[2] = aggregate.New(store, reg, definition[order.Order](order.OrderSubject), aggregate.Options{CacheSize: perSagaCache})
	p.Payments, errs[3] = aggregate.New(store, reg, definition[order.Payments](order.PaymentSubject), aggregate.Options{CacheSize: perSagaCache})
	p.Notifications, errs[4] = aggregate.New(store, reg, definition[order.Notifications](order.NotificationSubject), aggregate.Options{CacheSize: perSagaCache})
	if err := errors.Join(errs[:]...); err != nil {
		return nil, fmt.Errorf("participants: %w", err)
	}
	return &p, nil
}

// handle runs cmd on aggregate id through h and answers from the state
// after it.
func handle[S participant[S]](ctx context.Context, h *aggregate.Handler[S, any], id string, cmd any, meta aggregate.Meta) (order.Outcome, error) {
	res, err := h.Handle(ctx, id, cmd, meta)
	if err != nil {
		return order.Outcome{}, err
	}
	return res.State.Answer(cmd), nil
}

// Execute carries out saga command c at now as its participant does and
// returns the participant's answer. The error is not the command's
// failure (that is in the Outcome) but the event store's, or a command no
// participant handles (ErrUnknownCommand).
func (p *Participants) Execute(ctx context.Context, c saga.Command, now time.Time) (order.Outcome, error) {
	in, err := order.ParseOrderInput(c.Payload.Input)
	if err != nil {
		return order.Fail(saga.Permanent, err.Error()), nil
	}
	meta := aggregate.Meta{CorrelationID: c.SagaID, CausationID: c.Key}
	switch c.Type {
	case saga.CommandValidateUser:
		u, _, err := p.Users.Load(ctx, in.UserID)
		if err != nil {
			return order.Outcome{}, err
		}
		return u.Answer(order.ValidateUser{}), nil
	case saga.CommandReserveInventory:
		return p.reserve(ctx, c, in, now, meta)
	case saga.CommandReleaseInventory:
		key := saga.Key(c.SagaID, c.Step, false) // the reservation's key
		for _, it := range in.Quantities() {
			o, err := p.handleProduct(ctx, it.ProductID, order.Release{Key: key, Now: now}, meta)
			if err != nil || !o.OK() {
				return o, err
			}
		}
		return order.Success(map[string]string{"status": "released"}), nil
	case saga.CommandCreateOrder:
		var inv order.InventoryOutput
		if err := output(c, saga.StepReserveInventory, &inv); err != nil {
			return order.Fail(saga.Permanent, err.Error()), nil
		}
		return handle(ctx, p.Orders, in.OrderID, order.CreateOrder{Key: c.Key, OrderID: in.OrderID, UserID: in.UserID,
			Items: in.Items, TotalCents: inv.TotalCents, Now: now}, meta)
	case saga.CommandCancelOrder:
		return handle(ctx, p.Orders, in.OrderID, order.CancelOrder{OrderID: in.OrderID, Key: c.Key, Now: now}, meta)
	case saga.CommandProcessPayment:
		var ord order.OrderOutput
		if err := output(c, saga.StepCreateOrder, &ord); err != nil {
			return order.Fail(saga.Permanent, err.Error()), nil
		}
		return handle(ctx, p.Payments, in.OrderID, order.Charge{OrderID: in.OrderID, Key: c.Key, AmountCents: ord.TotalCents,
			Token: in.Payment.Token, Attempt: c.Attempt, Now: now}, meta)
	case saga.CommandSendNotification:
		var u order.UserOutput
		if err := output(c, saga.StepValidateUser, &u); err != nil {
			return order.Fail(saga.Permanent, err.Error()), nil
		}
		return handle(ctx, p.Notifications, in.OrderID, order.Send{OrderID: in.OrderID, Key: c.Key, Email: u.Email, Now: now}, meta)
	}
	return order.Outcome{}, fmt.Errorf("%w %q", ErrUnknownCommand, c.Type)
}

// reserve holds every product's units for the step's key, in product
// order; on a refusal it releases the key everywhere (tombstones
// included), so that nothing stays held and a late retry is refused.
func (p *Participants) reserve(ctx context.Context, c saga.Command, in order.OrderInput, now time.Time, meta aggregate.Meta) (order.Outcome, error) {
	var res []order.ReservationOutput
	for _, it := range in.Quantities() {
		o, err := p.handleProduct(ctx, it.ProductID, order.Reserve{Key: c.Key, Quantity: it.Quantity, Now: now,
			IssuedAt: c.IssuedAt}, meta)
		if err != nil {
			return o, err
		}
		if !o.OK() {
			for _, it := range in.Quantities() {
				if _, err := p.handleProduct(ctx, it.ProductID, order.Release{Key: c.Key, Now: now}, meta); err != nil {
					return order.Outcome{}, err
				}
			}
			return o, nil
		}
		var r order.ReservationOutput
		if err := json.Unmarshal(o.Output, &r); err != nil {
			return order.Outcome{}, fmt.Errorf("reservation output: %w", err)
		}
		res = append(res, r)
	}
	return order.Success(order.NewInventoryOutput(res)), nil
}

// Confirm confirms the order of saga sagaID, whose input is input, once
// its payment went through, and sells its reservations: each on its own
// aggregate, all at once. Running it again changes nothing.
func (p *Participants) Confirm(ctx context.Context, sagaID string, input json.RawMessage, now time.Time) error {
	if p.beforeConfirm != nil {
		p.beforeConfirm(sagaID)
	}
	in, err := order.ParseOrderInput(input)
	if err != nil {
		return err
	}
	meta := aggregate.Meta{CorrelationID: sagaID, CausationID: sagaID + ":confirm"}
	var g errgroup.Group
	g.Go(func() error {
		if _, err := p.Orders.Handle(ctx, in.OrderID, order.ConfirmOrder{Now: now}, meta); err != nil {
			return fmt.Errorf("confirm order %s: %w", in.OrderID, err)
		}
		return nil
	})
	key := saga.Key(sagaID, saga.StepReserveInventory, false)
	for _, it := range in.Quantities() {
		g.Go(func() error {
			if _, err := p.handleProduct(ctx, it.ProductID, order.Commit{Key: key, Now: now}, meta); err != nil {
				return fmt.Errorf("commit %s on product %s: %w", key, it.ProductID, err)
			}
			return nil
		})
	}
	return g.Wait()
}

// Forget drops from the caches the aggregates of the order of a saga that
// ended, whose input is input: its order, payments and notifications are
// read now and then afterwards, from the store.
func (p *Participants) Forget(input json.RawMessage) {
	in, err := order.ParseOrderInput(input)
	if err != nil {
		return
	}
	p.Orders.Forget(in.OrderID)
	p.Payments.Forget(in.OrderID)
	p.Notifications.Forget(in.OrderID)
}

// output decodes the output of step, which c carries, into v.
func output(c saga.Command, step string, v any) error {
	raw, ok := c.Payload.Outputs[step]
	if !ok {
		return fmt.Errorf("no output of step %s", step)
	}
	if err := json.Unmarshal(raw, v); err != nil {
		return fmt.Errorf("output of step %s: %w", step, err)
	}
	return nil
}
