package orders_test

import (
	"fmt"
	json "github.com/go-json-experiment/json/v1"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/eventline/eventline/domain/orders"
	"github.com/eventline/eventline/domain/saga"
)

// world holds every participant's aggregates and plays the participant
// runners: it is a reference, in memory and without I/O, for the runners
// the lead wires on the event store.
type world struct {
	t        *testing.T
	users    map[string]orders.User
	products map[string]orders.Product
	orders   map[string]orders.Order
	payments map[string]orders.Payments
	notes    map[string]orders.Notifications
}

func newWorld(t *testing.T, stock map[string]int64) *world {
	w := &world{t: t, users: map[string]orders.User{}, products: map[string]orders.Product{},
		orders: map[string]orders.Order{}, payments: map[string]orders.Payments{}, notes: map[string]orders.Notifications{}}
	for _, u := range []struct{ id, email string }{{"u1", "ada@example.com"}, {"bounce", "bo@bounce.test"}} {
		r := handle(t, orders.User{}, orders.CreateUser{UserID: u.id, Name: u.id, Email: u.email, Now: t0})
		require.NoError(t, r.err)
		w.users[u.id] = r.state
	}
	for id, n := range stock {
		r := handle(t, orders.Product{}, orders.CreateProduct{ProductID: id, Name: id, PriceCents: 250, Stock: n, Now: t0})
		require.NoError(t, r.err)
		w.products[id] = r.state
	}
	return w
}

func stepOutput[T any](t *testing.T, c saga.Command, step string) T {
	t.Helper()
	var v T
	require.NoError(t, json.Unmarshal(c.Payload.Outputs[step], &v), step)
	return v
}

// execute carries out one saga command as its participant's runner would.
func (w *world) execute(c saga.Command, now time.Time) orders.Outcome {
	t := w.t
	in, err := orders.ParseOrderInput(c.Payload.Input)
	require.NoError(t, err)
	product := func(id string, cmd any) orders.Outcome {
		r := handle(t, w.products[id], cmd)
		w.products[id] = r.state
		return r.outcome
	}
	switch c.Type {
	case saga.CommandValidateUser:
		return w.users[in.UserID].Answer(orders.ValidateUser{})
	case saga.CommandReserveInventory:
		// One reservation per product, in product order; on a refusal,
		// release the step's key everywhere (tombstones included).
		var res []orders.ReservationOutput
		for _, it := range in.Quantities() {
			o := product(it.ProductID, orders.Reserve{Key: c.Key, Quantity: it.Quantity, Now: now})
			if !o.OK() {
				for _, it := range in.Quantities() {
					product(it.ProductID, orders.Release{Key: c.Key, Now: now})
				}
				return o
			}
			var r orders.ReservationOutput
			require.NoError(t, json.Unmarshal(o.Output, &r))
			res = append(res, r)
		}
		return orders.Success(orders.NewInventoryOutput(res))
	case saga.CommandReleaseInventory:
		key := saga.Key(c.SagaID, c.Step, false) // the reservation's key
		for _, it := range in.Quantities() {
			if o := product(it.ProductID, orders.Release{Key: key, Now: now}); !o.OK() {
				return o
			}
		}
		return orders.Success(map[string]string{"status": "released"})
	case saga.CommandCreateOrder:
		inv := stepOutput[orders.InventoryOutput](t, c, saga.StepReserveInventory)
		r := handle(t, w.orders[in.OrderID], orders.CreateOrder{Key: c.Key, OrderID: in.OrderID, UserID: in.UserID,
			Items: in.Items, TotalCents: inv.TotalCents, Now: now})
		w.orders[in.OrderID] = r.state
		return r.outcome
	case saga.CommandCancelOrder:
		r := handle(t, w.orders[in.OrderID], orders.CancelOrder{OrderID: in.OrderID, Key: c.Key, Now: now})
		w.orders[in.OrderID] = r.state
		return r.outcome
	case saga.CommandProcessPayment:
		ord := stepOutput[orders.OrderOutput](t, c, saga.StepCreateOrder)
		r := handle(t, w.payments[in.OrderID], orders.Charge{OrderID: in.OrderID, Key: c.Key, AmountCents: ord.TotalCents,
			Token: in.Payment.Token, Attempt: c.Attempt, Now: now})
		w.payments[in.OrderID] = r.state
		return r.outcome
	case saga.CommandSendNotification:
		u := stepOutput[orders.UserOutput](t, c, saga.StepValidateUser)
		r := handle(t, w.notes[in.OrderID], orders.Send{OrderID: in.OrderID, Key: c.Key, Email: u.Email, Now: now})
		w.notes[in.OrderID] = r.state
		return r.outcome
	}
	t.Fatalf("unknown command %s", c.Type)
	return orders.Outcome{}
}

// afterPayment is the reactor that confirms the order and sells its
// reservations once the pivot completed.
func (w *world) afterPayment(s saga.State, now time.Time) {
	in, err := orders.ParseOrderInput(s.Input)
	require.NoError(w.t, err)
	r := handle(w.t, w.orders[in.OrderID], orders.ConfirmOrder{Now: now})
	require.True(w.t, r.outcome.OK(), r.outcome.Error)
	w.orders[in.OrderID] = r.state
	for _, it := range in.Quantities() {
		p := handle(w.t, w.products[it.ProductID], orders.Commit{Key: saga.Key(s.ID, saga.StepReserveInventory, false), Now: now})
		require.True(w.t, p.outcome.OK(), p.outcome.Error)
		w.products[it.ProductID] = p.state
	}
}

// sagaRun is one order saga in flight: its state, the commands sent and
// not answered, its timers and the replies that come late.
type sagaRun struct {
	s       saga.State
	now     time.Time
	pending []saga.Command
	timers  []saga.Timer
	late    []saga.Reply
}

func (w *world) start(id, input string) *sagaRun {
	r := &sagaRun{now: t0}
	p := saga.Policy{Attempts: 3, FirstDelay: time.Second, MaxDelay: 4 * time.Second, AttemptTimeout: 10 * time.Second,
		CompensationTimeout: 30 * time.Second}
	w.decide(r, saga.Start{SagaID: id, Definition: saga.OrderSaga(p), Input: json.RawMessage(input), Now: t0})
	return r
}

func (w *world) decide(r *sagaRun, in any) {
	d, err := saga.Decide(r.s, in)
	require.NoError(w.t, err)
	for _, e := range d.Events {
		r.s = saga.Evolve(r.s, e.Type, e.Data)
		if c, ok := e.Data.(*saga.StepCompleted); ok && c.Step == saga.StepProcessPayment {
			w.afterPayment(r.s, r.now)
		}
	}
	r.pending = append(r.pending, d.Commands...)
	r.timers = append(r.timers, d.Timers...)
}

// step makes saga r take one step: answer the oldest command, or else
// fire its earliest timer (then deliver the late replies that are due,
// stale by then).
func (w *world) step(r *sagaRun) {
	if len(r.pending) > 0 {
		c := r.pending[0]
		r.pending = r.pending[1:]
		o := w.execute(c, r.now)
		if o.Slow {
			r.late = append(r.late, o.Reply(c, c.Deadline.Add(time.Second)))
			return
		}
		w.decide(r, o.Reply(c, r.now))
		return
	}
	require.NotEmpty(w.t, r.timers, "saga %s is %s and waits on nothing", r.s.ID, r.s.Status)
	slices.SortStableFunc(r.timers, func(a, b saga.Timer) int { return a.At.Compare(b.At) })
	tm := r.timers[0]
	r.timers = r.timers[1:]
	r.now = tm.At
	w.decide(r, saga.Fire{Timer: tm, Now: r.now})
	var later []saga.Reply
	for _, rep := range r.late {
		if rep.Now.After(r.now) {
			later = append(later, rep)
			continue
		}
		w.decide(r, rep)
	}
	r.late = later
}

func (w *world) finish(r *sagaRun) saga.State {
	for i := 0; !r.s.Status.Terminal(); i++ {
		require.Less(w.t, i, 1000, "saga %s does not end", r.s.ID)
		w.step(r)
	}
	return r.s
}

func orderInput(order, user, token string, items ...orders.Item) string {
	b, _ := json.Marshal(orders.OrderInput{OrderID: order, UserID: user, Items: items, Payment: orders.Payment{Token: token}})
	return string(b)
}

func attempts(s saga.State, step string) int { return s.Steps[s.StepIndex(step)].Action.Attempts }

func TestOrderSagaWithParticipants(t *testing.T) {
	one := orders.Item{ProductID: "p1", Quantity: 1}
	tests := []struct {
		name      string
		user      string
		token     string
		items     []orders.Item
		status    saga.Status
		order     orders.OrderStatus
		charges   int
		sold      int64
		payTries  int
		noteSent  int
		stepState map[string]saga.StepStatus
	}{
		{"happy", "u1", orders.TokenOK, []orders.Item{one}, saga.StatusCompleted, orders.StatusConfirmed, 1, 1, 1, 1, nil},
		{"declined", "u1", orders.TokenDeclined, []orders.Item{one}, saga.StatusCompensated, orders.StatusCancelled, 0, 0, 1, 0,
			map[string]saga.StepStatus{saga.StepReserveInventory: saga.StepStatusCompensated, saga.StepCreateOrder: saga.StepStatusCompensated,
				saga.StepProcessPayment: saga.StepStatusFailed, saga.StepSendNotification: saga.StepStatusSkipped}},
		{"shortage", "u1", orders.TokenOK, []orders.Item{{ProductID: "p1", Quantity: 41}}, saga.StatusCompensated, "", 0, 0, 0, 0,
			map[string]saga.StepStatus{saga.StepReserveInventory: saga.StepStatusFailed, saga.StepCreateOrder: saga.StepStatusSkipped}},
		{"shortage of one product of two", "u1", orders.TokenOK, []orders.Item{one, {ProductID: "p2", Quantity: 6}},
			saga.StatusCompensated, "", 0, 0, 0, 0, nil},
		{"unknown product", "u1", orders.TokenOK, []orders.Item{{ProductID: "nope", Quantity: 1}}, saga.StatusCompensated, "", 0, 0, 0, 0, nil},
		{"unknown user", "who", orders.TokenOK, []orders.Item{one}, saga.StatusCompensated, "", 0, 0, 0, 0,
			map[string]saga.StepStatus{saga.StepValidateUser: saga.StepStatusFailed, saga.StepReserveInventory: saga.StepStatusSkipped}},
		{"flaky pays on attempt 3", "u1", orders.TokenFlaky, []orders.Item{one}, saga.StatusCompleted, orders.StatusConfirmed, 1, 1, 3, 1, nil},
		{"slow pays once across the timeout", "u1", orders.TokenSlow, []orders.Item{one}, saga.StatusCompleted, orders.StatusConfirmed, 1, 1, 2, 1, nil},
		{"bounce after the pivot", "bounce", orders.TokenOK, []orders.Item{one}, saga.StatusNeedsAttention, orders.StatusConfirmed, 1, 1, 1, 0,
			map[string]saga.StepStatus{saga.StepSendNotification: saga.StepStatusFailed}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := newWorld(t, map[string]int64{"p1": 40, "p2": 5})
			s := w.finish(w.start("s1", orderInput("o1", tt.user, tt.token, tt.items...)))
			require.Equal(t, tt.status, s.Status, s.Reason)
			require.Equal(t, tt.order, w.orders["o1"].Status)
			require.Equal(t, tt.charges, w.payments["o1"].Charges)
			require.Equal(t, tt.payTries, attempts(s, saga.StepProcessPayment))
			require.Equal(t, tt.noteSent, w.notes["o1"].Sent)
			for step, st := range tt.stepState {
				require.Equal(t, st, s.Steps[s.StepIndex(step)].Status, step)
			}
			for id, p := range w.products {
				require.Zero(t, p.Reserved, "%s: nothing stays reserved", id)
			}
			require.Equal(t, int64(40)-tt.sold, w.products["p1"].Stock)
			require.Equal(t, tt.sold, w.products["p1"].Sold)
			require.Equal(t, int64(5), w.products["p2"].Stock)
		})
	}
}

// Sixty orders of one unit against a stock of 40, their steps interleaved
// at random (seeded): exactly 40 complete and 20 compensate, nothing is
// oversold, every completed order is charged once.
func TestSixtyOrdersFortyInStock(t *testing.T) {
	for seed := uint64(1); seed <= 5; seed++ {
		t.Run(fmt.Sprint("seed", seed), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(seed, 42))
			w := newWorld(t, map[string]int64{"p1": 40})
			tokens := []string{orders.TokenOK, orders.TokenFlaky, orders.TokenSlow}
			var runs []*sagaRun
			for i := range 60 {
				runs = append(runs, w.start(fmt.Sprint("s", i),
					orderInput(fmt.Sprint("o", i), "u1", tokens[i%3], orders.Item{ProductID: "p1", Quantity: 1})))
			}
			for n := 0; ; n++ {
				require.Less(t, n, 100000)
				var live []*sagaRun
				for _, r := range runs {
					if !r.s.Status.Terminal() {
						live = append(live, r)
					}
				}
				if len(live) == 0 {
					break
				}
				w.step(live[rng.IntN(len(live))])
				p := w.products["p1"]
				require.LessOrEqual(t, p.Reserved, p.Stock, "never oversold")
			}
			count := map[saga.Status]int{}
			for i, r := range runs {
				count[r.s.Status]++
				o := fmt.Sprint("o", i)
				if r.s.Status == saga.StatusCompleted {
					require.Equal(t, 1, w.payments[o].Charges)
					require.Equal(t, orders.StatusConfirmed, w.orders[o].Status)
				} else {
					require.Zero(t, w.payments[o].Charges)
				}
			}
			require.Equal(t, map[saga.Status]int{saga.StatusCompleted: 40, saga.StatusCompensated: 20}, count)
			p := w.products["p1"]
			require.Equal(t, int64(0), p.Stock)
			require.Equal(t, int64(40), p.Sold)
			require.Zero(t, p.Reserved)
		})
	}
}
