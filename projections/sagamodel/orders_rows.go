package sagamodel

import (
	"context"
	"fmt"
	"time"

	json "github.com/go-json-experiment/json/v1"

	"github.com/jackc/pgx/v5"

	"github.com/eventline/eventline/domain/orders"
)

// ordersRows are the rows of a batch's aggregates, by id.
type ordersRows struct {
	users    map[string]bool
	products map[string]*productRow
	orders   map[string]*orderRow
	payments map[string]map[string]*paymentRow // by order id, then key
}

func ids(groups []*group) []string {
	out := make([]string, len(groups))
	for i, g := range groups {
		out[i] = g.id
	}
	return out
}

// load reads the rows of the aggregates of byKind, in one round trip.
func (m *Orders) load(ctx context.Context, tx pgx.Tx, byKind map[string][]*group) (*ordersRows, error) {
	cur := &ordersRows{users: map[string]bool{}, products: map[string]*productRow{}, orders: map[string]*orderRow{},
		payments: map[string]map[string]*paymentRow{}}
	b := &pgx.Batch{}
	var reads []func(pgx.Rows) error
	if gs := byKind[kindUser]; len(gs) > 0 {
		b.Queue(`SELECT id FROM `+m.users+` WHERE id = ANY($1)`, ids(gs))
		reads = append(reads, func(rows pgx.Rows) error {
			var id string
			_, err := pgx.ForEachRow(rows, []any{&id}, func() error { cur.users[id] = true; return nil })
			return err
		})
	}
	if gs := byKind[kindProduct]; len(gs) > 0 {
		b.Queue(`SELECT id, name, price_cents, stock, reserved, sold, created_at, seq FROM `+m.products+`
			WHERE id = ANY($1)`, ids(gs))
		reads = append(reads, func(rows pgx.Rows) error {
			var r productRow
			var seq int64
			_, err := pgx.ForEachRow(rows, []any{&r.p.ID, &r.p.Name, &r.p.PriceCents, &r.p.Stock, &r.p.Reserved, &r.p.Sold,
				&r.p.CreatedAt, &seq}, func() error {
				row := r
				row.p.Exists, row.p.CreatedAt, row.seq = true, r.p.CreatedAt.UTC(), uint64(seq)
				cur.products[row.p.ID] = &row
				return nil
			})
			return err
		})
	}
	if gs := byKind[kindOrder]; len(gs) > 0 {
		b.Queue(`SELECT id, user_id, status, total_cents, items, reason, created_at, updated_at, seq FROM `+m.orders+`
			WHERE id = ANY($1)`, ids(gs))
		reads = append(reads, func(rows pgx.Rows) error {
			var r orderRow
			var status string
			var items []byte
			var seq int64
			_, err := pgx.ForEachRow(rows, []any{&r.o.ID, &r.o.UserID, &status, &r.o.TotalCents, &items, &r.o.Reason,
				&r.o.CreatedAt, &r.o.UpdatedAt, &seq}, func() error {
				row := r
				row.o.Items = nil
				if err := json.Unmarshal(items, &row.o.Items); err != nil {
					return fmt.Errorf("order %s: items: %w", row.o.ID, err)
				}
				row.o.Status, row.o.Exists, row.seq = orders.OrderStatus(status), true, uint64(seq)
				row.o.CreatedAt, row.o.UpdatedAt = r.o.CreatedAt.UTC(), r.o.UpdatedAt.UTC()
				cur.orders[row.o.ID] = &row
				return nil
			})
			return err
		})
	}
	if gs := byKind[kindPayment]; len(gs) > 0 {
		b.Queue(`SELECT order_id, key, status, amount_cents, token, attempt, reason, charged_at, updated_at, seq
			FROM `+m.payments+` WHERE order_id = ANY($1)`, ids(gs))
		reads = append(reads, func(rows pgx.Rows) error {
			var r paymentRow
			var status string
			var charged *time.Time
			var seq int64
			_, err := pgx.ForEachRow(rows, []any{&r.orderID, &r.key, &status, &r.amountCents, &r.token, &r.attempt, &r.reason,
				&charged, &r.updatedAt, &seq}, func() error {
				row := r
				row.status, row.seq, row.updatedAt, row.chargedAt = orders.PaymentStatus(status), uint64(seq), r.updatedAt.UTC(), time.Time{}
				if charged != nil {
					row.chargedAt = charged.UTC()
				}
				if cur.payments[row.orderID] == nil {
					cur.payments[row.orderID] = map[string]*paymentRow{}
				}
				cur.payments[row.orderID][row.key] = &row
				return nil
			})
			return err
		})
	}
	if b.Len() == 0 {
		return cur, nil
	}
	res := tx.SendBatch(ctx, b)
	defer res.Close()
	for _, read := range reads {
		rows, err := res.Query()
		if err != nil {
			return nil, fmt.Errorf("orders: read rows: %w", err)
		}
		if err := read(rows); err != nil {
			return nil, fmt.Errorf("orders: read rows: %w", err)
		}
	}
	return cur, nil
}

// queue queues the writes of w: one upsert per table, each row replacing
// only a row written by an earlier event.
func (m *Orders) queue(b *pgx.Batch, w *orderWrites) {
	if n := len(w.users); n > 0 {
		ids, names, emails, created, seqs := make([]string, n), make([]string, n), make([]string, n), make([]time.Time, n), make([]int64, n)
		for i, u := range w.users {
			ids[i], names[i], emails[i], created[i], seqs[i] = u.id, u.name, u.email, u.createdAt, int64(u.seq)
		}
		b.Queue(`INSERT INTO `+m.users+` (id, name, email, created_at, seq)
			SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::timestamptz[], $5::bigint[])
			ON CONFLICT (id) DO NOTHING`, ids, names, emails, created, seqs)
	}
	if n := len(w.products); n > 0 {
		ids, names, created, seqs := make([]string, n), make([]string, n), make([]time.Time, n), make([]int64, n)
		prices, stock, reserved, sold := make([]int64, n), make([]int64, n), make([]int64, n), make([]int64, n)
		for i, r := range w.products {
			p := r.p
			ids[i], names[i], created[i], seqs[i] = p.ID, p.Name, p.CreatedAt.UTC(), int64(r.seq)
			prices[i], stock[i], reserved[i], sold[i] = p.PriceCents, p.Stock, p.Reserved, p.Sold
		}
		b.Queue(`INSERT INTO `+m.products+` AS t (id, name, price_cents, stock, reserved, sold, created_at, seq)
			SELECT * FROM unnest($1::text[], $2::text[], $3::bigint[], $4::bigint[], $5::bigint[], $6::bigint[],
				$7::timestamptz[], $8::bigint[])
			ON CONFLICT (id) DO UPDATE SET stock = EXCLUDED.stock, reserved = EXCLUDED.reserved, sold = EXCLUDED.sold,
				seq = EXCLUDED.seq
			WHERE t.seq < EXCLUDED.seq`, ids, names, prices, stock, reserved, sold, created, seqs)
	}
	if n := len(w.orders); n > 0 {
		ids, users, statuses, items, reasons := make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
		totals, seqs, created, updated := make([]int64, n), make([]int64, n), make([]time.Time, n), make([]time.Time, n)
		for i, r := range w.orders {
			o := r.o
			its := o.Items
			if its == nil {
				its = []orders.Item{}
			}
			raw, _ := json.Marshal(its) // items always marshal
			ids[i], users[i], statuses[i], items[i], reasons[i] = o.ID, o.UserID, string(o.Status), string(raw), o.Reason
			totals[i], seqs[i], created[i], updated[i] = o.TotalCents, int64(r.seq), o.CreatedAt.UTC(), o.UpdatedAt.UTC()
		}
		b.Queue(`INSERT INTO `+m.orders+` AS t (id, user_id, status, total_cents, items, reason, created_at, updated_at, seq)
			SELECT u.id, u.user_id, u.status, u.total_cents, u.items::jsonb, u.reason, u.created_at, u.updated_at, u.seq
			FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[], $5::text[], $6::text[], $7::timestamptz[],
				$8::timestamptz[], $9::bigint[]) AS u(id, user_id, status, total_cents, items, reason, created_at, updated_at, seq)
			ON CONFLICT (id) DO UPDATE SET status = EXCLUDED.status, reason = EXCLUDED.reason,
				updated_at = EXCLUDED.updated_at, seq = EXCLUDED.seq
			WHERE t.seq < EXCLUDED.seq`, ids, users, statuses, totals, items, reasons, created, updated, seqs)
	}
	if n := len(w.payments); n > 0 {
		orderIDs, keys, statuses, tokens, reasons := make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
		amounts, attempts, seqs := make([]int64, n), make([]int32, n), make([]int64, n)
		charged, updated := make([]*time.Time, n), make([]time.Time, n)
		for i, r := range w.payments {
			orderIDs[i], keys[i], statuses[i], tokens[i], reasons[i] = r.orderID, r.key, string(r.status), r.token, r.reason
			amounts[i], attempts[i], seqs[i], charged[i], updated[i] = r.amountCents, int32(r.attempt), int64(r.seq), nullTime(r.chargedAt), r.updatedAt.UTC()
		}
		b.Queue(`INSERT INTO `+m.payments+` AS t (order_id, key, status, amount_cents, token, attempt, reason, charged_at,
				updated_at, seq)
			SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[], $5::text[], $6::integer[], $7::text[],
				$8::timestamptz[], $9::timestamptz[], $10::bigint[])
			ON CONFLICT (order_id, key) DO UPDATE SET status = EXCLUDED.status, amount_cents = EXCLUDED.amount_cents,
				token = EXCLUDED.token, attempt = EXCLUDED.attempt, reason = EXCLUDED.reason, charged_at = EXCLUDED.charged_at,
				updated_at = EXCLUDED.updated_at, seq = EXCLUDED.seq
			WHERE t.seq < EXCLUDED.seq`, orderIDs, keys, statuses, amounts, tokens, attempts, reasons, charged, updated, seqs)
	}
}
