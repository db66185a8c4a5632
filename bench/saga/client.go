package main

import (
	"context"
	"time"

	"github.com/eventline/eventline/bench/internal/orderclient"
)

// sagaTimeout bounds how long one saga is awaited (several waits of 10 s)
// before it counts as an error.
const sagaTimeout = time.Minute

// client drives the orders API of one serve process with keep-alive
// connections, spreading the orders over its users and products.
type client struct {
	*orderclient.Client
	base     string
	users    []string
	products []string
}

func newClient(base string, conns int) *client {
	return &client{Client: orderclient.New(conns), base: base}
}

// setup creates the users (normal emails) and products (huge stock) the
// orders are spread over.
func (c *client) setup(ctx context.Context, users, products int) (err error) {
	c.users, c.products, err = c.Setup(ctx, c.base, users, products)
	return err
}

// saga places order n (one item of one product, paid with tok_ok) and
// awaits its saga's terminal status.
func (c *client) saga(ctx context.Context, worker, n int) (string, error) {
	id, err := c.PlaceOrder(ctx, c.base, c.users[n%len(c.users)],
		c.products[(n/len(c.users)+worker)%len(c.products)], "tok_ok")
	if err != nil {
		return "", err
	}
	return c.AwaitSaga(ctx, c.base, id, sagaTimeout)
}
