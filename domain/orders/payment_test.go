package orders_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/eventline/eventline/domain/orders"
	"github.com/eventline/eventline/domain/saga"
)

const payKey = "s1:process_payment"

func charge(token string, attempt int) orders.Charge {
	return orders.Charge{OrderID: "o1", Key: payKey, AmountCents: 500, Token: token, Attempt: attempt, Now: t0}
}

type answer struct {
	failure saga.Failure
	slow    bool
}

// TestChargeTokens plays each token's attempts, every one delivered twice,
// and checks each attempt's answer and that the key charged at most once.
func TestChargeTokens(t *testing.T) {
	ok, late, tr, perm := answer{}, answer{slow: true}, answer{failure: saga.Transient}, answer{failure: saga.Permanent}
	tests := []struct {
		token   string
		answers []answer // attempts 1, 2, ...
		charges int
	}{
		{orders.TokenOK, []answer{ok, ok, ok}, 1},
		{orders.TokenDeclined, []answer{perm, perm, perm}, 0},
		{orders.TokenFlaky, []answer{tr, tr, ok, ok}, 1},
		{orders.TokenSlow, []answer{late, ok, ok}, 1},
		{"tok_unknown", []answer{perm, perm}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.token, func(t *testing.T) {
			var p orders.Payments
			for i, want := range tt.answers {
				attempt := i + 1
				first := handle(t, p, charge(tt.token, attempt))
				redelivered := handle(t, first.state, charge(tt.token, attempt))
				require.Empty(t, redelivered.events, "a redelivery decides nothing")
				require.Equal(t, first.outcome, redelivered.outcome, "a redelivery answers the same")
				p = redelivered.state
				require.Equal(t, want.failure, first.outcome.Failure, "attempt %d", attempt)
				require.Equal(t, want.slow, first.outcome.Slow, "attempt %d", attempt)
				if want.failure == "" {
					out := output[orders.PaymentOutput](t, first.outcome)
					require.Equal(t, orders.PaymentOutput{OrderID: "o1", Key: payKey, Status: "charged", AmountCents: 500}, out)
				}
			}
			require.Equal(t, tt.charges, p.Charges)
			require.Equal(t, int64(500*tt.charges), p.ChargedCents)
		})
	}
}

func TestFlakyPaysOnAttemptThree(t *testing.T) {
	var p orders.Payments
	for attempt := 1; attempt <= 2; attempt++ {
		r := handle(t, p, charge(orders.TokenFlaky, attempt))
		require.Empty(t, r.events, "a transient failure records nothing")
		require.Equal(t, saga.Transient, r.outcome.Failure)
		p = r.state
	}
	r := handle(t, p, charge(orders.TokenFlaky, 3))
	require.Equal(t, []string{orders.PaymentChargedV1}, types(r.events))
	rec, found := r.state.Record(payKey)
	require.True(t, found)
	require.Equal(t, 3, rec.Attempt)
	// A late redelivery of attempt 1 finds the charge: the saga ignores
	// the stale reply, and nothing is charged again.
	r = handle(t, r.state, charge(orders.TokenFlaky, 1))
	require.Empty(t, r.events)
	require.True(t, r.outcome.OK())
	require.Equal(t, 1, r.state.Charges)
}

// tok_slow charges on attempt 1 but answers after the step timed out; the
// saga's attempt 2 finds that charge and answers at once: one charge.
func TestSlowPaysOnceAcrossTheTimeout(t *testing.T) {
	var p orders.Payments
	r1 := handle(t, p, charge(orders.TokenSlow, 1))
	require.Equal(t, []string{orders.PaymentChargedV1}, types(r1.events))
	require.True(t, r1.outcome.Slow)
	r2 := handle(t, r1.state, charge(orders.TokenSlow, 2))
	require.Empty(t, r2.events)
	require.True(t, r2.outcome.OK())
	require.False(t, r2.outcome.Slow)
	require.Equal(t, 1, r2.state.Charges)

	// When attempt 1 never arrived, attempt 2 charges and answers at once.
	r := handle(t, p, charge(orders.TokenSlow, 2))
	require.Equal(t, []string{orders.PaymentChargedV1}, types(r.events))
	require.False(t, r.outcome.Slow)
}

func TestRefundAndTombstone(t *testing.T) {
	refund := orders.Refund{OrderID: "o1", Key: payKey, Now: t0}
	tests := []struct {
		name    string
		cmds    []any
		events  []string // of the last command
		failure saga.Failure
		status  string // the last answer's, on success
		charged int64
	}{
		{"a tombstone refuses a late charge", []any{refund, charge(orders.TokenOK, 1)}, nil, saga.Permanent, "", 0},
		{"tombstone", []any{refund}, []string{orders.PaymentVoidedV1}, "", "voided", 0},
		{"tombstone twice", []any{refund, refund}, nil, "", "voided", 0},
		{"refund a charge", []any{charge(orders.TokenOK, 1), refund}, []string{orders.PaymentRefundedV1}, "", "refunded", 0},
		{"refund twice", []any{charge(orders.TokenOK, 1), refund, refund}, nil, "", "refunded", 0},
		{"a refunded key does not charge again", []any{charge(orders.TokenOK, 1), refund, charge(orders.TokenOK, 2)}, nil, "", "charged", 0},
		{"nothing to refund after a decline", []any{charge(orders.TokenDeclined, 1), refund}, nil, "", "declined", 0},
		{"a negative amount is declined", []any{orders.Charge{OrderID: "o1", Key: payKey, AmountCents: -1, Token: orders.TokenOK, Attempt: 1}},
			[]string{orders.PaymentDeclinedV1}, saga.Permanent, "", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, res := run[orders.Payments](t, tt.cmds...)
			last := res[len(res)-1]
			require.NoError(t, last.err)
			require.Equal(t, tt.events, nilIfEmpty(types(last.events)))
			require.Equal(t, tt.failure, last.outcome.Failure)
			if tt.failure == "" {
				require.Equal(t, tt.status, output[orders.PaymentOutput](t, last.outcome).Status)
			}
			require.Equal(t, tt.charged, s.ChargedCents)
			require.LessOrEqual(t, s.Charges, 1)
		})
	}
	_, res := run[orders.Payments](t, orders.Send{})
	require.ErrorIs(t, res[0].err, orders.ErrUnknownCommand)
	require.Equal(t, saga.Permanent, orders.Payments{}.Answer(orders.Send{}).Failure)
}
