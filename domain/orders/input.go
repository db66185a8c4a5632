package orders

import (
	"cmp"
	"fmt"
	"slices"

	json "github.com/go-json-experiment/json/v1"
)

// OrderInput is the order saga's input, as POST /api/orders records it.
type OrderInput struct {
	OrderID string  `json:"order_id"`
	UserID  string  `json:"user_id"`
	Items   []Item  `json:"items"`
	Payment Payment `json:"payment"`
}

// Payment is how an order pays.
type Payment struct {
	Token string `json:"token"`
}

// ParseOrderInput decodes the order saga's input and checks it (wrapping
// ErrInvalid).
func ParseOrderInput(raw json.RawMessage) (OrderInput, error) {
	var in OrderInput
	if err := json.Unmarshal(raw, &in); err != nil {
		return OrderInput{}, fmt.Errorf("%w: order input: %w", ErrInvalid, err)
	}
	if err := ValidateOrderFields(in.OrderID, in.UserID, in.Items, 0); err != nil {
		return OrderInput{}, err
	}
	if in.Payment.Token == "" {
		return OrderInput{}, fmt.Errorf("%w: no payment token", ErrInvalid)
	}
	return in, nil
}

// Quantities returns the units wanted per product, one line per product
// sorted by product id: the order in which reserve_inventory reserves (and
// release_inventory releases) them, one Reserve per product with the
// step's key.
func (in OrderInput) Quantities() []Item {
	sum := map[string]int64{}
	for _, it := range in.Items {
		sum[it.ProductID] += it.Quantity
	}
	out := make([]Item, 0, len(sum))
	for id, q := range sum {
		out = append(out, Item{ProductID: id, Quantity: q})
	}
	slices.SortFunc(out, func(a, b Item) int { return cmp.Compare(a.ProductID, b.ProductID) })
	return out
}

// InventoryOutput is reserve_inventory's output: one reservation per
// product and the order's total at the reserved prices, which
// create_order records and process_payment charges.
type InventoryOutput struct {
	Reservations []ReservationOutput `json:"reservations"`
	TotalCents   int64               `json:"total_cents"`
}

// NewInventoryOutput returns the output of a reserve_inventory step whose
// reservations all succeeded.
func NewInventoryOutput(res []ReservationOutput) InventoryOutput {
	out := InventoryOutput{Reservations: res}
	for _, r := range res {
		out.TotalCents += r.PriceCents * r.Quantity
	}
	return out
}
