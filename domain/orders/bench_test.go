package orders_test

import (
	"fmt"
	"maps"
	"testing"

	"github.com/eventline/eventline/domain/orders"
)

// BenchmarkReserveHotProduct measures one reservation's decision, fold and
// answer on a product that already took 100,000 reservations: Evolve does
// not copy the product's keys.
func BenchmarkReserveHotProduct(b *testing.B) {
	p := newProduct(b, 1<<40)
	for i := range 100_000 {
		evs, _ := p.Decide(orders.Reserve{Key: fmt.Sprint("warm", i), Quantity: 1})
		p = p.Evolve(evs[0].Type, evs[0].Data)
	}
	keys := make([]string, b.N+1)
	for i := range keys {
		keys[i] = fmt.Sprint("k", i)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		cmd := orders.Reserve{Key: keys[i], Quantity: 1}
		evs, err := p.Decide(cmd)
		if err != nil || len(evs) != 1 {
			b.Fatal(err, evs)
		}
		p = p.Evolve(evs[0].Type, evs[0].Data)
		if !p.Answer(cmd).OK() {
			b.Fatal("refused")
		}
	}
}

// BenchmarkChargeRedelivered measures a charge's redelivery: the key is
// found, nothing is decided, the first answer is given again.
func BenchmarkChargeRedelivered(b *testing.B) {
	var p orders.Payments
	cmd := charge(orders.TokenOK, 1)
	evs, _ := p.Decide(cmd)
	p = p.Evolve(evs[0].Type, evs[0].Data)
	b.ReportAllocs()
	for b.Loop() {
		if evs, _ := p.Decide(cmd); len(evs) != 0 || !p.Answer(cmd).OK() {
			b.Fatal("charged twice")
		}
	}
}

// BenchmarkCopyOnWriteBaseline is what Evolve would cost per reservation
// if it copied a map of the product's 100,000 keys instead (the baseline
// BenchmarkReserveHotProduct is compared with).
func BenchmarkCopyOnWriteBaseline(b *testing.B) {
	m := make(map[string]orders.Reservation, 100_000)
	for i := range 100_000 {
		k := fmt.Sprint("warm", i)
		m[k] = orders.Reservation{Key: k, Quantity: 1, Status: orders.ReservationHeld}
	}
	b.ReportAllocs()
	for b.Loop() {
		c := maps.Clone(m)
		c["new"] = orders.Reservation{Key: "new"}
	}
}
