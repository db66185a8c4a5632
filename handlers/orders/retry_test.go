package orders

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/eventline/eventline/eventstore"
)

// retryUnavailable tries again only while the event store is unavailable,
// and returns f's own last error, also when ctx ends or the manager closes
// (which leaves f one try).
func TestRetryUnavailableReturnsTheLastErrorOfF(t *testing.T) {
	unavailable := fmt.Errorf("append: %w", eventstore.ErrUnavailable)
	refused := errors.New("refused")
	tests := []struct {
		name            string
		errs            []error // f's answers in turn; the last one repeats
		cancel, closing bool
		calls           int
		want            error
	}{
		{name: "succeeds after outages", errs: []error{unavailable, unavailable, nil}, calls: 3},
		{name: "another error stops it", errs: []error{unavailable, refused}, calls: 2, want: refused},
		{name: "ctx ended", errs: []error{unavailable}, cancel: true, calls: 1, want: unavailable},
		{name: "manager closing", errs: []error{unavailable}, closing: true, calls: 1, want: unavailable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			base, closeManager := context.WithCancel(context.Background())
			defer closeManager()
			m := &Manager{base: base}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			if tt.cancel {
				cancel()
			}
			if tt.closing {
				closeManager()
			}
			calls := 0
			err := m.retryUnavailable(ctx, func() error {
				calls++
				return tt.errs[min(calls, len(tt.errs))-1]
			})
			require.Equal(t, tt.want, err)
			require.Equal(t, tt.calls, calls)
		})
	}
}
