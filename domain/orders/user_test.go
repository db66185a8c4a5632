package orders_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/eventline/eventline/domain/orders"
	"github.com/eventline/eventline/domain/saga"
)

func TestCreateUser(t *testing.T) {
	tests := []struct {
		name, user, email string
		ok                bool
	}{
		{"valid", "Ada", "ada@example.com", true},
		{"trimmed name", "  Ada  ", "ada@example.com", true},
		{"200 characters", strings.Repeat("é", 200), "ada@example.com", true},
		{"201 characters", strings.Repeat("é", 201), "ada@example.com", false},
		{"empty name", "  ", "ada@example.com", false},
		{"no at", "Ada", "ada.example.com", false},
		{"no local part", "Ada", "@example.com", false},
		{"no dot in domain", "Ada", "ada@localhost", false},
		{"dot at the end", "Ada", "ada@example.", false},
		{"two ats", "Ada", "a@b@example.com", false},
		{"space", "Ada", "ada lovelace@example.com", false},
		{"double dot", "Ada", "ada@example..com", false},
		{"bounce is a valid address", "Bo", "bo@bounce.test", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, res := run[orders.User](t, orders.CreateUser{UserID: "u1", Name: tt.user, Email: tt.email, Now: t0})
			if !tt.ok {
				require.ErrorIs(t, res[0].err, orders.ErrInvalid)
				require.False(t, s.Exists)
				return
			}
			require.NoError(t, res[0].err)
			require.Equal(t, []string{orders.UserCreatedV1}, types(res[0].events))
			require.Equal(t, strings.TrimSpace(tt.user), s.Name)
			require.Equal(t, tt.email, s.Email)
		})
	}
}

func TestCreateUserTwiceAndNoID(t *testing.T) {
	create := orders.CreateUser{UserID: "u1", Name: "Ada", Email: "ada@example.com", Now: t0}
	_, res := run[orders.User](t, create, create)
	require.ErrorIs(t, res[1].err, orders.ErrExists)
	_, res = run[orders.User](t, orders.CreateUser{Name: "Ada", Email: "ada@example.com"})
	require.ErrorIs(t, res[0].err, orders.ErrInvalid)
	_, res = run[orders.User](t, orders.Reserve{Key: "k"})
	require.ErrorIs(t, res[0].err, orders.ErrUnknownCommand)
	require.Equal(t, saga.Permanent, orders.User{}.Answer(orders.Reserve{}).Failure)
}

func TestValidateUser(t *testing.T) {
	_, res := run[orders.User](t, orders.ValidateUser{})
	require.Empty(t, res[0].events)
	require.Equal(t, saga.Permanent, res[0].outcome.Failure)
	require.Equal(t, "unknown user", res[0].outcome.Error)

	_, res = run[orders.User](t, orders.CreateUser{UserID: "u1", Name: "Ada", Email: "ada@example.com", Now: t0},
		orders.ValidateUser{}, orders.ValidateUser{})
	for _, r := range res[1:] {
		require.Empty(t, r.events, "validation records nothing")
		require.Equal(t, orders.UserOutput{UserID: "u1", Name: "Ada", Email: "ada@example.com"}, output[orders.UserOutput](t, r.outcome))
	}
	require.Equal(t, res[1].outcome, res[2].outcome)
}
