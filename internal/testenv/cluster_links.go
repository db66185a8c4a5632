package testenv

import (
	"io"
	"net"
	"sync"
	"time"
)

// routeLink carries the route connections one server of a Cluster opens to
// another, through a loopback listener of its own, so that a node can be
// cut off from the others at once (Crash): its peers then see its routes
// end, as when its process dies, before it could hand anything off.
type routeLink struct {
	l      net.Listener
	target func() string // the destination's route address; "" while it is down

	mu    sync.Mutex
	cut   bool
	conns map[net.Conn]struct{}
	wg    sync.WaitGroup
}

// newRouteLink listens on a random loopback port and forwards each
// connection to target().
func newRouteLink(target func() string) (*routeLink, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	k := &routeLink{l: l, target: target, conns: map[net.Conn]struct{}{}}
	k.wg.Go(k.serve)
	return k, nil
}

// addr is the address the source server routes to.
func (k *routeLink) addr() string { return k.l.Addr().String() }

func (k *routeLink) serve() {
	for {
		in, err := k.l.Accept()
		if err != nil {
			return
		}
		k.wg.Go(func() { k.forward(in) })
	}
}

// forward copies both ways between in and a new connection to the target
// until either side or a cut ends them.
func (k *routeLink) forward(in net.Conn) {
	defer in.Close()
	// A server being started routes to the others before they all listen.
	to := k.target()
	for wait := 0; to == "" && wait < 500 && !k.isCut(); wait++ {
		time.Sleep(10 * time.Millisecond)
		to = k.target()
	}
	if to == "" || k.isCut() {
		return
	}
	out, err := net.Dial("tcp", to)
	if err != nil {
		return
	}
	defer out.Close()
	if !k.track(in, out) {
		return
	}
	defer k.untrack(in, out)
	done := make(chan struct{})
	go func() {
		_, _ = io.Copy(out, in)
		_ = out.Close()
		_ = in.Close()
		close(done)
	}()
	_, _ = io.Copy(in, out)
	_ = in.Close()
	_ = out.Close()
	<-done
}

func (k *routeLink) isCut() bool {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.cut
}

// track records the connections of a forward, false when the link was cut.
func (k *routeLink) track(conns ...net.Conn) bool {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.cut {
		return false
	}
	for _, c := range conns {
		k.conns[c] = struct{}{}
	}
	return true
}

func (k *routeLink) untrack(conns ...net.Conn) {
	k.mu.Lock()
	defer k.mu.Unlock()
	for _, c := range conns {
		delete(k.conns, c)
	}
}

// setCut cuts the link (closing every connection on it and refusing new
// ones) or mends it.
func (k *routeLink) setCut(cut bool) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.cut = cut
	if cut {
		for c := range k.conns {
			_ = c.Close()
		}
	}
}

// close stops the link and waits for its goroutines.
func (k *routeLink) close() {
	_ = k.l.Close()
	k.setCut(true)
	k.wg.Wait()
}
