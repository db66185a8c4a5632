package module_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/eventline/eventline/eventstore"
	"github.com/eventline/eventline/platform/module"
	"github.com/eventline/eventline/platform/reactor"
	"github.com/eventline/eventline/projections"
)

func spec(name, stream string) projections.Spec {
	return projections.Spec{Name: name, Stream: stream, Tables: []projections.Table{{Name: name, Key: "id"}},
		New: func(map[string]string) projections.Projection { return nil }}
}

func decode([]byte) (any, error) { return nil, nil }

func TestSetJoinsWhatModulesRegister(t *testing.T) {
	set := module.Set{
		{Name: "a", Streams: []eventstore.StreamSpec{{Name: "A", Subjects: []string{"a.>"}}},
			Events: map[string]func([]byte) (any, error){"a.happened.v1": decode}, Projections: []projections.Spec{spec("pa", "A")}},
		{Name: "b", Streams: []eventstore.StreamSpec{{Name: "B", Subjects: []string{"b.>"}}},
			Events:      map[string]func([]byte) (any, error){"b.happened.v1": decode, "b.undone.v1": decode},
			Projections: []projections.Spec{spec("pb", "B")}, ReactorRole: "saga",
			Reactors: func(module.Deps) []reactor.Reactor {
				return []reactor.Reactor{{Name: "rb", Stream: "B", Handler: func(context.Context, reactor.Event, *reactor.Effects) error { return nil }}}
			}},
	}
	require.NoError(t, set.Validate())
	require.Len(t, set.Streams(), 2)
	require.Equal(t, []string{"a.happened.v1", "b.happened.v1", "b.undone.v1"}, set.Events().Types())
	require.Equal(t, []string{"pa", "pb"}, set.Projections().Names())
	all, err := set.Reactors(module.Deps{}, nil)
	require.NoError(t, err)
	require.Len(t, all.All(), 1)
	none, err := set.Reactors(module.Deps{}, func(role string) bool { return role == "api" })
	require.NoError(t, err)
	require.Empty(t, none.All(), "only processes with the saga role run them")
	st, ok := set.StreamOf("b.undone.v1")
	require.True(t, ok)
	require.Equal(t, "B", st)
	_, ok = set.StreamOf("c.nothing.v1")
	require.False(t, ok)
}

func TestValidateReportsEveryClash(t *testing.T) {
	set := module.Set{
		{Name: "a", Streams: []eventstore.StreamSpec{{Name: "S"}}, Events: map[string]func([]byte) (any, error){"x.y.v1": decode},
			Projections: []projections.Spec{spec("p", "S")}},
		{Name: "a", Streams: []eventstore.StreamSpec{{Name: "S"}}, Events: map[string]func([]byte) (any, error){"x.y.v1": decode},
			Projections: []projections.Spec{spec("p", "S"), spec("q", "NOWHERE")}},
	}
	err := set.Validate()
	require.Error(t, err)
	for _, want := range []string{`module "a" is claimed`, `stream "S" is claimed`, `event type "x.y.v1" is claimed`,
		`projection "p" is claimed`, `reads stream "NOWHERE", which no module creates`} {
		require.ErrorContains(t, err, want)
	}
}
