// Package loadloop is the benchmarks' closed-loop load: a fixed number of
// workers, each running one operation after the other, for a while or for
// a number of operations, counting how each ended and timing the completed
// ones. bench/saga and bench/cluster drive their sagas (and their raw
// JetStream baselines) with it.
package loadloop
