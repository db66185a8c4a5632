package saga_test

import (
	json "github.com/go-json-experiment/json/v1"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/eventline/eventline/internal/eventtest"

	"github.com/eventline/eventline/domain/saga"
)

// Old payloads in testdata/ must keep decoding: events are forever.
func TestOldPayloadsStillDecode(t *testing.T) {
	typeName := eventtest.TypeName
	for typ := range saga.Events() {
		require.Regexp(t, typeName, typ)
	}
	stored := eventtest.StoredPayloads(t)
	require.Len(t, stored, len(saga.Events()), "one stored payload per event type")
	for typ, data := range stored {
		dec, ok := saga.Events()[typ]
		require.True(t, ok, typ)
		v, err := dec(data)
		require.NoError(t, err, typ)
		if st, ok := v.(*saga.Started); ok {
			require.NoError(t, st.Definition.Validate())
			require.Equal(t, saga.DefaultPolicy(), st.Definition.Steps[0].Policy)
		}
	}
}

func TestPolicyJSON(t *testing.T) {
	p := testPolicy()
	b, err := json.Marshal(p)
	require.NoError(t, err)
	require.JSONEq(t, `{"attempts":3,"first_delay":"1s","max_delay":"4s","jitter":0.5,"attempt_timeout":"10s",
		"compensation_timeout":"30s"}`, string(b))
	var back saga.Policy
	require.NoError(t, json.Unmarshal(b, &back))
	require.Equal(t, p, back)

	require.NoError(t, json.Unmarshal([]byte(`{"attempts":1,"first_delay":1000,"attempt_timeout":"1m"}`), &back))
	require.Equal(t, saga.Policy{Attempts: 1, FirstDelay: time.Microsecond, AttemptTimeout: time.Minute}, back)
	require.Error(t, json.Unmarshal([]byte(`{"first_delay":"soon"}`), &back))
	require.Error(t, json.Unmarshal([]byte(`{"first_delay":true}`), &back))
}

// FuzzDecode feeds arbitrary payloads to every decoder and folds what
// decodes into a running saga: nothing may panic.
func FuzzDecode(f *testing.F) {
	types := make([]string, 0, len(saga.Events()))
	for typ := range saga.Events() {
		types = append(types, typ)
	}
	for typ, data := range eventtest.StoredPayloads(f) {
		f.Add(typ, []byte(data))
	}
	f.Add(saga.StepStartedV1, []byte(`{"step":"nope","attempt":-1}`))
	f.Add(saga.StartedV1, []byte(`{"definition":{"steps":[{"policy":{"first_delay":"-1h"}}]}}`))
	f.Fuzz(func(t *testing.T, typ string, data []byte) {
		dec, ok := saga.Events()[typ]
		if !ok {
			dec = saga.Events()[types[len(typ)%len(types)]]
		}
		v, err := dec(data)
		if err != nil {
			return
		}
		r := newRun(t)
		s := saga.Evolve(r.s, typ, v)
		_, _ = saga.Decide(s, saga.Reply{Step: saga.StepValidateUser, Attempt: 1, Now: t0})
		_, _ = saga.Decide(s, saga.Retry{Now: t0})
		_, _ = saga.Decide(s, saga.Abort{Now: t0})
	})
}

func TestDecidedRefusesNestingAndBadSizes(t *testing.T) {
	dec := saga.Events()[saga.DecidedV1]
	for name, in := range map[string]string{
		"empty":   `{"events":[]}`,
		"nested":  `{"events":[{"type":"saga.decided.v1","data":{"events":[]}}]}`,
		"unknown": `{"events":[{"type":"saga.nope.v1","data":{}}]}`,
		"bad":     `{"events":[{"type":"saga.step_started.v1","data":{"attempt":"x"}}]}`,
	} {
		_, err := dec([]byte(in))
		require.Error(t, err, name)
	}
	_, err := json.Marshal(saga.Decided{Events: []saga.Event{{Type: saga.DecidedV1, Data: &saga.Decided{}}}})
	require.Error(t, err)
	one := saga.Event{Type: saga.RetriedV1, Data: &saga.Retried{}}
	require.Equal(t, one, saga.Pack([]saga.Event{one}))
}
