// Command eventline is Eventline's composition root and operator CLI: only
// it reads the environment (config*.go), lists the domain modules
// (modules.go) and wires them once, and runs `eventline serve` (NATS,
// PostgreSQL, HTTP and each role's workers) beside the operator commands —
// migrate, replay, projections, reactors, consumers, streams, cluster,
// sync-workflows. The modules live in handlers/, what serves every area in
// platform/; README.md describes every command and variable.
package main
