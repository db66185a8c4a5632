package orders_test

import (
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/eventline/eventline/domain/orders"
)

// TestInventoryNeverOversells runs seeded random interleavings of Reserve,
// Release, Commit and their redeliveries for many keys on one product and
// checks after every command that reserved never exceeds the stock, that
// reserved is the sum of the live keys' quantities, that a key reserves at
// most once, and that no unit is lost or made up.
func TestInventoryNeverOversells(t *testing.T) {
	for seed := uint64(1); seed <= 50; seed++ {
		t.Run(fmt.Sprint("seed", seed), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(seed, seed*7919))
			const initial = 40
			p := newProduct(t, initial)
			keys := make([]string, 30)
			for i := range keys {
				keys[i] = fmt.Sprintf("saga%d:reserve_inventory", i)
			}
			reservedTimes := map[string]int{}
			for n := 0; n < 400; n++ {
				k := keys[rng.IntN(len(keys))]
				var cmd any
				switch rng.IntN(10) {
				case 0, 1, 2, 3, 4, 5:
					cmd = orders.Reserve{Key: k, Quantity: int64(rng.IntN(8))} // 0 included: refused
				case 6, 7, 8:
					cmd = orders.Release{Key: k}
				default:
					cmd = orders.Commit{Key: k}
				}
				r := handle(t, p, cmd)
				require.NoError(t, r.err)
				// A redelivery decides nothing and answers the same.
				again := handle(t, r.state, cmd)
				require.Empty(t, again.events, "redelivery of %+v", cmd)
				require.Equal(t, r.outcome, again.outcome, "redelivery of %+v", cmd)
				p = r.state
				for _, ev := range r.events {
					if ev.Type == orders.ProductReservedV1 {
						reservedTimes[k]++
						require.Equal(t, 1, reservedTimes[k], "key %s reserved twice", k)
					}
				}

				var live int64
				for _, key := range keys {
					if res, ok := p.Reservation(key); ok && res.Status == orders.ReservationHeld {
						live += res.Quantity
					}
				}
				require.GreaterOrEqual(t, p.Reserved, int64(0))
				require.LessOrEqual(t, p.Reserved, p.Stock, "oversold after %+v", cmd)
				require.Equal(t, live, p.Reserved, "reserved is the sum of the live keys")
				require.Equal(t, int64(initial), p.Stock+p.Sold, "units are neither lost nor made up")
			}
		})
	}
}

// Many goroutines evolving states of one history at once (as the command
// loop's cache shares them) each see exactly their own history; run with
// -race.
func TestLedgerSharedConcurrently(t *testing.T) {
	base := newProduct(t, 1000)
	for i := range 50 {
		base = handle(t, base, orders.Reserve{Key: fmt.Sprint("base", i), Quantity: 1}).state
	}
	var wg sync.WaitGroup
	results := make([]orders.Product, 8)
	for g := range results {
		wg.Go(func() {
			s := base
			for i := range 100 {
				evs, err := s.Decide(orders.Reserve{Key: fmt.Sprintf("g%d-%d", g, i), Quantity: 1})
				if err != nil || len(evs) != 1 {
					panic(fmt.Sprint(err, evs))
				}
				s = s.Evolve(evs[0].Type, evs[0].Data)
				_, _ = base.Reservation("base0")
			}
			results[g] = s
		})
	}
	wg.Wait()
	for g, s := range results {
		require.Equal(t, int64(150), s.Reserved)
		for other := range results {
			_, ok := s.Reservation(fmt.Sprintf("g%d-0", other))
			require.Equal(t, other == g, ok, "goroutine %d sees g%d's keys", g, other)
		}
	}
	require.Equal(t, int64(50), base.Reserved)
}
