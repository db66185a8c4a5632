package saga_test

import (
	json "github.com/go-json-experiment/json/v1"
	"testing"

	"github.com/eventline/eventline/domain/saga"
)

// BenchmarkHappySaga measures the pure cost of one order saga on the happy
// path: five replies decided and folded (no JSON), as the process manager
// does with a cached state.
func BenchmarkHappySaga(b *testing.B) {
	def := saga.OrderSaga(saga.DefaultPolicy())
	input := json.RawMessage(`{"order_id":"o1","user_id":"u1","items":[{"product_id":"p1","quantity":1}],"payment":{"token":"tok_ok"}}`)
	out := json.RawMessage(`{"ok":true}`)
	b.ReportAllocs()
	for b.Loop() {
		var s saga.State
		d, err := saga.Decide(s, saga.Start{SagaID: "s1", Definition: def, Input: input, Now: t0})
		if err != nil {
			b.Fatal(err)
		}
		for {
			for _, e := range d.Events {
				s = saga.Evolve(s, e.Type, e.Data)
			}
			if len(d.Commands) == 0 {
				break
			}
			c := d.Commands[0]
			if d, err = saga.Decide(s, saga.Reply{Step: c.Step, Attempt: c.Attempt, Output: out, Now: t0}); err != nil {
				b.Fatal(err)
			}
		}
		if s.Status != saga.StatusCompleted {
			b.Fatal(s.Status)
		}
	}
}
