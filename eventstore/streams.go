package eventstore

import (
	"context"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// StreamSpec describes one event stream.
type StreamSpec struct {
	Name        string
	Subjects    []string
	Description string
}

// DuplicateWindow is how long JetStream remembers Nats-Msg-Id values to
// drop retried publishes.
const DuplicateWindow = 2 * time.Minute

// streamConfig is the one place that turns a spec into JetStream settings:
// an event log keeps everything (limits retention without limits), never
// allows deletes or purges, and is stored on disk.
func streamConfig(spec StreamSpec, replicas int) jetstream.StreamConfig {
	return jetstream.StreamConfig{
		Name:        spec.Name,
		Description: spec.Description,
		Subjects:    spec.Subjects,
		Retention:   jetstream.LimitsPolicy,
		MaxAge:      0,
		MaxMsgs:     -1,
		MaxBytes:    -1,
		Discard:     jetstream.DiscardOld,
		Storage:     jetstream.FileStorage,
		Replicas:    replicas,
		Duplicates:  DuplicateWindow,
		DenyDelete:  true,
		DenyPurge:   true,
		AllowDirect: true,
	}
}

// EnsureStreams creates or updates every stream of specs; running it again
// changes nothing.
func (s *Store) EnsureStreams(ctx context.Context, specs []StreamSpec) error {
	for _, spec := range specs {
		if _, err := s.js.CreateOrUpdateStream(ctx, streamConfig(spec, s.replicas)); err != nil {
			return classify(fmt.Sprintf("ensure stream %s", spec.Name), err)
		}
	}
	return nil
}
