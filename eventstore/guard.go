package eventstore

import (
	"fmt"

	"github.com/nats-io/nats.go"
)

// WriteGuard admits or refuses an append of about n bytes before it is sent
// (natsserver.DiskGuard is the one the embedded server comes with).
type WriteGuard interface {
	Admit(n int64) error
}

// SetWriteGuard makes Append and AppendAsync ask g before sending anything.
// Call it before the first append.
func (s *Store) SetWriteGuard(g WriteGuard) { s.guard = g }

// admit asks the guard, if any, whether m may be sent.
func (s *Store) admit(subject string, m *nats.Msg) error {
	if s.guard == nil {
		return nil
	}
	n := int64(len(m.Subject) + len(m.Data) + 512) // headers and record framing
	if err := s.guard.Admit(n); err != nil {
		return fmt.Errorf("append to %s: %w", subject, err)
	}
	return nil
}
