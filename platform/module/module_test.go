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
	all, err := set.Reactors(module.Deps{})
	require.NoError(t, err)
	require.Len(t, all.All(), 1)
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

// TestStartGathersTheReactorsEachModuleBuilt: Set.Start starts each module
// once; a module's reactors are those its Start handed (built with its
// routes), else its Reactors over the host's connections; the process runs
// those of its roles, and the registry holds all (for the ops API's retry).
func TestStartGathersTheReactorsEachModuleBuilt(t *testing.T) {
	nop := func(context.Context, reactor.Event, *reactor.Effects) error { return nil }
	starts, builds := 0, 0
	set := module.Set{
		{Name: "handing", ReactorRole: "saga",
			Reactors: func(module.Deps) []reactor.Reactor {
				builds++
				return []reactor.Reactor{{Name: "ra", Stream: "A", Handler: nop}}
			},
			Start: func(h *module.Host) error {
				starts++
				h.AddReactors(reactor.Reactor{Name: "ra", Stream: "A", Handler: nop})
				return nil
			}},
		{Name: "declaring", ReactorRole: "sync",
			Reactors: func(module.Deps) []reactor.Reactor {
				builds++
				return []reactor.Reactor{{Name: "rb", Stream: "B", Handler: nop}}
			}},
		{Name: "plain", Start: func(*module.Host) error { starts++; return nil }},
	}
	started, err := set.Start(&module.Host{HasRole: func(role string) bool { return role == "saga" }})
	require.NoError(t, err)
	require.Equal(t, 2, starts)
	require.Equal(t, 1, builds, "a module whose Start handed its reactors is not built again")
	require.Len(t, started.Reactors.All(), 2)
	require.Len(t, started.Run, 1)
	require.Equal(t, "ra", started.Run[0].Name)
}
