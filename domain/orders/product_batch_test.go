package orders_test

import (
	json "github.com/go-json-experiment/json/v1"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/eventline/eventline/domain/orders"
)

func TestPackProductsRoundTripsAndFolds(t *testing.T) {
	at := time.Date(2026, 11, 25, 3, 0, 0, 0, time.UTC)
	created := orders.Event{Type: orders.ProductCreatedV1, Data: &orders.ProductCreated{ProductID: "p1", Stock: 10, CreatedAt: at}}
	reserved := orders.Event{Type: orders.ProductReservedV1, Data: &orders.Reserved{ProductID: "p1", Key: "s1:reserve_inventory", Quantity: 4, At: at}}
	committed := orders.Event{Type: orders.ProductCommittedV1, Data: &orders.Committed{ProductID: "p1", Key: "s1:reserve_inventory", Quantity: 4, At: at}}

	one, err := orders.PackProducts([]orders.Event{reserved})
	require.NoError(t, err)
	require.Equal(t, reserved, one, "one event is stored as itself")

	packed, err := orders.PackProducts([]orders.Event{created, reserved, committed})
	require.NoError(t, err)
	require.Equal(t, orders.ProductBatchV1, packed.Type)
	data, err := json.Marshal(packed.Data)
	require.NoError(t, err)
	back, err := orders.Events()[orders.ProductBatchV1](data)
	require.NoError(t, err)
	require.Equal(t, []orders.Event{created, reserved, committed}, orders.Flatten(orders.ProductBatchV1, back))

	// Folding the batch is folding its events in turn.
	var one1, each orders.Product
	one1 = one1.Evolve(orders.ProductBatchV1, back)
	for _, e := range []orders.Event{created, reserved, committed} {
		each = each.Evolve(e.Type, e.Data)
	}
	require.Equal(t, each, one1)
	require.Equal(t, int64(6), one1.Stock)
	require.Equal(t, int64(4), one1.Sold)
	require.Equal(t, []orders.Event{reserved}, orders.Flatten(orders.ProductReservedV1, reserved.Data))
}

func TestProductBatchRefusesWhatItCannotHold(t *testing.T) {
	at := time.Date(2026, 11, 25, 3, 0, 0, 0, time.UTC)
	reserved := orders.Event{Type: orders.ProductReservedV1, Data: &orders.Reserved{ProductID: "p1", Key: "k", Quantity: 1, At: at}}
	_, err := orders.PackProducts(nil)
	require.ErrorIs(t, err, orders.ErrBadProductBatch)
	many := make([]orders.Event, orders.MaxProductBatch+1)
	for i := range many {
		many[i] = reserved
	}
	_, err = orders.PackProducts(many)
	require.ErrorIs(t, err, orders.ErrBadProductBatch)
	_, err = orders.PackProducts([]orders.Event{reserved, {Type: orders.OrderConfirmedV1, Data: &orders.OrderConfirmed{}}})
	require.ErrorIs(t, err, orders.ErrBadProductBatch, "only product events")
	nested, err := orders.PackProducts([]orders.Event{reserved, reserved})
	require.NoError(t, err)
	_, err = orders.PackProducts([]orders.Event{reserved, nested})
	require.ErrorIs(t, err, orders.ErrBadProductBatch, "no batch in a batch")

	dec := orders.Events()[orders.ProductBatchV1]
	for name, payload := range map[string]string{
		"empty":         `{"events":[]}`,
		"not a product": `{"events":[{"type":"order.confirmed.v1","data":{}}]}`,
		"nested":        `{"events":[{"type":"product.batch.v1","data":{"events":[]}}]}`,
		"unknown":       `{"events":[{"type":"product.stolen.v1","data":{}}]}`,
		"bad data":      `{"events":[{"type":"product.reserved.v1","data":{"quantity":"x"}}]}`,
		"not json":      `{"events":`,
	} {
		_, err := dec([]byte(payload))
		require.Error(t, err, name)
	}
}
