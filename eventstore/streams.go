package eventstore

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// StreamSpec describes one event stream.
type StreamSpec struct {
	// Name is the stream's name.
	Name string
	// Subjects are the subjects the stream stores.
	Subjects []string
	// Description is shown by `eventline streams` and server tools.
	Description string
	// AllowAtomicPublish lets AppendBatch store several events at once
	// (ADR-50): an aggregate's multi-event decisions need it.
	AllowAtomicPublish bool
	// AllowMsgSchedules lets appends carry durable timers (WithScheduleAt,
	// ADR-51). The server then requires roll-ups and allows purges on the
	// stream, and the setting can never be turned off again: give timers a
	// stream of their own rather than enabling it on an event log.
	AllowMsgSchedules bool
	// MaxAge, when set, drops messages older than it. Only for transport
	// streams (commands that a durable timer re-issues if lost), never for
	// an event log, which keeps everything.
	MaxAge time.Duration
	// MaxBytes, when positive, drops the oldest messages once the stream
	// holds more bytes than it. Like MaxAge, never for an event log; logs
	// are insert-only read-model input and may carry both (retention).
	MaxBytes int64
	// Duplicates, when set, is how long JetStream remembers message ids to
	// drop a retried publish (DuplicateWindow when 0). JetStream keeps
	// every id of the window in memory: a stream of many small appends that
	// are guarded otherwise (an expected sequence, an idempotent consumer)
	// needs only the seconds a client's own retry takes.
	Duplicates time.Duration
	// MediumBlocks stores the stream in 4 MiB blocks instead of the 8 MiB
	// JetStream gives a stream without limits. For the saga's streams it cut
	// serve's CPU per saga by about a tenth under load (docs/CHANGELOG.md,
	// issue 12, seventh session). JetStream has no block size setting: a
	// limit per subject, set too high to ever be reached (maxPerSubject),
	// makes it choose 4 MiB.
	MediumBlocks bool
}

// maxPerSubject is the per-subject limit of a stream with MediumBlocks: 2^40
// messages on one subject, which no aggregate reaches.
const maxPerSubject = 1 << 40

// DuplicateWindow is how long JetStream remembers Nats-Msg-Id values to
// drop retried publishes.
const DuplicateWindow = 2 * time.Minute

// maxBytes is a spec's byte limit as JetStream takes it (-1: none).
func maxBytes(n int64) int64 {
	if n <= 0 {
		return -1
	}
	return n
}

// streamConfig is the one place that turns a spec into JetStream settings:
// an event log keeps everything (limits retention without limits), never
// allows deletes or purges, and is stored on disk.
func streamConfig(spec StreamSpec, replicas int) jetstream.StreamConfig {
	var perSubject int64
	if spec.MediumBlocks {
		perSubject = maxPerSubject
	}
	return jetstream.StreamConfig{
		Name:        spec.Name,
		Description: spec.Description,
		Subjects:    spec.Subjects,
		Retention:   jetstream.LimitsPolicy,
		MaxAge:      spec.MaxAge,
		MaxMsgs:     -1,
		MaxBytes:    maxBytes(spec.MaxBytes),
		Discard:     jetstream.DiscardOld,
		Storage:     jetstream.FileStorage,
		Replicas:    replicas,
		Duplicates:  cmp.Or(spec.Duplicates, DuplicateWindow),
		DenyDelete:  true,
		AllowDirect: directGets(replicas),
		// Never reached; set only for the block size (MediumBlocks).
		MaxMsgsPerSubject: perSubject,
		// Schedules require roll-ups, which the server pairs with purges.
		AllowRollup:        spec.AllowMsgSchedules,
		DenyPurge:          !spec.AllowMsgSchedules,
		AllowAtomicPublish: spec.AllowAtomicPublish,
		AllowMsgSchedules:  spec.AllowMsgSchedules,
	}
}

// directGets reports whether a stream of replicas copies allows direct
// gets. A direct get ($JS.API.DIRECT.GET) is answered by any replica that
// subscribed to them, picked at random for a client's request (client.go
// processMsgResults: a queue group's routed member is as good as a local
// one), and a
// follower applies a write only once the leader has told it the write is
// committed, which may be after the writer got its acknowledgement; a
// follower that restarts serves direct gets once 90% caught up
// (nats-server 2.15.2, stream.go subscribeToDirect, jetstream_cluster.go
// monitorStream). So on a replicated stream a load right after an append
// could miss it ("no such saga"). Without direct gets, GetMsg asks
// $JS.API.STREAM.MSG.GET, which only the stream's leader answers, and the
// leader stored every write it acknowledged. With one replica there is no
// one else to ask, and the direct get is the cheaper path: a get from the
// leader costs about twice a direct get (+100–150 µs on this machine,
// BenchmarkLoadOnCluster), the price of reading one's writes on R3.
func directGets(replicas int) bool { return replicas <= 1 }

// ErrReplicasMismatch reports an existing stream with more replicas than
// configured: EnsureStreams never lowers a stream's replicas by itself.
var ErrReplicasMismatch = errors.New("eventstore: stream has more replicas than configured")

// CheckReplicas returns ErrReplicasMismatch, naming the stream and both
// counts, when stream exists with more replicas than configured: what
// creates or updates a key-value or object store bucket (whose stream is
// KV_<bucket> or OBJ_<bucket>) calls it first, so that a bucket, like a
// stream, is raised to the configured replicas and never silently lowered.
// A missing stream is no mismatch.
func CheckReplicas(ctx context.Context, js jetstream.JetStream, stream string, replicas int) error {
	st, err := js.Stream(ctx, stream)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		return nil
	}
	if err != nil {
		return classify("stream "+stream, err)
	}
	if cur := st.CachedInfo().Config.Replicas; cur > max(replicas, 1) {
		return fmt.Errorf("stream %s has %d replicas, configured %d (EVENTLINE_STREAM_REPLICAS): %w",
			stream, cur, replicas, ErrReplicasMismatch)
	}
	return nil
}

// EnsureStreams creates or updates every stream of specs; running it again
// changes nothing. An existing stream keeps its replicas unless more are
// configured (an upgrade); fewer are refused with ErrReplicasMismatch, so
// that pointing a single-replica configuration at a cluster never silently
// drops copies of the log.
func (s *Store) EnsureStreams(ctx context.Context, specs []StreamSpec) error {
	for _, spec := range specs {
		st, err := s.js.Stream(ctx, spec.Name)
		switch {
		case err == nil:
			if cur := st.CachedInfo().Config.Replicas; cur > s.replicas {
				return fmt.Errorf("ensure stream %s: it has %d replicas, configured %d (EVENTLINE_STREAM_REPLICAS): %w",
					spec.Name, cur, s.replicas, ErrReplicasMismatch)
			}
		case !errors.Is(err, jetstream.ErrStreamNotFound):
			return classify(fmt.Sprintf("ensure stream %s", spec.Name), err)
		}
		if _, err := s.js.CreateOrUpdateStream(ctx, streamConfig(spec, s.replicas)); err != nil {
			return classify(fmt.Sprintf("ensure stream %s", spec.Name), err)
		}
		// A handle cached before holds the old setting of direct gets.
		s.streams.Delete(spec.Name)
		s.enableGroupCommit(spec)
	}
	return nil
}
