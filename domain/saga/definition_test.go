package saga_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/eventline/eventline/domain/saga"
)

func TestOrderSaga(t *testing.T) {
	def := saga.OrderSaga(saga.DefaultPolicy())
	require.NoError(t, def.Validate())
	require.Equal(t, "create_order", def.Type)
	var names, comps []string
	var kinds []saga.Kind
	for _, s := range def.Steps {
		names, comps, kinds = append(names, s.Name), append(comps, s.Compensation), append(kinds, s.Kind)
		require.Equal(t, saga.DefaultPolicy(), s.Policy)
	}
	require.Equal(t, []string{"validate_user", "reserve_inventory", "create_order", "process_payment", "send_notification"}, names)
	require.Equal(t, []string{"", "release_inventory", "cancel_order", "", ""}, comps)
	require.Equal(t, []saga.Kind{saga.Compensatable, saga.Compensatable, saga.Compensatable, saga.Pivot, saga.Retriable}, kinds)
}

func TestPolicyDefaults(t *testing.T) {
	d := saga.DefaultPolicy()
	require.Equal(t, saga.Policy{Attempts: 3, FirstDelay: 60 * time.Second, MaxDelay: time.Hour, Jitter: 0.2,
		AttemptTimeout: 300 * time.Second, CompensationTimeout: 600 * time.Second}, d)
	p := saga.Policy{Attempts: 5, AttemptTimeout: time.Second}.Or(d)
	require.Equal(t, 5, p.Attempts)
	require.Equal(t, time.Second, p.AttemptTimeout)
	require.Equal(t, 60*time.Second, p.FirstDelay)

	def := saga.Definition{Type: "t", Steps: []saga.Step{{Name: "a", Action: "a", Kind: saga.Compensatable,
		Policy: saga.Policy{Attempts: 7}}}}
	got := def.WithDefaults(d)
	require.Equal(t, 7, got.Steps[0].Policy.Attempts)
	require.Equal(t, d.AttemptTimeout, got.Steps[0].Policy.AttemptTimeout)
	require.Zero(t, def.Steps[0].Policy.AttemptTimeout, "WithDefaults copies")
}

func TestBackoff(t *testing.T) {
	p := saga.Policy{FirstDelay: time.Second, MaxDelay: 5 * time.Second, Jitter: 0.5}
	tests := []struct {
		n      int
		r      float64
		want   time.Duration
		reason string
	}{
		{1, 0, time.Second, "first retry: the first delay"},
		{2, 0, 2 * time.Second, "doubles"},
		{3, 0, 4 * time.Second, "doubles again"},
		{4, 0, 5 * time.Second, "capped"},
		{60, 0, 5 * time.Second, "capped, no overflow"},
		{1, 0.5, 750 * time.Millisecond, "a quarter off"},
		{1, 0.999, 500*time.Millisecond + 500*time.Microsecond, "at most Jitter off"},
		{1, 7, 500 * time.Millisecond, "r is clamped"},
	}
	for _, tt := range tests {
		require.Equal(t, tt.want, p.Backoff(tt.n, tt.r), tt.reason)
	}
	require.Equal(t, 1<<20*time.Second, saga.Policy{FirstDelay: time.Second}.Backoff(21, 0), "no cap when MaxDelay is 0")
}

func TestValidate(t *testing.T) {
	pol := testPolicy()
	step := func(name string, kind saga.Kind, comp string) saga.Step {
		return saga.Step{Name: name, Action: name, Compensation: comp, Kind: kind, Policy: pol}
	}
	tests := []struct {
		name string
		def  saga.Definition
		want []string
	}{
		{"no pivot is fine", saga.Definition{Type: "t", Steps: []saga.Step{step("a", saga.Compensatable, "undo_a")}}, nil},
		{"empty", saga.Definition{}, []string{"no type", "no steps"}},
		{"names", saga.Definition{Type: "t", Steps: []saga.Step{step("", saga.Compensatable, ""), step("a", saga.Compensatable, ""),
			step("a", saga.Compensatable, "")}}, []string{"step 0: no name", "step a: name used twice"}},
		{"no action", saga.Definition{Type: "t", Steps: []saga.Step{{Name: "a", Kind: saga.Compensatable, Policy: pol}}},
			[]string{"step a: no action"}},
		{"kinds", saga.Definition{Type: "t", Steps: []saga.Step{step("r0", saga.Retriable, ""), step("p", saga.Pivot, "refund"),
			step("c", saga.Compensatable, ""), step("p2", saga.Pivot, ""), step("r", saga.Retriable, "undo"), step("x", "weird", "")}},
			[]string{"step r0: retriable step before the pivot", "step p: a pivot has no compensation",
				"step c: compensatable step after the pivot", "step p2: second pivot", "step r: a retriable step has no compensation",
				`step x: unknown kind "weird"`}},
		{"policy", saga.Definition{Type: "t", Steps: []saga.Step{{Name: "a", Action: "a", Kind: saga.Compensatable,
			Policy: saga.Policy{Jitter: 2, FirstDelay: -1}}}},
			[]string{"attempts 0 < 1", "negative retry delay", "jitter 2 outside [0, 1]", "attempt timeout must be positive",
				"compensation timeout must be positive"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.def.Validate()
			if tt.want == nil {
				require.NoError(t, err)
				return
			}
			require.ErrorIs(t, err, saga.ErrInvalidDefinition)
			for _, w := range tt.want {
				require.ErrorContains(t, err, w)
			}
		})
	}
}

func TestStatusTerminal(t *testing.T) {
	for st, want := range map[saga.Status]bool{saga.StatusRunning: false, saga.StatusCompensating: false,
		saga.StatusCompleted: true, saga.StatusCompensated: true, saga.StatusNeedsAttention: true, saga.StatusFailed: true} {
		require.Equal(t, want, st.Terminal(), st)
	}
	require.Equal(t, "saga.s1", saga.Subject("s1"))
	require.Equal(t, "s1:pay", saga.Key("s1", "pay", false))
	require.Equal(t, "s1:pay:compensate", saga.Key("s1", "pay", true))
}
