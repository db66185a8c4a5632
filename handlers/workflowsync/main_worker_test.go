package workflowsync_test

import (
	"testing"

	"github.com/eventline/eventline/internal/testenv"
)

// TestMain stops the package's shared PostgreSQL cluster after the tests.
// (One per package: when merging, keep a single TestMain.)
func TestMain(m *testing.M) { testenv.Main(m) }
