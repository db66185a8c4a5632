package orders

import (
	"bufio"
	"errors"
	"fmt"
	json "github.com/go-json-experiment/json/v1"
	"io"
	"time"
)

// ProductSnapshotVersion is the format of a product's stored snapshot
// (WriteProductSnapshot). Change it whenever Product.Evolve changes what a
// product holds.
const ProductSnapshotVersion = "orders.product.v2"

// productHeader is the first line of a product's snapshot.
type productHeader struct {
	ID         string    `json:"id"`
	Name       string    `json:"name"`
	PriceCents int64     `json:"price_cents"`
	Stock      int64     `json:"stock"`
	Reserved   int64     `json:"reserved"`
	Sold       int64     `json:"sold"`
	Exists     bool      `json:"exists"`
	CreatedAt  time.Time `json:"created_at"`
	CompactAt  int       `json:"compact_at"`
	Records    int       `json:"records"`
}

// reservationLine is one reservation record of a product's snapshot.
type reservationLine struct {
	Key       string            `json:"k"`
	Quantity  int64             `json:"q"`
	Status    ReservationStatus `json:"s"`
	Reason    string            `json:"r,omitempty"`
	Tombstone bool              `json:"t,omitempty"`
	Ended     *time.Time        `json:"e,omitempty"`
}

// WriteProductSnapshot writes p as JSON lines: its fields, then every
// reservation record it remembers, oldest first, one per line (records a
// later one of the same key replaced included, so that a product read back
// forgets exactly what p would). It reads p only.
func WriteProductSnapshot(p Product, w io.Writer) error {
	bw := bufio.NewWriterSize(w, 64<<10)
	enc := json.NewEncoder(bw)
	if err := enc.Encode(productHeader{ID: p.ID, Name: p.Name, PriceCents: p.PriceCents, Stock: p.Stock, Reserved: p.Reserved,
		Sold: p.Sold, Exists: p.Exists, CreatedAt: p.CreatedAt, CompactAt: p.compactAt, Records: p.res.len()}); err != nil {
		return err
	}
	err := p.res.each(func(key string, r Reservation) error {
		line := reservationLine{Key: key, Quantity: r.Quantity, Status: r.Status, Reason: r.Reason, Tombstone: r.Tombstone}
		if !r.Ended.IsZero() {
			line.Ended = &r.Ended
		}
		return enc.Encode(line)
	})
	if err != nil {
		return err
	}
	return bw.Flush()
}

// ReadProductSnapshot reads a product WriteProductSnapshot wrote.
func ReadProductSnapshot(r io.Reader) (Product, error) {
	dec := json.NewDecoder(bufio.NewReaderSize(r, 64<<10))
	var h productHeader
	if err := dec.Decode(&h); err != nil {
		return Product{}, fmt.Errorf("product snapshot: %w", err)
	}
	if h.Records < 0 || h.CompactAt < 0 {
		return Product{}, errors.New("product snapshot: negative counts")
	}
	p := Product{ID: h.ID, Name: h.Name, PriceCents: h.PriceCents, Stock: h.Stock, Reserved: h.Reserved, Sold: h.Sold,
		Exists: h.Exists, CreatedAt: h.CreatedAt, compactAt: h.CompactAt}
	for i := range h.Records {
		var line reservationLine
		if err := dec.Decode(&line); err != nil {
			return Product{}, fmt.Errorf("product snapshot: record %d of %d: %w", i+1, h.Records, err)
		}
		r := Reservation{Key: line.Key, Quantity: line.Quantity, Status: line.Status, Reason: line.Reason, Tombstone: line.Tombstone}
		if line.Ended != nil {
			r.Ended = line.Ended.UTC()
		}
		p.res = p.res.with(line.Key, r)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return Product{}, fmt.Errorf("product snapshot: more than %d records", h.Records)
	}
	return p, nil
}
