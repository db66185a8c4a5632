// Package workflowsync is workflow sync from Zuora as a domain module: the
// WORKFLOWS stream and its events, the customers API (creating a customer
// with its Zuora credentials, starting a sync, the read endpoints), the
// worker that lists a customer's workflows and records what changed, the
// scheduler of interval and daily syncs, and the sweep that fails syncs
// left running by a crash.
//
// The Zuora client secret is kept encrypted (AES-256-GCM) in the
// customer_credentials table, which no projection owns: it is never in an
// event, a log line, an error or a response.
package workflowsync
