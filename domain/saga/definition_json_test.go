package saga_test

import (
	"testing"
	"time"

	json "github.com/go-json-experiment/json/v1"
	"github.com/stretchr/testify/require"

	"github.com/eventline/eventline/domain/saga"
)

// A definition is stored with the policy its steps share once, and each
// step's own where it differs; it decodes to what was encoded, and a
// definition stored before, with a policy on every step, decodes the same.
func TestDefinitionStoresASharedPolicyOnce(t *testing.T) {
	def := saga.OrderSaga(saga.DefaultPolicy())
	b, err := json.Marshal(def)
	require.NoError(t, err)
	var raw struct {
		Policy *json.RawMessage `json:"policy"`
		Steps  []map[string]any `json:"steps"`
	}
	require.NoError(t, json.Unmarshal(b, &raw))
	require.NotNil(t, raw.Policy, "the shared policy, once")
	for _, s := range raw.Steps {
		require.NotContains(t, s, "policy", "a step with the shared policy carries none")
	}
	var back saga.Definition
	require.NoError(t, json.Unmarshal(b, &back))
	require.Equal(t, def, back)

	// A step with a policy of its own keeps it.
	odd := def.WithDefaults(saga.Policy{})
	odd.Steps = append([]saga.Step(nil), odd.Steps...)
	odd.Steps[2].Policy.Attempts, odd.Steps[2].Policy.AttemptTimeout = 7, time.Second
	b, err = json.Marshal(odd)
	require.NoError(t, err)
	back = saga.Definition{}
	require.NoError(t, json.Unmarshal(b, &back))
	require.Equal(t, odd, back)
	require.Equal(t, 7, back.Steps[2].Policy.Attempts)
	require.Equal(t, def.Steps[3].Policy, back.Steps[3].Policy)

	// The form stored before: every step with its own policy.
	old := `{"type":"t","steps":[
	  {"name":"a","action":"a","kind":"compensatable","policy":{"attempts":2,"first_delay":"1s","max_delay":"1m0s","jitter":0.1,"attempt_timeout":"5s","compensation_timeout":"10s"}},
	  {"name":"b","action":"b","kind":"pivot","policy":{"attempts":4,"first_delay":"2s","max_delay":"1m0s","jitter":0,"attempt_timeout":"6s","compensation_timeout":"10s"}}]}`
	back = saga.Definition{}
	require.NoError(t, json.Unmarshal([]byte(old), &back))
	require.Equal(t, saga.Definition{Type: "t", Steps: []saga.Step{
		{Name: "a", Action: "a", Kind: saga.Compensatable, Policy: saga.Policy{Attempts: 2, FirstDelay: time.Second,
			MaxDelay: time.Minute, Jitter: 0.1, AttemptTimeout: 5 * time.Second, CompensationTimeout: 10 * time.Second}},
		{Name: "b", Action: "b", Kind: saga.Pivot, Policy: saga.Policy{Attempts: 4, FirstDelay: 2 * time.Second,
			MaxDelay: time.Minute, AttemptTimeout: 6 * time.Second, CompensationTimeout: 10 * time.Second}},
	}}, back)
}
