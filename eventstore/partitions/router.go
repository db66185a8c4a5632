package partitions

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"strconv"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// StreamName is the stream of the partitions' ticks and notes.
const StreamName = "PARTITIONS"

// MembersBucket is the key-value bucket where processes announce themselves.
const MembersBucket = "EVENTLINE_PROCESSES"

// priorityGroup is the consumers' one priority group.
const priorityGroup = "owner"

// streamMaxAge bounds how long a tick or a note waits for an owner: a note
// older than that is of no use (the owner that takes the partition over
// resumes everything of it from the log).
const streamMaxAge = time.Minute

// streamMaxBytes bounds the stream's memory.
const streamMaxBytes = 64 << 20

// Of returns the partition of key among count partitions (FNV-1a): the
// same in every process.
func Of(key string, count int) int {
	h := fnv.New32a()
	h.Write([]byte(key))
	return int(h.Sum32() % uint32(count))
}

// Router publishes notes to the owners of a group's partitions; it owns
// nothing itself (a process that starts sagas but does not drive them).
type Router struct {
	js    jetstream.JetStream
	group string
	count int
}

// NewRouter returns a router of group's count partitions over js, creating
// the stream (with replicas) when needed. The consumers are the owners'
// to create (Owner).
func NewRouter(ctx context.Context, js jetstream.JetStream, group string, count, replicas int) (*Router, error) {
	if count < 1 {
		return nil, fmt.Errorf("partitions %s: count %d: must be at least 1", group, count)
	}
	r := &Router{js: js, group: group, count: count}
	if _, err := r.stream(ctx, max(replicas, 1)); err != nil {
		return nil, fmt.Errorf("partitions %s: %w", group, err)
	}
	return r, nil
}

// Count returns the number of partitions.
func (r *Router) Count() int { return r.count }

// Of returns the partition of key.
func (r *Router) Of(key string) int { return Of(key, r.count) }

// Notify publishes data as a note on key to the owner of key's partition
// and waits until JetStream stored it. The owner gets the latest note of a
// key once; a note published while the partition has no owner waits for
// the next (at most a minute: that owner resumes the partition anyway).
func (r *Router) Notify(ctx context.Context, key string, data []byte) error {
	if _, err := r.js.Publish(ctx, r.noteSubject(r.Of(key), key), data); err != nil {
		return fmt.Errorf("note %s to partition %d: %w", key, r.Of(key), err)
	}
	return nil
}

func (r *Router) prefix(p int) string {
	return "partition." + r.group + "." + strconv.Itoa(p)
}

func (r *Router) tickSubject(p int) string { return r.prefix(p) + ".tick" }

func (r *Router) noteSubject(p int, key string) string { return r.prefix(p) + ".note." + key }

// consumerName is the durable name of partition p's consumer.
func (r *Router) consumerName(p int) string { return "partition_" + r.group + "_" + strconv.Itoa(p) }

// stream returns the stream, created or raised to replicas when needed
// (never lowered).
func (r *Router) stream(ctx context.Context, replicas int) (jetstream.Stream, error) {
	cfg := jetstream.StreamConfig{
		Name:              StreamName,
		Description:       "partition ownership: ticks and notes to owners",
		Subjects:          []string{"partition.>"},
		Retention:         jetstream.LimitsPolicy,
		Storage:           jetstream.MemoryStorage,
		Replicas:          replicas,
		MaxAge:            streamMaxAge,
		MaxBytes:          streamMaxBytes,
		MaxMsgsPerSubject: 1,
		Discard:           jetstream.DiscardOld,
		Duplicates:        5 * time.Second,
	}
	st, err := r.js.Stream(ctx, StreamName)
	switch {
	case errors.Is(err, jetstream.ErrStreamNotFound):
		st, err = r.js.CreateStream(ctx, cfg)
		if errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) {
			st, err = r.js.Stream(ctx, StreamName)
		}
		if err != nil {
			return nil, fmt.Errorf("create stream %s: %w", StreamName, err)
		}
	case err != nil:
		return nil, fmt.Errorf("stream %s: %w", StreamName, err)
	case st.CachedInfo().Config.Replicas < replicas:
		if st, err = r.js.UpdateStream(ctx, cfg); err != nil {
			return nil, fmt.Errorf("raise the replicas of stream %s: %w", StreamName, err)
		}
	}
	return st, nil
}

// consumers creates or updates the group's consumers, handing a pin on
// after ttl without a pull from its holder.
func (r *Router) consumers(ctx context.Context, st jetstream.Stream, ttl time.Duration) ([]jetstream.Consumer, error) {
	out := make([]jetstream.Consumer, r.count)
	for p := range r.count {
		c, err := st.CreateOrUpdateConsumer(ctx, jetstream.ConsumerConfig{
			Durable:        r.consumerName(p),
			Description:    fmt.Sprintf("owner of partition %d of %s", p, r.group),
			FilterSubject:  r.prefix(p) + ".>",
			DeliverPolicy:  jetstream.DeliverNewPolicy,
			AckPolicy:      jetstream.AckNonePolicy,
			PriorityPolicy: jetstream.PriorityPolicyPinned,
			PriorityGroups: []string{priorityGroup},
			PinnedTTL:      ttl,
		})
		if err != nil {
			return nil, fmt.Errorf("consumer of partition %d: %w", p, err)
		}
		out[p] = c
	}
	return out, nil
}
