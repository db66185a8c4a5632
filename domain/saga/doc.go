// Package saga is the pure core of the saga engine: definitions as data
// (steps with their command, compensation, kind and retry policy), a saga's
// events and decode table, the state folded from them, and the decisions —
// what a reply, a timer or an operator's command records, sends and
// schedules (Decide, Effects, Outstanding). It does no I/O and reads no
// environment. The order saga's participants are domain/orders; the
// process manager that runs it is handlers/orders.
package saga

// Notes for whoever changes it (not the package doc):
//
// Every event of a saga is on one subject, saga.<id>, so that the command
// loop's expected sequence serialises everything done to it. A saga pins
// the definition it started with (saga.started.v1 carries it), so a new
// deployment never changes a running saga's steps or policies.
//
// Stale inputs — a reply or a timer for an attempt that is no longer the
// current one, a timer after the saga moved on, a duplicate reply — decide
// nothing: together with the expected sequence of the append, that is why a
// redelivery or a timer that fires late or twice never changes a saga's
// history.
