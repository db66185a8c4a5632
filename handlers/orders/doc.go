// Package orders is the order saga as a domain module: the command loops of
// the saga (domain/saga, stream SAGAS) and of its participants
// (domain/orders, stream ORDERS), the Manager that drives each saga in the
// process owning its partition (eventstore/partitions), the reactors that
// carry commands (ORDERS_CMD) and durable timers (SAGA_TIMERS) between
// processes, the sweep and resume that re-issue lost effects, and the HTTP
// API and dashboard pages of sagas, orders, users and products. Its read
// models are projections/sagamodel.
package orders

// Notes for whoever changes it (not the package doc): how a saga moves, end
// to end.
//
//   - Every input of a saga (Start, a participant's Reply, a timer's Fire,
//     an operator's Retry or Abort) goes through the Manager: the saga's
//     command loop decides it and appends the decision — one message, a
//     saga.decided.v1 when it holds several events — with the expected
//     subject sequence, so two processes never both advance one saga.
//   - Sagas are partitioned (ownership.go, eventstore/partitions): each
//     saga belongs to one of EVENTLINE_PARTITIONS partitions by its id,
//     and each partition to one live process with the saga role at a
//     time, pinned by JetStream. Only the owner drives a saga; another
//     process that decides on it (the API of a process without the saga
//     role, a timer that fired on another process, an operator's retry)
//     notes the saga to its owner, which re-issues what the saga waits on
//     from the log. A process that takes a partition over (its owner died
//     or left) resumes every running saga of it at once
//     (ResumePartitions). A product's commands go to the owner of the
//     product's partition too (product_route.go).
//   - Right after the append the manager carries out saga.Effects of the
//     decision. In the owner of the saga's partition it drives the saga itself
//     (Manager.Drive): it runs each command on the local participant's
//     command loop (participants dedupe on the command's key, so a retried
//     or re-issued command never reserves or charges twice) and decides the
//     reply at once, step after step, until the saga ends or waits on a
//     timer. A reply that only moves the saga on (a step before the pivot
//     done, the next started: saga.Decision.Passing) is held and recorded
//     with the next one that must be (saga.Batch): a saga's steps up to
//     the pivot cost one append of the saga. Elsewhere, or past MaxDrivers sagas at once, or when the event
//     store failed mid-step, commands go as messages on
//     ordercmd.<type>.<saga_id> (stream ORDERS_CMD) to the participant
//     reactors, which do the same. Once the pivot (process_payment)
//     completed the order is confirmed and its reservations sold.
//   - Timers (a retry's due time, a compensation's deadline, and an
//     attempt's timeout when the reply did not come at once) are scheduled
//     messages on stream SAGA_TIMERS (sagatimer.<saga>.at.…) that fire on
//     sagatimer.<saga>.fired; the timers reactor turns them into saga.Fire,
//     and one that fires twice, late, or after the saga moved on decides
//     nothing. An ended saga's timers are purged.
//
// The reactors on ORDERS_CMD are the fallback transport, kept for what the
// owner cannot do at once: no owner reachable yet (a process starting, a
// takeover under way), every driver slot busy, or the event store failing
// mid-step.
//
// Effects can be lost between a saga's append and their execution (a
// process killed in between), and held replies with the driver that held
// them (the participants answer those steps again as they did). Three
// things make up for it: a redelivered message whose input decides
// nothing re-issues saga.Outstanding of the saga; the process that takes
// a partition over re-issues saga.Outstanding of every saga of it that is
// not terminal (ResumePartitions, within seconds of the owner's death);
// and Manager.Sweep, every 30s on a saga process, re-issues the sagas of
// its partitions the read model shows idle for longer than a step's
// timeout — a safety net that fires only when both others missed.
// Re-issuing is harmless.
//
// A tok_slow payment's first answer (orders.Outcome.Slow) is dropped: the
// attempt's timer is stored, it times out and the retry gets the recorded
// charge's answer. GET /api/sagas/{id}?wait= awaits the end of a saga on
// its subject (Manager.Await), without polling the store.
