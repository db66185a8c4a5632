// Command reactor benchmarks a reactor hop — an event stored in JetStream,
// handled by a reactor on the watermill runtime (platform/reactor), its
// effect stored as the next event — against the same hop done with plain
// nats.go jetstream (a publish, a pull consumer receiving it, the next
// publish, an ack), measured in the same run on an in-process JetStream
// server: throughput with many chains in flight, and latency at a paced
// rate. See docs/BENCHMARKS.md.
//
//	go run ./bench/reactor [--chains 200] [--hops 100000] [--rate 1000] [--paced 5s] [--json]
package main
