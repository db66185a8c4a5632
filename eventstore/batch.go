package eventstore

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/cenkalti/backoff/v5"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/synadia-io/orbit.go/jetstreamext"
)

// MaxBatch is the most events one AppendBatch stores: the server's default
// limit on an atomic batch (ADR-50).
const MaxBatch = 1000

// maxBatchesInFlight bounds the atomic batches one Store has open at once,
// below the server's default of 50 open batches per stream.
const maxBatchesInFlight = 32

// ErrBatchDuplicate reports that an event of an atomic batch carried a
// dedupe id the stream has already stored (a retried batch): nothing of the
// batch was stored this time.
var ErrBatchDuplicate = errors.New("eventstore: batch already stored")

// Error codes of atomic batch publish (nats-server 2.12+; nats.go v1.55 has
// no names for them, jetstreamext names some).
const (
	codeBatchDuplicateMsgID  = jetstreamext.JSErrCodeBatchPublishDuplicateMsgID   // 10201
	codeBatchTooManyInflight = jetstreamext.JSErrCodeAtomicPublishTooManyInflight // 10210
)

// AppendBatch stores envs on subject atomically: either all of them, with
// consecutive stream sequences in order, or none. When expected is not
// NoExpectation the batch is stored only if the last message on subject has
// that stream sequence (0: none yet); otherwise it fails with ErrConflict and
// nothing is stored. opts apply to every event; a dedupe id set with
// WithDedupeID names the batch and event i (from 0) gets that id with ":i"
// appended after the first. A batch of one event is a plain Append; larger
// ones need StreamSpec.AllowAtomicPublish on the stream and at most MaxBatch
// events.
//
// The batch is sent with jetstreamext.PublishMsgBatch (orbit.go: nats.go
// v1.55 has no atomic batch API), which sets the Nats-Batch-Id,
// Nats-Batch-Sequence and Nats-Batch-Commit headers. Only the first message
// carries the expected sequence (ADR-50); the server checks it when the
// commit arrives, against the subject's state before the batch.
//
// Cost (nats-server 2.15, bench/command): on a replicas-3 stream the server
// stages a batch in memory and a 2-event batch costs about what one publish
// does; on a single-replica file stream it stages each batch in a file
// store of its own (created, synced and removed per batch, serialised per
// stream), so batches run at some hundreds per second on an ordinary disk.
// Single-event decisions never pay it.
func (s *Store) AppendBatch(ctx context.Context, subject string, expected int64, envs []Envelope, opts ...AppendOption) ([]Ack, error) {
	switch {
	case len(envs) == 0:
		return nil, nil
	case len(envs) == 1:
		ack, err := s.Append(ctx, subject, expected, envs[0], opts...)
		if err != nil {
			return nil, err
		}
		return []Ack{ack}, nil
	case len(envs) > MaxBatch:
		return nil, fmt.Errorf("append batch to %s: %d events, at most %d: %w", subject, len(envs), MaxBatch, ErrTooLarge)
	}
	msgs := make([]*nats.Msg, len(envs))
	for i, env := range envs {
		m, err := s.newMsg(subject, env, opts)
		if err != nil {
			return nil, fmt.Errorf("append batch to %s: event %d: %w", subject, i, err)
		}
		if id := m.Header.Get(jetstream.MsgIDHeader); i > 0 && id == msgs[0].Header.Get(jetstream.MsgIDHeader) {
			m.Header.Set(jetstream.MsgIDHeader, id+":"+strconv.Itoa(i))
		}
		if err := s.admit(subject, m); err != nil {
			return nil, err
		}
		msgs[i] = m
	}
	if expected != NoExpectation {
		msgs[0].Header.Set(jetstream.ExpectedLastSubjSeqHeader, strconv.FormatInt(expected, 10))
	}
	if !s.nc.IsConnected() {
		return nil, fmt.Errorf("append batch to %s: %w: not connected", subject, ErrUnavailable)
	}
	ack, err := s.publishBatch(ctx, msgs)
	if err != nil {
		return nil, classifyBatch(ctx, subject, err)
	}
	first := ack.Sequence - uint64(len(msgs)) + 1
	acks := make([]Ack, len(msgs))
	for i := range acks {
		acks[i] = Ack{Seq: first + uint64(i)}
	}
	return acks, nil
}

// publishBatch sends one atomic batch, waiting for a slot among this
// Store's open batches, and retries while the server has too many open
// batches on the stream (nothing was stored then).
func (s *Store) publishBatch(ctx context.Context, msgs []*nats.Msg) (*jetstreamext.BatchAck, error) {
	select {
	case s.batchSlots <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	defer func() { <-s.batchSlots }()
	// No ack on the first message: a small batch is sent in one go and the
	// commit's answer reports any problem with the batch.
	noFirstAck := jetstreamext.BatchFlowControl{AckFirst: false}
	var last error
	ack, _ := backoff.Retry(ctx, func() (*jetstreamext.BatchAck, error) {
		ack, err := jetstreamext.PublishMsgBatch(ctx, s.js, msgs, noFirstAck)
		var apiErr *jetstream.APIError
		if last = err; err != nil && (!errors.As(err, &apiErr) || apiErr.ErrorCode != codeBatchTooManyInflight) {
			return nil, backoff.Permanent(err)
		}
		return ack, err
	}, backoff.WithBackOff(&backoff.ExponentialBackOff{InitialInterval: time.Millisecond, RandomizationFactor: 0.5,
		Multiplier: 2, MaxInterval: 100 * time.Millisecond}), backoff.WithMaxElapsedTime(0))
	return ack, last // when ctx ends between tries too: the publish's own error
}

func classifyBatch(ctx context.Context, subject string, err error) error {
	var apiErr *jetstream.APIError
	if errors.As(err, &apiErr) && apiErr.ErrorCode == codeBatchDuplicateMsgID {
		return fmt.Errorf("append batch to %s: %w: %v", subject, ErrBatchDuplicate, err)
	}
	return classifyPublish(ctx, subject, err)
}
