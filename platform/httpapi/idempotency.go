package httpapi

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/cenkalti/backoff/v5"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/eventline/eventline/eventstore"
)

// IdempotencyBucket is the JetStream key-value bucket that remembers the
// answers to writes sent with an Idempotency-Key.
const IdempotencyBucket = "EVENTLINE_IDEMPOTENCY"

// IdempotencyTTL is how long a key's answer is remembered.
const IdempotencyTTL = 24 * time.Hour

// Bounds of the idempotency bucket: the answers it holds grow with what
// clients send, so under pressure the oldest keys are forgotten before
// their 24 hours are up (a retry of such a key appends again).
const (
	// DefaultIdempotencyMaxKeys bounds the keys remembered (the server
	// keeps some state in memory per key).
	DefaultIdempotencyMaxKeys = 100_000
	// IdempotencyMaxBytes bounds the bucket's size on disk.
	IdempotencyMaxBytes = 256 << 20
)

// inProgressStale is how long a key may stay "in progress" before another
// request may take it over (its first holder crashed).
const inProgressStale = 30 * time.Second

// Response is what a write handler answers: status, JSON body and the stream
// sequence of its last event (X-Eventline-Seq).
type Response struct {
	Status int
	Body   any
	Seq    uint64
}

type record struct {
	State       string          `json:"state"` // in_progress | done
	Fingerprint string          `json:"fingerprint"`
	StartedAt   time.Time       `json:"started_at"`
	Status      int             `json:"status,omitempty"`
	Body        json.RawMessage `json:"body,omitempty"`
	Seq         uint64          `json:"seq,omitempty"`
}

// Idempotency replays the first answer to a write retried with the same
// Idempotency-Key. Keys live in JetStream, so every process sees them and
// they survive restarts; PostgreSQL being down does not stop writes.
type Idempotency struct {
	kv jetstream.KeyValue
	// releasing bounds the claims being released in the background
	// (release): one per request that failed while JetStream was not
	// answering.
	releasing chan struct{}
}

// maxReleasing bounds Idempotency.releasing; past it a failed request's
// claim is left to go stale (inProgressStale), as before.
const maxReleasing = 1024

// NewIdempotency opens (creating when needed) the idempotency bucket with
// replicas copies (1 when 0), remembering at most maxKeys keys
// (DefaultIdempotencyMaxKeys when 0): past it, or past IdempotencyMaxBytes,
// the oldest keys are dropped. Like the streams, an existing bucket with
// fewer replicas is raised and one with more is refused
// (eventstore.ErrReplicasMismatch): a write with a key depends on the
// bucket, which must survive what the log survives. On a replicated bucket
// a key is read from its leader, so that a retry sees the answer stored by
// the first request (a follower may not have it yet). Errors of a cluster
// not ready yet satisfy eventstore.NotReady.
func NewIdempotency(ctx context.Context, js jetstream.JetStream, replicas int, maxKeys int64) (*Idempotency, error) {
	if replicas == 0 {
		replicas = 1
	}
	if maxKeys <= 0 {
		maxKeys = DefaultIdempotencyMaxKeys
	}
	stream := "KV_" + IdempotencyBucket
	if err := eventstore.CheckReplicas(ctx, js, stream, replicas); err != nil {
		return nil, fmt.Errorf("idempotency bucket: %w", err)
	}
	if _, err := js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket: IdempotencyBucket, Description: "answers to writes sent with an Idempotency-Key",
		History: 1, TTL: IdempotencyTTL, Storage: jetstream.FileStorage, Replicas: replicas,
		MaxBytes: IdempotencyMaxBytes,
	}); err != nil {
		return nil, fmt.Errorf("idempotency bucket: %w", err)
	}
	// A key-value bucket refuses writes when full; a cache should forget
	// its oldest entries instead, and bound their count too. And a bucket
	// always allows direct gets, answered by any replica.
	st, err := js.Stream(ctx, stream)
	if err != nil {
		return nil, fmt.Errorf("idempotency bucket stream: %w", err)
	}
	cfg := st.CachedInfo().Config
	direct := replicas == 1
	if cfg.MaxMsgs != maxKeys || cfg.Discard != jetstream.DiscardOld || cfg.AllowDirect != direct {
		cfg.MaxMsgs, cfg.Discard, cfg.AllowDirect = maxKeys, jetstream.DiscardOld, direct
		if _, err := js.UpdateStream(ctx, cfg); err != nil {
			return nil, fmt.Errorf("bound idempotency bucket: %w", err)
		}
	}
	// Bound after the update: its reads follow the stream's direct gets.
	kv, err := js.KeyValue(ctx, IdempotencyBucket)
	if err != nil {
		return nil, fmt.Errorf("idempotency bucket: %w", err)
	}
	return &Idempotency{kv: kv, releasing: make(chan struct{}, maxReleasing)}, nil
}

// Handler handles a write. dedupeID is non-empty when the request carries an
// Idempotency-Key: appends should use it as their publish dedupe id, so that
// a retry that takes over from a crashed first attempt stores nothing twice.
type Handler func(ctx context.Context, dedupeID string) (Response, error)

// Do runs h at most once per (scope, Idempotency-Key) and writes its answer;
// without a key it just runs h. A key reused with a different body is
// refused with 422; a key whose first request is still running gets 409.
func (s *Idempotency) Do(w http.ResponseWriter, r *http.Request, scope string, body []byte, h Handler) {
	key := r.Header.Get("Idempotency-Key")
	if key == "" {
		resp, err := h(r.Context(), "")
		writeResponse(w, r, resp, err, false)
		return
	}
	if len(key) > 255 {
		WriteError(w, r, &Error{Status: http.StatusBadRequest, Code: "invalid_idempotency_key", Message: "Idempotency-Key must be at most 255 characters.", Field: "Idempotency-Key"})
		return
	}
	sum := sha256.Sum256([]byte(scope + "\x00" + key))
	k := hex.EncodeToString(sum[:])
	fsum := sha256.Sum256(body)
	fp := hex.EncodeToString(fsum[:])
	ctx := r.Context()
	for range 3 {
		rev, replay, err := s.claim(ctx, k, fp)
		if errors.Is(err, errRaced) {
			continue
		}
		if err != nil {
			WriteError(w, r, err)
			return
		}
		if replay != nil {
			writeResponse(w, r, Response{Status: replay.Status, Body: replay.Body, Seq: replay.Seq}, nil, true)
			return
		}
		resp, herr := h(ctx, "idem-"+k[:32])
		if herr != nil {
			s.release(k, rev)
			writeResponse(w, r, resp, herr, false)
			return
		}
		b, _ := json.Marshal(resp.Body)
		done, _ := json.Marshal(record{State: "done", Fingerprint: fp, StartedAt: time.Now(), Status: resp.Status, Body: b, Seq: resp.Seq})
		if _, err := s.update(context.WithoutCancel(ctx), k, done, rev); err != nil {
			// The write is stored; only the memo failed. A retry will take
			// over after inProgressStale and be deduplicated by the log.
			WriteErrorLog(r, "remember idempotent answer", err)
		}
		writeResponse(w, r, resp, nil, false)
		return
	}
	WriteError(w, r, &Error{Status: http.StatusConflict, Code: "idempotency_conflict", Message: "Concurrent requests with this Idempotency-Key; retry."})
}

// release gives up this request's claim on key k (revision rev): the
// request failed, and the client's retry must be handled, not told 409
// request_in_progress. The failure is often JetStream itself not answering
// (a node died, the bucket elects a leader), and then so does the delete:
// it is tried again in the background until it succeeds, the claim is no
// longer ours (another request took it over), or inProgressStale has
// passed, when a retry takes the claim over anyway.
func (s *Idempotency) release(k string, rev uint64) {
	del := func() (struct{}, error) {
		ctx, cancel := context.WithTimeout(context.Background(), releaseTryTimeout)
		defer cancel()
		err := s.kv.Delete(ctx, k, jetstream.LastRevision(rev))
		var apiErr *jetstream.APIError
		if errors.As(err, &apiErr) && apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence {
			return struct{}{}, backoff.Permanent(err) // taken over meanwhile
		}
		return struct{}{}, err
	}
	if _, err := del(); err == nil {
		return
	}
	select {
	case s.releasing <- struct{}{}:
	default:
		return // too many already: this one goes stale
	}
	go func() {
		defer func() { <-s.releasing }()
		_, _ = backoff.Retry(context.Background(), del,
			backoff.WithBackOff(&backoff.ExponentialBackOff{InitialInterval: 100 * time.Millisecond, Multiplier: 2, MaxInterval: 2 * time.Second}),
			backoff.WithMaxElapsedTime(inProgressStale))
	}()
}

// releaseTryTimeout bounds one try of release's delete.
const releaseTryTimeout = 2 * time.Second

var errRaced = errors.New("idempotency key raced")

// claim returns the revision of an in_progress record this request now owns,
// or the finished record to replay.
func (s *Idempotency) claim(ctx context.Context, k, fp string) (uint64, *record, error) {
	in, _ := json.Marshal(record{State: "in_progress", Fingerprint: fp, StartedAt: time.Now()})
	entry, err := s.kv.Get(ctx, k)
	if errors.Is(err, jetstream.ErrKeyNotFound) || errors.Is(err, jetstream.ErrKeyDeleted) {
		rev, err := s.kv.Create(ctx, k, in)
		if errors.Is(err, jetstream.ErrKeyExists) {
			return 0, nil, errRaced
		}
		if err != nil {
			return 0, nil, fmt.Errorf("%w: idempotency key: %v", eventstore.ErrUnavailable, err)
		}
		return rev, nil, nil
	}
	if err != nil {
		return 0, nil, fmt.Errorf("%w: idempotency key: %v", eventstore.ErrUnavailable, err)
	}
	var rec record
	if err := json.Unmarshal(entry.Value(), &rec); err != nil {
		return 0, nil, fmt.Errorf("idempotency record: %w", err)
	}
	if rec.Fingerprint != fp {
		return 0, nil, &Error{Status: http.StatusUnprocessableEntity, Code: "idempotency_key_reused",
			Message: "This Idempotency-Key was used with a different request body.", Field: "Idempotency-Key"}
	}
	if rec.State == "done" {
		return 0, &rec, nil
	}
	if time.Since(rec.StartedAt) < inProgressStale {
		return 0, nil, &Error{Status: http.StatusConflict, Code: "request_in_progress",
			Message: "A request with this Idempotency-Key is still being processed; retry shortly.", RetryAfter: 1}
	}
	rev, err := s.update(ctx, k, in, entry.Revision())
	if err != nil {
		return 0, nil, errRaced
	}
	return rev, nil, nil
}

// update writes key k if its last revision is still rev. A replicated
// bucket acknowledges a write before it clears the key's in-process mark
// (nats-server v2.15.2 jetstream_cluster.go: processJetStreamMsg answers,
// then expectedPerSubjectInProcess is cleared), and refuses a write of the
// same key that arrives in between with 10164 although the revision
// matches: the claim's memo, sent as soon as the handler answers, met it
// on a loaded machine, and the answer was not remembered. Such a refusal
// is tried again for up to updateInProcessFor; any other error (10071: the
// key has moved on) is final.
func (s *Idempotency) update(ctx context.Context, k string, value []byte, rev uint64) (uint64, error) {
	return backoff.Retry(ctx, func() (uint64, error) {
		r, err := s.kv.Update(ctx, k, value, rev)
		if err != nil && !inProcess(err) {
			return 0, backoff.Permanent(err)
		}
		return r, err
	}, backoff.WithBackOff(&backoff.ExponentialBackOff{InitialInterval: 2 * time.Millisecond, Multiplier: 2, MaxInterval: 100 * time.Millisecond}),
		backoff.WithMaxElapsedTime(updateInProcessFor))
}

// updateInProcessFor bounds how long update waits for an earlier write of
// the same key to be applied.
const updateInProcessFor = 2 * time.Second

// inProcess reports whether err is JetStream's answer that an earlier
// write of the same subject is still being applied (10164 on a replicated
// stream), not that the expected revision is wrong (10071).
func inProcess(err error) bool {
	var apiErr *jetstream.APIError
	return errors.As(err, &apiErr) && apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequenceConstant
}

func writeResponse(w http.ResponseWriter, r *http.Request, resp Response, err error, replayed bool) {
	if err != nil {
		WriteError(w, r, err)
		return
	}
	if resp.Seq > 0 {
		w.Header().Set("X-Eventline-Seq", strconv.FormatUint(resp.Seq, 10))
	}
	if replayed {
		w.Header().Set("Idempotent-Replayed", "true")
	}
	WriteJSON(w, resp.Status, resp.Body)
}
