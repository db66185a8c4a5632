// Package zuora is a client for the Zuora Workflow API: it obtains and caches
// an OAuth client-credentials token per Client (one Client per customer),
// lists a tenant's workflows page by page, and turns the API's failures into
// typed errors with sentinels callers branch on.
//
// The client is bounded in every direction: each request has a timeout, each
// response body a size limit, a listing a maximum number of pages, and
// retries (429 honouring Retry-After, 5xx and network errors backing off with
// jitter) a maximum number of attempts. A listing is reported complete only
// when the API said it was over; anything else is an error, so a caller never
// mistakes a partial listing for the whole tenant.
//
// The client secret and the access token never appear in an error or a log
// line. Every request carries a fresh Zuora-Track-Id, which is logged with
// each failure and kept in *APIError.
package zuora
