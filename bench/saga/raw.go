package main

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"strings"

	"github.com/eventline/eventline/eventstore"
)

// The raw baseline: the floor cost of recording a saga's events here —
// ten sequential publishes on the saga's own subject, each awaiting its
// acknowledgement, with plain nats.go jetstream on the serve process's own
// embedded nats-server, into a stream of its own created with the event
// streams' settings (eventstore.EnsureStreams: file storage, limits, the
// duplicate window, and the saga streams' 4 MiB blocks).
const (
	rawStream       = "BENCH_SAGA_RAW"
	rawSubject      = "benchsaga."
	publishesPerRaw = 10
	rawPayloadBytes = 256
)

// rawSagas publishes the raw baseline's sagas.
type rawSagas struct {
	store   *eventstore.Store
	payload []byte
}

// newRawSagas connects to the embedded server at url and creates the
// baseline's stream.
func newRawSagas(ctx context.Context, url string, creds eventstore.Credentials) (*rawSagas, error) {
	store, err := eventstore.Connect(ctx, eventstore.Options{URL: url, Credentials: creds, Name: "bench-saga-raw",
		FailFast: true, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		return nil, fmt.Errorf("connect to the embedded nats-server: %w", err)
	}
	if err := store.EnsureStreams(ctx, []eventstore.StreamSpec{{Name: rawStream, Subjects: []string{rawSubject + ">"},
		Description: "bench/saga raw baseline", MediumBlocks: true}}); err != nil {
		store.Close()
		return nil, fmt.Errorf("create stream %s: %w", rawStream, err)
	}
	payload := []byte(`{"saga_id":"0000000000000000","step":"reserve_inventory","pad":"` +
		strings.Repeat("x", rawPayloadBytes) + `"}`)[:rawPayloadBytes]
	return &rawSagas{store: store, payload: payload}, nil
}

// saga publishes raw saga n's ten events one after the other.
func (r *rawSagas) saga(ctx context.Context, _, n int) (string, error) {
	subject := rawSubject + strconv.Itoa(n)
	js := r.store.JetStream()
	for range publishesPerRaw {
		if _, err := js.Publish(ctx, subject, r.payload); err != nil {
			return "", fmt.Errorf("raw publish: %w", err)
		}
	}
	return "completed", nil
}

// close deletes the baseline's stream (serve's streams are never touched)
// and disconnects.
func (r *rawSagas) close(ctx context.Context) {
	_ = r.store.JetStream().DeleteStream(ctx, rawStream)
	r.store.Close()
}
