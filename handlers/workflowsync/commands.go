package workflowsync

import (
	"github.com/eventline/eventline/domain/workflows"
	"github.com/eventline/eventline/eventstore"
	"github.com/eventline/eventline/eventstore/aggregate"
)

// NewCustomers returns the command loop of the customer aggregate over
// store, decoding its events through reg (which must hold
// workflows.Events()).
func NewCustomers(store aggregate.Store, reg *eventstore.Registry) (*aggregate.Handler[workflows.Customer, any], error) {
	return aggregate.New(store, reg, aggregate.Definition[workflows.Customer, any]{
		Stream:  workflows.Stream,
		Subject: workflows.Subject,
		Initial: func() workflows.Customer { return workflows.Customer{} },
		Evolve: func(s workflows.Customer, ev aggregate.Recorded) workflows.Customer {
			return workflows.Evolve(s, ev.Type, ev.Data)
		},
		Decide: func(s workflows.Customer, cmd any) ([]aggregate.Event, error) {
			evs, err := workflows.Decide(s, cmd)
			if err != nil {
				return nil, err
			}
			out := make([]aggregate.Event, len(evs))
			for i, e := range evs {
				out[i] = aggregate.Event{Type: e.Type, Data: e.Data}
			}
			return out, nil
		},
	}, aggregate.Options{})
}
