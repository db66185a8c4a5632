package main

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// TestRetrySkipZeroIsRefused: stream sequences start at 1, so --skip 0
// names nothing; it is refused (a non-zero exit) instead of quietly
// retrying everything as if no --skip had been given.
func TestRetrySkipZeroIsRefused(t *testing.T) {
	c := newOpsCLI(t)
	c.mustRun(t, "migrate")
	for _, args := range [][]string{
		{"projections", "retry", "logs", "--skip", "0", "--by", "x", "--reason", "y"},
		{"reactors", "retry", "workflow_sync", "--skip", "0", "--by", "x", "--reason", "y"},
	} {
		out, _, err := c.run(t, args...)
		require.Error(t, err, "%v printed %q", args, out)
		require.ErrorContains(t, err, "--skip 0")
	}
}
