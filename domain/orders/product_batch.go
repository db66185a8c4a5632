package orders

import (
	"errors"
	"fmt"

	"github.com/eventline/eventline/domain/internal/packed"
)

// ProductBatchV1 is the type of an event that records, in one message, the
// events of several commands on one product that were decided together
// (the command loop's group commit: while one append to a hot product is
// in flight, the commands queued behind it are decided in turn on the
// state it leaves and stored in the next append). It is one message
// rather than an atomic batch because an atomic batch costs a staging file
// store with an fsync on a one-replica stream. Evolve folds the events it
// holds in order, so readers see the same events either way (Flatten).
const ProductBatchV1 = "product.batch.v1"

// MaxProductBatch bounds the events of one ProductBatch.
const MaxProductBatch = 64

// ProductBatch is the payload of ProductBatchV1: product events (none of
// them a ProductBatch), in the order they were decided.
type ProductBatch struct {
	Events []Event
}

// MarshalJSON implements json.Marshaler: {"events":[{"type","data"},…]}.
func (b ProductBatch) MarshalJSON() ([]byte, error) {
	events := make([]packed.Event, len(b.Events))
	for i, e := range b.Events {
		events[i] = packed.Event(e)
	}
	return packed.Marshal("orders: product batch event", events, isProductEvent)
}

// UnmarshalJSON implements json.Unmarshaler, decoding each event as Events
// would; only product events, and no batch, may be in a batch.
func (b *ProductBatch) UnmarshalJSON(data []byte) error {
	events, err := packed.Unmarshal("orders: product batch event", data, productDecoders, MaxProductBatch)
	if err != nil {
		return err
	}
	b.Events = make([]Event, len(events))
	for i, e := range events {
		b.Events[i] = Event(e)
	}
	return nil
}

// ErrBadProductBatch reports events PackProducts cannot record as one.
var ErrBadProductBatch = errors.New("orders: events cannot be packed as one product batch")

// PackProducts returns the one event that records events (1..MaxProductBatch
// product events): the event itself when there is one, a ProductBatchV1
// holding them all when there are more.
func PackProducts(events []Event) (Event, error) {
	switch {
	case len(events) == 1:
		return events[0], nil
	case len(events) == 0 || len(events) > MaxProductBatch:
		return Event{}, fmt.Errorf("%w: %d events, want 1..%d", ErrBadProductBatch, len(events), MaxProductBatch)
	}
	for i, e := range events {
		if !isProductEvent(e.Type) {
			return Event{}, fmt.Errorf("%w: event %d is a %q", ErrBadProductBatch, i, e.Type)
		}
	}
	return Event{Type: ProductBatchV1, Data: &ProductBatch{Events: events}}, nil
}

// Flatten returns the events a stored event records: those a
// ProductBatchV1 holds, or the event itself. data is the decoded payload
// (Events' table).
func Flatten(eventType string, data any) []Event {
	if b, ok := data.(*ProductBatch); ok {
		return b.Events
	}
	return []Event{{Type: eventType, Data: data}}
}

// isProductEvent reports whether a product command decides events of
// type t (any product event but the batch).
func isProductEvent(t string) bool {
	_, ok := productDecoders[t]
	return ok
}

// productDecoders is the decode table of the events a product command
// decides (every product event but the batch). Read only.
var productDecoders = map[string]func([]byte) (any, error){
	ProductCreatedV1:        decodeJSON[ProductCreated],
	ProductReservedV1:       decodeJSON[Reserved],
	ProductReserveRefusedV1: decodeJSON[ReserveRefused],
	ProductReleasedV1:       decodeJSON[Released],
	ProductCommittedV1:      decodeJSON[Committed],
}
