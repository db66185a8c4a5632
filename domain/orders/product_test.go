package orders_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/eventline/eventline/domain/orders"
	"github.com/eventline/eventline/domain/saga"
)

func newProduct(t testing.TB, stock int64) orders.Product {
	t.Helper()
	s, res := run[orders.Product](t, orders.CreateProduct{ProductID: "p1", Name: "Widget", PriceCents: 250, Stock: stock, Now: t0})
	require.NoError(t, res[0].err)
	return s
}

func TestCreateProduct(t *testing.T) {
	tests := []struct {
		name string
		cmd  orders.CreateProduct
		ok   bool
	}{
		{"valid", orders.CreateProduct{ProductID: "p1", Name: "Widget", PriceCents: 250, Stock: 40}, true},
		{"free and none in stock", orders.CreateProduct{ProductID: "p1", Name: "Widget"}, true},
		{"no id", orders.CreateProduct{Name: "Widget"}, false},
		{"no name", orders.CreateProduct{ProductID: "p1", Name: " "}, false},
		{"long name", orders.CreateProduct{ProductID: "p1", Name: strings.Repeat("x", 201)}, false},
		{"negative price", orders.CreateProduct{ProductID: "p1", Name: "Widget", PriceCents: -1}, false},
		{"negative stock", orders.CreateProduct{ProductID: "p1", Name: "Widget", Stock: -1}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, res := run[orders.Product](t, tt.cmd)
			if !tt.ok {
				require.ErrorIs(t, res[0].err, orders.ErrInvalid)
				return
			}
			require.NoError(t, res[0].err)
			require.Equal(t, tt.cmd.Stock, s.Stock)
			require.Equal(t, tt.cmd.PriceCents, s.PriceCents)
			require.Zero(t, s.Reserved)
		})
	}
	p := newProduct(t, 1)
	require.ErrorIs(t, handle(t, p, orders.CreateProduct{ProductID: "p1", Name: "Again"}).err, orders.ErrExists)
	require.ErrorIs(t, handle(t, p, orders.ValidateUser{}).err, orders.ErrUnknownCommand)
}

// TestReservations walks one product through every case of Reserve,
// Release and Commit; each row runs on the state the previous row left.
func TestReservations(t *testing.T) {
	p := newProduct(t, 10)
	tests := []struct {
		name     string
		cmd      any
		events   []string
		failure  saga.Failure
		errHas   string
		status   string
		qty      int64
		stock    int64
		reserved int64
	}{
		{"reserve", orders.Reserve{Key: "a", Quantity: 4}, []string{orders.ProductReservedV1}, "", "", "reserved", 4, 10, 4},
		{"same key again: nothing new, same answer", orders.Reserve{Key: "a", Quantity: 4}, nil, "", "", "reserved", 4, 10, 4},
		{"same key, other quantity: the first outcome", orders.Reserve{Key: "a", Quantity: 9}, nil, "", "", "reserved", 4, 10, 4},
		{"more than free", orders.Reserve{Key: "b", Quantity: 7}, []string{orders.ProductReserveRefusedV1}, saga.Permanent, "insufficient stock: 7 requested, 6 free", "", 0, 10, 4},
		{"exactly what is free", orders.Reserve{Key: "c", Quantity: 6}, []string{orders.ProductReservedV1}, "", "", "reserved", 6, 10, 10},
		{"release a", orders.Release{Key: "a"}, []string{orders.ProductReleasedV1}, "", "", "released", 4, 10, 6},
		{"release a again: nothing new", orders.Release{Key: "a"}, nil, "", "", "released", 4, 10, 6},
		{"a refused key stays refused although stock is free now", orders.Reserve{Key: "b", Quantity: 1}, nil, saga.Permanent, "insufficient stock", "", 0, 10, 6},
		{"releasing a refused key: nothing to free", orders.Release{Key: "b"}, nil, "", "", "refused", 0, 10, 6},
		{"a released key cannot reserve again", orders.Reserve{Key: "a", Quantity: 1}, nil, saga.Permanent, orders.ReasonReleased, "", 0, 10, 6},
		{"release of a key that never reserved: tombstone", orders.Release{Key: "late"}, []string{orders.ProductReleasedV1}, "", "", "released", 0, 10, 6},
		{"the late reserve is refused", orders.Reserve{Key: "late", Quantity: 1}, nil, saga.Permanent, orders.ReasonReleased, "", 0, 10, 6},
		{"zero quantity is refused for good", orders.Reserve{Key: "z", Quantity: 0}, []string{orders.ProductReserveRefusedV1}, saga.Permanent, "quantity must be positive", "", 0, 10, 6},
		{"commit c: a sale", orders.Commit{Key: "c"}, []string{orders.ProductCommittedV1}, "", "", "committed", 6, 4, 0},
		{"commit c again", orders.Commit{Key: "c"}, nil, "", "", "committed", 6, 4, 0},
		{"reserve c again answers its sale", orders.Reserve{Key: "c", Quantity: 6}, nil, "", "", "committed", 6, 4, 0},
		{"a sold reservation is not released", orders.Release{Key: "c"}, nil, saga.Permanent, "already sold", "", 0, 4, 0},
		{"commit a released key", orders.Commit{Key: "a"}, nil, saga.Permanent, "released", "", 0, 4, 0},
		{"commit an unknown key", orders.Commit{Key: "nope"}, nil, saga.Permanent, "no reservation", "", 0, 4, 0},
		{"the rest of the stock", orders.Reserve{Key: "d", Quantity: 4}, []string{orders.ProductReservedV1}, "", "", "reserved", 4, 4, 4},
		{"none left", orders.Reserve{Key: "e", Quantity: 1}, []string{orders.ProductReserveRefusedV1}, saga.Permanent, "insufficient stock", "", 0, 4, 4},
	}
	for _, tt := range tests {
		r := handle(t, p, tt.cmd)
		require.NoError(t, r.err, tt.name)
		p = r.state
		require.Equal(t, tt.events, nilIfEmpty(types(r.events)), tt.name)
		require.Equal(t, tt.failure, r.outcome.Failure, tt.name)
		require.Contains(t, r.outcome.Error, tt.errHas, tt.name)
		if tt.failure == "" {
			out := output[orders.ReservationOutput](t, r.outcome)
			require.Equal(t, tt.status, out.Status, tt.name)
			require.Equal(t, tt.qty, out.Quantity, tt.name)
			require.Equal(t, int64(250), out.PriceCents, tt.name)
			require.Equal(t, "p1", out.ProductID, tt.name)
		}
		require.Equal(t, tt.stock, p.Stock, tt.name)
		require.Equal(t, tt.reserved, p.Reserved, tt.name)
		require.LessOrEqual(t, p.Reserved, p.Stock, tt.name)
	}
	res, ok := p.Reservation("late")
	require.True(t, ok)
	require.True(t, res.Tombstone)
	require.Equal(t, int64(6), p.Sold)
}

func nilIfEmpty(s []string) []string {
	if len(s) == 0 {
		return nil
	}
	return s
}

func TestUnknownProduct(t *testing.T) {
	var p orders.Product
	r := handle(t, p, orders.Reserve{Key: "k", Quantity: 1})
	require.Empty(t, r.events)
	require.Equal(t, orders.Outcome{Failure: saga.Permanent, Error: "unknown product"}, r.outcome)
	r = handle(t, p, orders.Release{Key: "k"})
	require.Empty(t, r.events)
	require.True(t, r.outcome.OK(), "nothing to release")
	r = handle(t, p, orders.Commit{Key: "k"})
	require.Equal(t, saga.Permanent, r.outcome.Failure)
	require.Equal(t, saga.Permanent, p.Answer(orders.Send{}).Failure)
}

// Evolve never changes the state it is given: two histories that share a
// prefix each see their own reservations.
func TestProductEvolveDoesNotMutate(t *testing.T) {
	base := handle(t, newProduct(t, 10), orders.Reserve{Key: "a", Quantity: 2}).state
	left := handle(t, base, orders.Reserve{Key: "b", Quantity: 3}).state
	right := handle(t, base, orders.Release{Key: "b"}).state // a fork of base: tombstone for b
	again := handle(t, base, orders.Reserve{Key: "c", Quantity: 1}).state

	require.Equal(t, int64(2), base.Reserved)
	_, ok := base.Reservation("b")
	require.False(t, ok, "base sees neither branch")
	_, ok = base.Reservation("c")
	require.False(t, ok)

	rb, _ := left.Reservation("b")
	require.Equal(t, orders.ReservationHeld, rb.Status)
	require.Equal(t, int64(5), left.Reserved)
	rb, _ = right.Reservation("b")
	require.True(t, rb.Tombstone)
	require.Equal(t, int64(2), right.Reserved)
	_, ok = again.Reservation("b")
	require.False(t, ok)
	require.Equal(t, int64(3), again.Reserved)

	// The branches keep growing independently.
	left2 := handle(t, left, orders.Release{Key: "a"}).state
	right2 := handle(t, right, orders.Reserve{Key: "b", Quantity: 1}).state
	require.Equal(t, int64(3), left2.Reserved)
	require.Equal(t, saga.Permanent, right2.Answer(orders.Reserve{Key: "b", Quantity: 1}).Failure)
	ra, _ := left.Reservation("a")
	require.Equal(t, orders.ReservationHeld, ra.Status, "left unchanged by its successor")
}

// A product forgets a reservation once no command can act upon it any
// more: CommandTTL after it ended, a refused one after ReservationMemory, a
// held one never. A Reserve that arrives after that is refused as expired,
// never reserving again.
func TestProductForgetsEndedReservationsOnceNoCommandCanActOnThem(t *testing.T) {
	p := newProduct(t, 1<<40)
	p = handle(t, p, orders.Reserve{Key: "held", Quantity: 1, Now: t0, IssuedAt: t0}).state
	refused := handle(t, p, orders.Reserve{Key: "refused", Quantity: 1 << 41, Now: t0, IssuedAt: t0})
	require.Equal(t, []string{orders.ProductReserveRefusedV1}, types(refused.events))
	p = refused.state
	const n = 4000 // two hours of orders, one each 1.8 s
	key := func(i int) string { return fmt.Sprintf("o%d:reserve_inventory", i) }
	at := func(i int) time.Time { return t0.Add(time.Duration(i) * 1800 * time.Millisecond) }
	for i := range n {
		r := handle(t, p, orders.Reserve{Key: key(i), Quantity: 1, Now: at(i), IssuedAt: at(i)})
		require.Len(t, r.events, 1)
		r = handle(t, r.state, orders.Commit{Key: key(i), Now: at(i).Add(time.Second)})
		require.Len(t, r.events, 1)
		p = r.state
	}
	require.Equal(t, int64(1), p.Reserved, "only the held reservation holds units")
	require.Equal(t, int64(n), p.Sold)

	// Every order left two records (reserved, committed): 8,003 without
	// forgetting; the last CommandTTL's stay, and compaction waits until
	// there are twice as many as it kept (at least 1,024).
	require.Less(t, p.Remembered(), 2*1024+2, "ended reservations are forgotten")
	_, ok := p.Reservation(key(0))
	require.False(t, ok, "a reservation that ended two hours ago is forgotten")
	for _, k := range []string{"held", "refused", key(n - 1)} {
		_, ok := p.Reservation(k)
		require.True(t, ok, "%s is remembered", k)
	}
	now := at(n)

	// A redelivery of a recent order's Reserve answers as the first time.
	again := handle(t, p, orders.Reserve{Key: key(n - 1), Quantity: 1, Now: now, IssuedAt: at(n - 1)})
	require.Empty(t, again.events)
	require.Equal(t, string(orders.ReservationCommitted), output[orders.ReservationOutput](t, again.outcome).Status)

	// A late Reserve of a forgotten key reserves nothing: it expired.
	late := handle(t, p, orders.Reserve{Key: key(0), Quantity: 1, Now: now, IssuedAt: at(0)})
	require.Empty(t, late.events)
	require.Equal(t, saga.Transient, late.outcome.Failure)
	require.Contains(t, late.outcome.Error, "expired")
	require.Equal(t, int64(1), late.state.Reserved)

	// So does the refused key's, and its answer is still the refusal.
	again = handle(t, p, orders.Reserve{Key: "refused", Quantity: 1, Now: now, IssuedAt: now})
	require.Empty(t, again.events)
	require.Equal(t, saga.Permanent, again.outcome.Failure)

	// A late release of a forgotten key frees nothing.
	release := handle(t, p, orders.Release{Key: key(1), Now: now})
	require.Equal(t, []string{orders.ProductReleasedV1}, types(release.events))
	require.Equal(t, int64(1), release.state.Reserved)
	require.Equal(t, int64(n), release.state.Sold)
}

// A Reserve handled more than CommandTTL after its attempt started
// reserves nothing unless its key is known; one without an issue time (a
// command of an older version) never expires.
func TestExpiredReserveReservesNothing(t *testing.T) {
	p := newProduct(t, 10)
	late := handle(t, p, orders.Reserve{Key: "k", Quantity: 1, IssuedAt: t0, Now: t0.Add(orders.CommandTTL + time.Second)})
	require.Empty(t, late.events)
	require.Equal(t, saga.Transient, late.outcome.Failure)
	require.Contains(t, late.outcome.Error, "expired")

	inTime := handle(t, p, orders.Reserve{Key: "k", Quantity: 1, IssuedAt: t0, Now: t0.Add(orders.CommandTTL)})
	require.Equal(t, []string{orders.ProductReservedV1}, types(inTime.events))
	redelivered := handle(t, inTime.state, orders.Reserve{Key: "k", Quantity: 1, IssuedAt: t0, Now: t0.Add(time.Hour)})
	require.Empty(t, redelivered.events)
	require.True(t, redelivered.outcome.OK(), "a known key answers as the first time, however late")

	legacy := handle(t, p, orders.Reserve{Key: "old", Quantity: 1, Now: t0.Add(time.Hour)})
	require.Equal(t, []string{orders.ProductReservedV1}, types(legacy.events))
}
