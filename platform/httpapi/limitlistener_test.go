package httpapi

import (
	"context"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestServerBoundsOpenConnections: past MaxConns, a new client waits until
// a connection closes instead of costing the server another one.
func TestServerBoundsOpenConnections(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	s := NewServer(ServerConfig{MaxConns: 2})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx, ln) }()
	t.Cleanup(func() { cancel(); <-done })
	url := "http://" + ln.Addr().String() + "/healthz"

	var idle []net.Conn
	for range 2 { // two clients hold connections open without a request
		c, err := net.Dial("tcp", ln.Addr().String())
		require.NoError(t, err)
		idle = append(idle, c)
	}
	client := &http.Client{Timeout: 300 * time.Millisecond}
	require.Eventually(t, func() bool {
		_, err := client.Get(url)
		return err != nil
	}, 5*time.Second, 10*time.Millisecond, "a third connection is not served while two are open")

	idle[0].Close()
	client.Timeout = 5 * time.Second
	resp, err := client.Get(url)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	idle[1].Close()
}
