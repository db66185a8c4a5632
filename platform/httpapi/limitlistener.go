package httpapi

import (
	"net"
	"sync"
)

// DefaultMaxConns bounds the client connections a Server holds open at
// once (each costs a goroutine and its buffers, some 20 KiB).
const DefaultMaxConns = 1024

// limitListener accepts at most n connections at a time: past it, Accept
// waits until one closes, so that clients opening connections without end
// cost a bounded amount of memory (they wait in the kernel's backlog).
type limitListener struct {
	net.Listener
	slots chan struct{}
}

func newLimitListener(ln net.Listener, n int) *limitListener {
	return &limitListener{Listener: ln, slots: make(chan struct{}, n)}
}

// Accept waits for a free slot, then for a connection.
func (l *limitListener) Accept() (net.Conn, error) {
	l.slots <- struct{}{}
	c, err := l.Listener.Accept()
	if err != nil {
		<-l.slots
		return nil, err
	}
	return &limitConn{Conn: c, release: func() { <-l.slots }}, nil
}

// limitConn gives its slot back when closed (once).
type limitConn struct {
	net.Conn
	once    sync.Once
	release func()
}

// Close closes the connection and frees its slot.
func (c *limitConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.release)
	return err
}
