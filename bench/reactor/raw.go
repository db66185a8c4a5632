package main

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/eventline/eventline/eventstore"
)

// The raw baseline: the same hop with plain nats.go jetstream — a pull
// consumer receives a message, a goroutine publishes the next one and
// waits for its ack, then acks the message — and no envelope, router or
// middleware. Payload: "n/max/t0".

// rawConsume consumes subject through a fresh durable consumer, calling
// handle for each message in its own goroutine (as the reactor runtime
// does), until the returned stop is called.
func rawConsume(ctx context.Context, store *eventstore.Store, name, subject string, handle func(jetstream.Msg)) (func(), error) {
	cons, err := store.JetStream().CreateOrUpdateConsumer(ctx, benchStream, jetstream.ConsumerConfig{
		Durable: name, FilterSubject: subject, AckPolicy: jetstream.AckExplicitPolicy,
		MaxAckPending: benchPolicy.MaxAckPending, AckWait: benchPolicy.AckWait,
	})
	if err != nil {
		return nil, err
	}
	it, err := cons.Messages(jetstream.PullMaxMessages(500))
	if err != nil {
		return nil, err
	}
	go func() {
		for {
			msg, err := it.Next()
			if errors.Is(err, jetstream.ErrMsgIteratorClosed) {
				return
			}
			if err != nil {
				continue
			}
			go handle(msg)
		}
	}()
	return it.Stop, nil
}

func parseRaw(b []byte) (n, max int, t0 int64) {
	parts := strings.SplitN(string(b), "/", 3)
	if len(parts) != 3 {
		return 0, 0, 0
	}
	n, _ = strconv.Atoi(parts[0])
	max, _ = strconv.Atoi(parts[1])
	t0, _ = strconv.ParseInt(parts[2], 10, 64)
	return n, max, t0
}

func rawPayload(n, max int, t0 int64) []byte {
	return []byte(strconv.Itoa(n) + "/" + strconv.Itoa(max) + "/" + strconv.FormatInt(t0, 10))
}

// rawThroughput is reactorThroughput's baseline.
func rawThroughput(ctx context.Context, store *eventstore.Store, chains, hops int, tag string) (float64, error) {
	perChain := hops / chains
	total := int64(perChain * chains)
	var done atomic.Int64
	finished := make(chan struct{})
	js := store.JetStream()
	stop, err := rawConsume(ctx, store, "rawbench_"+tag, "raw."+tag+".>", func(m jetstream.Msg) {
		n, max, _ := parseRaw(m.Data())
		if n >= max {
			_ = m.Ack()
			return
		}
		if _, err := js.Publish(ctx, m.Subject(), rawPayload(n+1, max, 0)); err != nil {
			_ = m.Nak()
			return
		}
		_ = m.Ack()
		if done.Add(1) == total {
			close(finished)
		}
	})
	if err != nil {
		return 0, err
	}
	defer stop()
	start := time.Now()
	for c := range chains {
		if _, err := js.Publish(ctx, "raw."+tag+"."+strconv.Itoa(c), rawPayload(0, perChain, 0)); err != nil {
			return 0, err
		}
	}
	if err := wait(ctx, finished, &done, total); err != nil {
		return 0, fmt.Errorf("raw throughput: %w", err)
	}
	return float64(total) / time.Since(start).Seconds(), nil
}

// rawPaced is reactorPaced's baseline.
func rawPaced(ctx context.Context, store *eventstore.Store, rate int, d time.Duration) (latency, error) {
	var rec recorder
	js := store.JetStream()
	stop, err := rawConsume(ctx, store, "rawbench_paced", "raw.l", func(m jetstream.Msg) {
		_, _, t0 := parseRaw(m.Data())
		if _, err := js.Publish(ctx, "rawdone.l", rawPayload(1, 1, 0)); err != nil {
			_ = m.Nak()
			return
		}
		rec.add(time.Since(time.Unix(0, t0)))
		_ = m.Ack()
	})
	if err != nil {
		return latency{}, err
	}
	defer stop()
	n := pace(ctx, rate, d, func() error {
		_, err := js.Publish(ctx, "raw.l", rawPayload(0, 1, time.Now().UnixNano()))
		return err
	})
	return rec.summary(ctx, n)
}
