// Package saga is the pure core of the saga engine: saga definitions as
// data (ordered steps, each with its action command, its compensation
// command or none, its kind and its retry policy), the events of a saga and
// their decode table, the state folded from them, and the decisions — what
// a participant's reply, a timer firing or an operator's command makes the
// saga record, which commands it sends and which timers it schedules. It
// does no I/O and reads no environment: policies' defaults and the jitter of
// retries are passed in.
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
package saga
