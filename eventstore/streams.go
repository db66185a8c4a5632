package eventstore

import (
	"context"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// Stream names and subjects of the event log.
const (
	// LogsStream holds write-behind log entries. All entries share one
	// subject so that the broker keeps no per-entry subject state.
	LogsStream = "LOGS"
	// LogsSubject is the single subject log entries are appended to.
	LogsSubject = "logs.entries"
)

// StreamSpec describes one event stream.
type StreamSpec struct {
	Name        string
	Subjects    []string
	Description string
}

// DefaultStreams lists the streams Eventline creates at start.
func DefaultStreams() []StreamSpec {
	return []StreamSpec{
		{Name: LogsStream, Subjects: []string{"logs.>"}, Description: "write-behind log entries"},
	}
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
