package opsdash_test

import (
	"testing"

	"github.com/eventline/eventline/internal/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }
