package testenv

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// Every route between the servers goes through the links: cutting a node's
// links leaves it with no route while it still runs, and mending them
// brings its routes back.
func TestClusterRoutesGoThroughTheLinks(t *testing.T) {
	c := StartCluster(t, 3)
	routes := func() []int {
		var n []int
		for i := range c.Size() {
			n = append(n, c.Server(i).NumRoutes())
		}
		return n
	}
	// Route connections per peer: a pool, and one for the system account.
	full := routes()
	perPeer := full[0] / 2
	require.Positive(t, perPeer)
	require.Equal(t, []int{2 * perPeer, 2 * perPeer, 2 * perPeer}, full)
	c.cut(0, true)
	require.Eventually(t, func() bool {
		r := routes()
		return r[0] == 0 && r[1] == perPeer && r[2] == perPeer
	}, 10*time.Second, 10*time.Millisecond, "routes with n1 cut off: %v", routes())
	c.cut(0, false)
	require.Eventually(t, func() bool {
		r := routes()
		return r[0] == full[0] && r[1] == full[1] && r[2] == full[2]
	}, 10*time.Second, 10*time.Millisecond, "routes once mended: %v", routes())
}
