package workflowsync

import (
	"testing"

	"github.com/eventline/eventline/internal/testenv"
)

// TestMain stops the package's shared PostgreSQL cluster after the tests.
func TestMain(m *testing.M) { testenv.Main(m) }
