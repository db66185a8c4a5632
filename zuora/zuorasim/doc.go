// Package zuorasim is a stand-in for the Zuora Workflow API, per tenant: the
// OAuth client-credentials token endpoint and the paginated GET /workflows,
// with a control API (under /_sim/) that replaces tenants, injects page
// faults and 429s, revokes tokens and counts requests. cmd/zuora-sim serves
// it for `make run`; tests start it in-process with httptest.NewServer.
package zuorasim
