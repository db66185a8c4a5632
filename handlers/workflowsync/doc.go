// Package workflowsync is workflow sync from Zuora as a domain module: the
// WORKFLOWS stream, the customers API and dashboard pages, the worker that
// lists a customer's workflows (package zuora) and records what changed
// (domain/workflows), the scheduler of interval and daily syncs, and the
// sweep of syncs a crash left running. Its read model is projections/syncmodel.
// Start builds the module's parts once (secrets, customers, worker,
// scheduler) and hands serve the worker's reactor.
//
// The Zuora client secret is kept encrypted (AES-256-GCM) in the
// customer_credentials table, which no projection owns: it is never in an
// event, a log line, an error or a response.
package workflowsync
