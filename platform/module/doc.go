// Package module is where a business area plugs into the spine. A Module
// names the area's streams, its event decode table, its projections with
// their tables, and a Start function that builds the area's parts once over
// serve's connections, mounts its HTTP routes, starts its workers and hands
// serve its reactors (Host.AddReactors; Set.Start gathers them) in a running
// `eventline serve`. The composition root lists the
// modules (cmd/eventline/modules.go); serve, health checks, the ops API and
// the operator CLI loop over them, so that the event store and the
// projections runtime never name a business area.
package module
