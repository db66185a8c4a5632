package orders_test

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/eventline/eventline/domain/orders"
)

// requireSameProduct checks that b answers everything as a does: its
// fields, how many records it keeps, and the record of every key.
func requireSameProduct(t *testing.T, a, b orders.Product, keys []string) {
	t.Helper()
	require.Equal(t, a.ID, b.ID)
	require.Equal(t, a.Name, b.Name)
	require.Equal(t, a.PriceCents, b.PriceCents)
	require.Equal(t, a.Stock, b.Stock)
	require.Equal(t, a.Reserved, b.Reserved)
	require.Equal(t, a.Sold, b.Sold)
	require.Equal(t, a.Exists, b.Exists)
	require.True(t, a.CreatedAt.Equal(b.CreatedAt))
	require.Equal(t, a.Remembered(), b.Remembered())
	for _, k := range keys {
		ra, oka := a.Reservation(k)
		rb, okb := b.Reservation(k)
		require.Equal(t, oka, okb, k)
		require.Equal(t, ra, rb, k)
	}
}

func snapshotRoundTrip(t *testing.T, p orders.Product) orders.Product {
	t.Helper()
	var buf bytes.Buffer
	require.NoError(t, orders.WriteProductSnapshot(p, &buf))
	back, err := orders.ReadProductSnapshot(&buf)
	require.NoError(t, err)
	return back
}

// A product read back from its snapshot is the product: the same answers
// now, and the same after any later events (it forgets the same keys at
// the same moments, having the same records and compaction point).
func TestProductSnapshotFoldsOnAsTheProduct(t *testing.T) {
	p := newProduct(t, 1<<40)
	var keys []string
	key := func(d, i int) string { return fmt.Sprintf("d%d-%d:reserve_inventory", d, i) }
	day := func(p orders.Product, d int) orders.Product {
		for i := range 1500 {
			at := t0.Add(time.Duration(d)*24*time.Hour + time.Duration(i)*50*time.Second)
			k := key(d, i)
			keys = append(keys, k)
			p = handle(t, p, orders.Reserve{Key: k, Quantity: 1 + int64(i%3), Now: at}).state
			switch i % 4 {
			case 0, 1:
				p = handle(t, p, orders.Commit{Key: k, Now: at.Add(time.Second)}).state
			case 2:
				p = handle(t, p, orders.Release{Key: k, Now: at.Add(time.Second)}).state
			}
		}
		// A tombstone: released before it reserved.
		k := fmt.Sprintf("d%d-tomb:reserve_inventory", d)
		keys = append(keys, k)
		return handle(t, p, orders.Release{Key: k, Now: t0.Add(time.Duration(d) * 24 * time.Hour)}).state
	}
	refused := handle(t, newProduct(t, 0), orders.Reserve{Key: "refused", Quantity: 1, Now: t0})
	requireSameProduct(t, refused.state, snapshotRoundTrip(t, refused.state), []string{"refused"})
	requireSameProduct(t, newProduct(t, 3), snapshotRoundTrip(t, newProduct(t, 3)), nil)

	for d := range 3 {
		p = day(p, d)
	}
	back := snapshotRoundTrip(t, p)
	requireSameProduct(t, p, back, keys)
	require.Greater(t, p.Remembered(), 1024, "the product has compacted and keeps records past the threshold")

	// Three more days on both: compactions happen at the same events.
	for d := 3; d < 6; d++ {
		p, back = day(p, d), day(back, d)
		requireSameProduct(t, p, back, keys)
	}
}

func TestReadProductSnapshotRefusesBrokenInput(t *testing.T) {
	var buf bytes.Buffer
	p := handle(t, newProduct(t, 5), orders.Reserve{Key: "k", Quantity: 1, Now: t0}).state
	require.NoError(t, orders.WriteProductSnapshot(p, &buf))
	good := buf.String()
	lines := strings.SplitAfter(good, "\n")
	for name, in := range map[string]string{
		"empty":         "",
		"not json":      "nope",
		"short":         lines[0],
		"extra record":  good + lines[1],
		"bad record":    lines[0] + "{\"k\":1}\n",
		"negative":      `{"records":-1}` + "\n",
		"cut mid-entry": good[:len(good)-5],
	} {
		_, err := orders.ReadProductSnapshot(strings.NewReader(in))
		require.Error(t, err, name)
	}
	back, err := orders.ReadProductSnapshot(strings.NewReader(good))
	require.NoError(t, err)
	requireSameProduct(t, p, back, []string{"k"})
}
