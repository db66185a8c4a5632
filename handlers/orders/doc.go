// Package orders runs the order saga on the event store: the command
// loops of the saga (domain/saga, stream SAGAS) and of its participants
// (domain/orders, stream ORDERS), the process manager that carries out a
// saga's decisions, and the reactors that move commands, replies and
// timers between them.
//
// The transport, end to end:
//
//   - Every input of a saga (Start, a participant's Reply, a timer's Fire,
//     an operator's Retry or Abort) goes through Manager.Decide: the saga's
//     command loop decides it and appends the events with the expected
//     subject sequence, so two processes never both advance one saga.
//   - Right after the append the manager sends saga.Effects of the appended
//     events: each Command as a message on ordercmd.<type>.<saga_id>
//     (stream ORDERS_CMD, dedupe id "<key>:<attempt>"), each Timer as a
//     scheduled message on stream SAGA_TIMERS (dedupe id Timer.ID()) that
//     fires on sagatimer.fired.<saga_id>. Once the pivot (process_payment)
//     completed it also sends a confirm message that confirms the order
//     and sells its reservations.
//   - A participant reactor per participant consumes its command subjects,
//     runs its aggregate's command loop (participants dedupe on the key, so
//     a redelivered or retried command never reserves or charges twice) and
//     delivers the reply by calling Manager.Decide directly: the saga's
//     expected sequence guards the append and a duplicate or stale reply
//     decides nothing. There is no reply message to lose or to order.
//   - The timers reactor turns a fired timer into saga.Fire; a timer that
//     fires twice, late, or after the saga moved on decides nothing.
//
// Effects can be lost between a saga's append and their sends (a process
// killed in between). Two things make up for it: a redelivered message
// whose input decides nothing re-issues saga.Outstanding of the saga (its
// first delivery may have died after the append), and Manager.Resume, run
// at start, re-issues saga.Outstanding of every saga that is not terminal.
// Re-issuing is harmless: commands and timers are deduplicated by id, and
// participants by key.
//
// A tok_slow payment's first answer (orders.Outcome.Slow) is dropped: the
// attempt times out and the retry gets the recorded charge's answer.
package orders
