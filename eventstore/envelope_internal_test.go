package eventstore

import (
	"regexp"
	"testing"

	"github.com/stretchr/testify/require"
)

// validType accepts exactly what the type pattern it replaces does.
func TestValidType(t *testing.T) {
	pattern := regexp.MustCompile(`^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+\.v[0-9]+$`)
	for _, typ := range []string{
		"order.created.v1", "a.b.v12", "a_1.b_2.c.v0",
		"a.v1", "order.created", "Order.created.v1", "1a.b.v1", "a..b.v1", "a.b.v", "a.b.v1x", "a.b.V1",
		".a.b.v1", "", "a.b-c.v1", "a._b.v1", "v1", ".v1", "a.b.v1.", "a.b.c", "a.b.vv1", "a.b.v1\n",
	} {
		require.Equal(t, pattern.MatchString(typ), validType(typ), typ)
	}
}

func FuzzValidType(f *testing.F) {
	pattern := regexp.MustCompile(`^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+\.v[0-9]+$`)
	f.Add("order.created.v1")
	f.Fuzz(func(t *testing.T, typ string) {
		if pattern.MatchString(typ) != validType(typ) {
			t.Fatalf("%q: pattern %v, validType %v", typ, pattern.MatchString(typ), validType(typ))
		}
	})
}
