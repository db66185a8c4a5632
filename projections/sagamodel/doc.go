// Package sagamodel holds the order saga's read models in PostgreSQL:
// "sagas" (tables sagas and saga_steps, from the SAGAS stream) and
// "orders" (users, products, orders and payments, from ORDERS), each row
// as domain/saga's and domain/orders' folds show it, updated in place one
// aggregate per subject. handlers/orders registers and reads them.
package sagamodel

// Notes for whoever changes it (not the package doc):
//
//   - "sagas" reads the SAGAS stream into sagas (one row per saga) and
//     saga_steps (one row per step, keyed by saga and position), each row
//     as domain/saga's fold (saga.Evolve) shows it;
//   - "orders" reads the ORDERS stream into users, products (stock,
//     reserved, sold), orders and payments (one row per idempotency key of
//     an order's payments), as domain/orders' folds show them.
//
// Both are updated in place, one aggregate per subject. A batch costs two
// round trips whatever its size: one that reads the rows of the batch's
// aggregates, and one (a pgx.Batch) that writes them back, each table with
// one INSERT … ON CONFLICT over unnest'ed arrays. The events of an
// aggregate are folded in memory from its rows; those at or below the
// row's seq (the last event applied to it) are left out, and a write only
// replaces a row written by an earlier event, so applying an event twice
// changes nothing. A row's seq is the last event that changed it, so a
// rebuild writes the same rows whatever its batches.
