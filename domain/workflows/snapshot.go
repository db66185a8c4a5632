package workflows

import (
	"encoding/json"
	"fmt"
	"io"
)

// CustomerSnapshotVersion is the format of a customer's stored snapshot
// (WriteCustomerSnapshot). Change it whenever Evolve changes what a
// customer holds.
const CustomerSnapshotVersion = "workflows.customer.v2"

// WriteCustomerSnapshot writes c as JSON (every field of a Customer is
// exported). It reads c only.
func WriteCustomerSnapshot(c Customer, w io.Writer) error { return json.NewEncoder(w).Encode(c) }

// ReadCustomerSnapshot reads a customer WriteCustomerSnapshot wrote.
func ReadCustomerSnapshot(r io.Reader) (Customer, error) {
	var c Customer
	dec := json.NewDecoder(r)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil {
		return Customer{}, fmt.Errorf("customer snapshot: %w", err)
	}
	return c, nil
}
