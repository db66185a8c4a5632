// Package httpapi owns what every Eventline HTTP endpoint shares: the JSON
// error shape and the one table that maps errors to status codes, request
// body limits and media types, bearer-token auth, Idempotency-Key replay,
// read-your-writes waits, metrics, and the server with graceful shutdown.
package httpapi
