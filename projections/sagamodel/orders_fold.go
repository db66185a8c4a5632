package sagamodel

import (
	"time"

	"github.com/eventline/eventline/domain/orders"
)

// userRow is a users row.
type userRow struct {
	id, name, email string
	createdAt       time.Time
	seq             uint64
}

// productRow is a products row: the product as its fold shows it (without
// its reservations, which no row holds and no column needs).
type productRow struct {
	p   orders.Product
	seq uint64
}

// orderRow is an orders row.
type orderRow struct {
	o   orders.Order
	seq uint64
}

// paymentRow is a payments row: what one idempotency key did to an
// order's payments.
type paymentRow struct {
	orderID, key string
	status       orders.PaymentStatus
	amountCents  int64
	token        string
	attempt      int
	reason       string
	chargedAt    time.Time
	updatedAt    time.Time
	seq          uint64
}

// orderWrites are the rows of a batch to write.
type orderWrites struct {
	users    []userRow
	products []productRow
	orders   []orderRow
	payments []paymentRow
}

// foldUser adds g's user to w unless it has a row: a user is only created.
func foldUser(w *orderWrites, g *group, applied bool) {
	if applied {
		return
	}
	for _, ev := range g.events {
		if e, ok := ev.data.(*orders.UserCreated); ok {
			w.users = append(w.users, userRow{id: g.id, name: e.Name, email: e.Email, createdAt: orAt(e.CreatedAt, ev.at),
				seq: ev.seq})
			return
		}
	}
}

// foldProduct folds g's events after the row's seq with Product.Evolve and
// adds the row to w.
func foldProduct(w *orderWrites, g *group, row *productRow) {
	var r productRow
	if row != nil {
		r = *row
	}
	applied, last := r.seq, uint64(0)
	for _, ev := range g.events {
		if ev.seq > applied {
			r.p, last = r.p.Evolve(ev.typ, ev.data), ev.seq
		}
	}
	if last == 0 || !r.p.Exists {
		return
	}
	r.p.ID, r.seq = g.id, last
	w.products = append(w.products, r)
}

// foldOrder folds g's events after the row's seq with Order.Evolve and adds
// the row to w. A cancellation of an order never created (a tombstone)
// writes no row.
func foldOrder(w *orderWrites, g *group, row *orderRow) {
	var r orderRow
	if row != nil {
		r = *row
	}
	applied, last := r.seq, uint64(0)
	for _, ev := range g.events {
		if ev.seq > applied {
			r.o, last = r.o.Evolve(ev.typ, ev.data), ev.seq
		}
	}
	if last == 0 || !r.o.Exists {
		return
	}
	r.o.ID, r.seq = g.id, last
	w.orders = append(w.orders, r)
}

// foldPayments folds g's events into the rows of their keys, as
// Payments.Evolve folds them into its records, and adds the rows that
// changed to w. Each key's row is guarded by its own seq.
func foldPayments(w *orderWrites, g *group, rows map[string]*paymentRow) {
	changed := map[string]*paymentRow{}
	var order []string
	for _, ev := range g.events {
		key := paymentKey(ev.data)
		if key == "" {
			continue
		}
		r := changed[key]
		if r == nil {
			r = &paymentRow{orderID: g.id, key: key}
			if cur := rows[key]; cur != nil {
				*r = *cur
			}
		}
		if ev.seq <= r.seq {
			continue
		}
		switch e := ev.data.(type) {
		case *orders.Charged:
			*r = paymentRow{orderID: g.id, key: key, status: orders.PaymentCharged, amountCents: e.AmountCents,
				token: e.Token, attempt: e.Attempt, chargedAt: orAt(e.At, ev.at)}
		case *orders.Declined:
			*r = paymentRow{orderID: g.id, key: key, status: orders.PaymentDeclined, amountCents: e.AmountCents,
				token: e.Token, attempt: e.Attempt, reason: e.Reason}
		case *orders.Refunded:
			r.status, r.amountCents = orders.PaymentRefunded, e.AmountCents
		case *orders.Voided:
			*r = paymentRow{orderID: g.id, key: key, status: orders.PaymentVoided}
		}
		r.updatedAt, r.seq = orAt(eventAt(ev.data), ev.at), ev.seq
		if changed[key] == nil {
			changed[key] = r
			order = append(order, key)
		}
	}
	for _, k := range order {
		w.payments = append(w.payments, *changed[k])
	}
}

// paymentKey returns the idempotency key of a payment event, "" for
// another event.
func paymentKey(data any) string {
	switch e := data.(type) {
	case *orders.Charged:
		return e.Key
	case *orders.Declined:
		return e.Key
	case *orders.Refunded:
		return e.Key
	case *orders.Voided:
		return e.Key
	}
	return ""
}

// eventAt returns the time a payment event carries.
func eventAt(data any) time.Time {
	switch e := data.(type) {
	case *orders.Charged:
		return e.At
	case *orders.Declined:
		return e.At
	case *orders.Refunded:
		return e.At
	case *orders.Voided:
		return e.At
	}
	return time.Time{}
}
