// Package zuora is the client of the Zuora Workflow API: an OAuth
// client-credentials token per Client (one per customer), the workflow
// listing page by page, and typed errors with sentinels callers branch on;
// every request, body, listing and retry is bounded, and neither secret nor
// token appears in an error or a log. zuora/zuorasim is the stand-in server;
// handlers/workflowsync is the caller.
package zuora

// Notes for whoever changes it (not the package doc):
//
// The client is bounded in every direction: each request has a timeout, each
// response body a size limit, a listing a maximum number of pages, and
// retries (429 honouring Retry-After, 5xx and network errors backing off with
// jitter) a maximum number of attempts. A listing is reported complete only
// when the API said it was over; anything else is an error, so a caller never
// mistakes a partial listing for the whole tenant.
//
// The token is fetched with golang.org/x/oauth2/clientcredentials (the
// secret in the form body only), through the same retry policy, request
// timeout and body limit as the pages, and cached against Config.Now.
// Backoff delays come from cenkalti/backoff's ExponentialBackOff.
//
// The client secret and the access token never appear in an error or a log
// line. Every request carries a fresh Zuora-Track-Id, which is logged with
// each failure and kept in *APIError.
