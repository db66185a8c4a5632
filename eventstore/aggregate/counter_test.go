package aggregate_test

import (
	"errors"

	"github.com/eventline/eventline/eventstore"
	"github.com/eventline/eventline/eventstore/aggregate"
)

// The counter is the test aggregate: a number that commands increment.

type counter struct {
	Value  int
	Events int
}

type incremented struct {
	By int `json:"by"`
}

// increment adds By once, or twice in one atomic decision when Twice; with
// a Limit it refuses when the value has reached it.
type increment struct {
	By    int
	Twice bool
	Limit int
}

var errLimit = errors.New("counter: limit reached")

const typeIncremented = "counter.incremented.v1"

func registry() *eventstore.Registry {
	reg := eventstore.NewRegistry()
	reg.Register(typeIncremented, eventstore.JSON[incremented]())
	return reg
}

var counterStream = eventstore.StreamSpec{Name: "COUNTERS", Subjects: []string{"counter.>"}, AllowAtomicPublish: true}

func counterDefinition() aggregate.Definition[counter, increment] {
	return aggregate.Definition[counter, increment]{
		Stream:  counterStream.Name,
		Subject: func(id string) string { return "counter." + id },
		Initial: func() counter { return counter{} },
		Evolve: func(s counter, ev aggregate.Recorded) counter {
			if inc, ok := ev.Data.(*incremented); ok {
				s.Value += inc.By
			}
			s.Events++
			return s
		},
		Decide: func(s counter, c increment) ([]aggregate.Event, error) {
			if c.By <= 0 {
				return nil, nil
			}
			if c.Limit > 0 && s.Value >= c.Limit {
				return nil, errLimit
			}
			evs := []aggregate.Event{{Type: typeIncremented, Data: incremented{By: c.By}}}
			if c.Twice {
				evs = append(evs, evs[0])
			}
			return evs, nil
		},
	}
}
