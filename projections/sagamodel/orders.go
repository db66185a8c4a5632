package sagamodel

import (
	"context"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/eventline/eventline/domain/orders"
	"github.com/eventline/eventline/projections"
)

// OrdersName is the name of the projection of the ORDERS stream (its
// checkpoint and consumer "proj_orders").
const OrdersName = "orders"

// Tables of the orders read model.
const (
	UsersTable    = "users"
	ProductsTable = "products"
	OrdersTable   = "orders"
	PaymentsTable = "payments"
)

// OrdersSpec describes the orders projection to the runtime and the
// operator tools. Every column is written by the projection, so a rebuild
// compares whole rows.
func OrdersSpec() projections.Spec {
	return projections.Spec{
		Name:     OrdersName,
		Stream:   orders.Stream,
		Subjects: orders.Subjects(),
		Tables: []projections.Table{
			{Name: UsersTable, Key: "id", Seq: "seq"},
			{Name: ProductsTable, Key: "id", Seq: "seq"},
			{Name: OrdersTable, Key: "id", Seq: "seq"},
			{Name: PaymentsTable, Key: "order_id, key", Seq: "seq"},
		},
		New: func(tables map[string]string) projections.Projection {
			return NewOrders(tables)
		},
	}
}

// Orders projects the ORDERS stream into users, products, orders and
// payments. Notification events are read and left out (no table shows
// them).
type Orders struct {
	projections.UpdatedInPlace
	users, products, orders, payments string // sanitized identifiers
	decode                            map[string]func([]byte) (any, error)
}

// NewOrders returns the orders projection writing into tables, which maps
// each live table name to the one to write into (a missing entry means the
// live table).
func NewOrders(tables map[string]string) *Orders {
	return &Orders{users: tableName(tables, UsersTable), products: tableName(tables, ProductsTable),
		orders: tableName(tables, OrdersTable), payments: tableName(tables, PaymentsTable), decode: orders.Events()}
}

// Name implements projections.Projection.
func (m *Orders) Name() string { return OrdersName }

// Stream implements projections.Projection.
func (m *Orders) Stream() string { return orders.Stream }

// Subjects implements projections.Projection.
func (m *Orders) Subjects() []string { return orders.Subjects() }

// Aggregate kinds, the first token of a subject.
const (
	kindUser         = "user"
	kindProduct      = "product"
	kindOrder        = "order"
	kindPayment      = "payment"
	kindNotification = "notification"
)

// kindOf returns the kind of an ORDERS subject.
func kindOf(subject string) string {
	kind, _, _ := strings.Cut(subject, ".")
	return kind
}

// ordersID returns the id of an ORDERS subject's aggregate.
func ordersID(subject string) (string, bool) {
	kind, id, ok := strings.Cut(subject, ".")
	switch kind {
	case kindUser, kindProduct, kindOrder, kindPayment, kindNotification:
		return id, ok && id != ""
	}
	return "", false
}

// Apply implements projections.Projection: it reads the rows of the
// batch's aggregates, folds their events not applied yet, and writes back
// the rows that changed, in one round trip. It returns the rows written.
func (m *Orders) Apply(ctx context.Context, tx pgx.Tx, events []projections.Event) (int64, error) {
	groups, err := groupEvents(events, m.decode, ordersID)
	if err != nil {
		return 0, fmt.Errorf("orders: %w", err)
	}
	byKind := map[string][]*group{}
	for _, g := range groups {
		k := kindOf(g.subject)
		byKind[k] = append(byKind[k], g)
	}
	cur, err := m.load(ctx, tx, byKind)
	if err != nil {
		return 0, err
	}
	w := &orderWrites{}
	for _, g := range byKind[kindUser] {
		foldUser(w, g, cur.users[g.id])
	}
	for _, g := range byKind[kindProduct] {
		foldProduct(w, g, cur.products[g.id])
	}
	for _, g := range byKind[kindOrder] {
		foldOrder(w, g, cur.orders[g.id])
	}
	for _, g := range byKind[kindPayment] {
		foldPayments(w, g, cur.payments[g.id])
	}
	b := &pgx.Batch{}
	m.queue(b, w)
	return projections.SendBatch(ctx, tx, b, "orders")
}
