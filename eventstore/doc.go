// Package eventstore owns Eventline's durable log on JetStream: the streams,
// the versioned envelope and its decode table, appends with per-aggregate
// expected sequences and publish dedupe, atomic batches, group commit
// (GroupCommit), bounded async appends, durable timers, stored snapshots,
// aggregate loads without consumers and ordered range reads that report
// gaps. Beside it: eventstore/aggregate (the command loop),
// eventstore/partitions (one owner per partition) and eventstore/natsserver
// (the embedded server, apart so that importing eventstore links none).
package eventstore
