package main

import (
	"time"

	"github.com/eventline/eventline/bench/internal/orderclient"
)

// sagaTimeout bounds how long one saga is awaited before it counts as an
// error.
const sagaTimeout = 2 * time.Minute

// newAPI is a client of the orders and logs APIs of the serve processes
// for conns concurrent requests; a saga wait the server cuts short is
// asked again after 100 ms.
func newAPI(conns int) *orderclient.Client {
	c := orderclient.New(conns)
	c.RetryPause = 100 * time.Millisecond
	return c
}
