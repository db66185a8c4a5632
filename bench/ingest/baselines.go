package main

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/eventline/eventline/eventstore"
)

// Names of what the baselines create beside Eventline's own data.
const (
	rawStream  = "BENCH_RAW"
	rawSubject = "bench.raw"
	copyTable  = "bench_copy"
)

// rawResult is a baseline's throughput.
type rawResult struct {
	Messages int64         `json:"messages"`
	Items    int64         `json:"items"`
	Errors   int64         `json:"errors"`
	FirstErr string        `json:"first_error,omitempty"`
	Elapsed  time.Duration `json:"elapsed_ns"`
	IPS      float64       `json:"items_per_s"`
}

// rawPublisher publishes straight to JetStream, as a client that needs no
// HTTP, no validation and no envelope would: nats.go jetstream
// PublishAsync with a bounded number of publishes awaiting their ack.
type rawPublisher struct {
	nc *nats.Conn
	// small publishes one entry per message; big publishes whole batches,
	// with fewer in flight so that the baseline does not make the embedded
	// server buffer hundreds of MiB (it shares the measured RSS).
	small, big jetstream.JetStream
	errors     atomic.Int64
	firstErr   atomic.Pointer[string]
}

// newRawPublisher connects to the server's NATS and creates BENCH_RAW with
// the same storage settings as Eventline's LOGS stream (file storage,
// limits retention, 2-minute duplicate window), on a subject of its own.
func newRawPublisher(ctx context.Context, url string, creds eventstore.Credentials, inFlight, batchInFlight int) (*rawPublisher, error) {
	nc, err := nats.Connect(url, nats.Name("bench-raw"), nats.Timeout(5*time.Second), nats.UserInfo(creds.User, creds.Password))
	if err != nil {
		return nil, fmt.Errorf("connect to %s: %w", url, err)
	}
	p := &rawPublisher{nc: nc}
	onErr := jetstream.WithPublishAsyncErrHandler(func(_ jetstream.JetStream, _ *nats.Msg, err error) {
		p.errors.Add(1)
		msg := err.Error()
		p.firstErr.CompareAndSwap(nil, &msg)
	})
	p.small, err = jetstream.New(nc, jetstream.WithPublishAsyncMaxPending(inFlight),
		jetstream.WithPublishAsyncTimeout(30*time.Second), onErr)
	if err == nil {
		p.big, err = jetstream.New(nc, jetstream.WithPublishAsyncMaxPending(batchInFlight),
			jetstream.WithPublishAsyncTimeout(30*time.Second), onErr)
	}
	if err != nil {
		nc.Close()
		return nil, err
	}
	_, err = p.small.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name: rawStream, Subjects: []string{rawSubject}, Retention: jetstream.LimitsPolicy,
		MaxMsgs: -1, MaxBytes: -1, Storage: jetstream.FileStorage, Replicas: 1,
		Duplicates: 2 * time.Minute, Discard: jetstream.DiscardOld,
	})
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("create stream %s: %w", rawStream, err)
	}
	return p, nil
}

// publish sends msgs[i % len] for d (at most maxMsgs messages) and waits for
// every acknowledgement; itemsPer is how many log entries a message holds.
func (p *rawPublisher) publish(ctx context.Context, msgs [][]byte, itemsPer int, d time.Duration, maxMsgs int64) (rawResult, error) {
	js := p.small
	if itemsPer > 1 {
		js = p.big
	}
	p.errors.Store(0)
	p.firstErr.Store(nil)
	start := time.Now()
	deadline := start.Add(d)
	var n int64
	for n < maxMsgs && ctx.Err() == nil {
		if n%256 == 0 && time.Now().After(deadline) {
			break
		}
		if _, err := js.PublishAsync(rawSubject, msgs[n%int64(len(msgs))]); err != nil {
			if errors.Is(err, jetstream.ErrTooManyStalledMsgs) {
				continue // back-pressure from the in-flight bound: send it again
			}
			p.errors.Add(1)
			msg := err.Error()
			p.firstErr.CompareAndSwap(nil, &msg)
			if errors.Is(err, nats.ErrConnectionClosed) {
				return rawResult{}, err
			}
			continue
		}
		n++
	}
	select {
	case <-js.PublishAsyncComplete():
	case <-time.After(60 * time.Second):
		return rawResult{}, errors.New("raw publish: acknowledgements still missing after 60s")
	case <-ctx.Done():
		return rawResult{}, ctx.Err()
	}
	el := time.Since(start)
	errs := p.errors.Load()
	ok := n - errs
	res := rawResult{Messages: ok, Items: ok * int64(itemsPer), Errors: errs, Elapsed: el,
		IPS: float64(ok*int64(itemsPer)) / el.Seconds()}
	if e := p.firstErr.Load(); e != nil {
		res.FirstErr = *e
	}
	return res, nil
}

// close deletes BENCH_RAW (it is ours; LOGS is never touched) and closes.
func (p *rawPublisher) close(ctx context.Context) {
	_ = p.small.DeleteStream(ctx, rawStream)
	p.nc.Close()
}

// copyBaseline writes n rows like the projection's (same columns and
// values as the entries sent) into bench_copy, created LIKE log_entries
// INCLUDING ALL (same defaults and indexes), with one pgx CopyFrom, as the
// application role; superURL (the superuser's) only runs the CHECKPOINT
// before it.
func copyBaseline(ctx context.Context, pgURL, superURL string, entries []entry, n int64, perEvent int) (rawResult, error) {
	conn, err := pgx.Connect(ctx, pgURL)
	if err != nil {
		return rawResult{}, err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if _, err := conn.Exec(ctx, `DROP TABLE IF EXISTS `+copyTable); err != nil {
		return rawResult{}, err
	}
	if _, err := conn.Exec(ctx, `CREATE TABLE `+copyTable+` (LIKE log_entries INCLUDING ALL)`); err != nil {
		return rawResult{}, err
	}
	defer conn.Exec(context.WithoutCancel(ctx), `DROP TABLE IF EXISTS `+copyTable)
	// The drain started on a freshly started cluster (clean shared buffers);
	// flush what it left dirty so that the baseline starts as clean.
	if err := checkpoint(ctx, superURL); err != nil {
		return rawResult{}, err
	}
	cols := []string{"id", "seq", "level", "message", "context", "source", "received_at"}
	now := time.Now().UTC()
	var i int64
	row := make([]any, len(cols))
	src := pgx.CopyFromFunc(func() ([]any, error) {
		if i >= n {
			return nil, nil
		}
		e := entries[i%int64(len(entries))]
		row[0] = uuid.Must(uuid.NewV7())
		row[1] = i/int64(perEvent) + 1
		row[2] = e.Level
		row[3] = e.Message
		row[4] = []byte(e.Context)
		row[5] = e.Source
		row[6] = now.Add(time.Duration(i) * time.Microsecond)
		i++
		return row, nil
	})
	start := time.Now()
	got, err := conn.CopyFrom(ctx, pgx.Identifier{copyTable}, cols, src)
	el := time.Since(start)
	if err != nil {
		return rawResult{}, fmt.Errorf("copy into %s: %w", copyTable, err)
	}
	return rawResult{Messages: 1, Items: got, Elapsed: el, IPS: float64(got) / el.Seconds()}, nil
}

// checkpoint runs CHECKPOINT as the superuser (the application role may
// not).
func checkpoint(ctx context.Context, superURL string) error {
	conn, err := pgx.Connect(ctx, superURL)
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if _, err := conn.Exec(ctx, `CHECKPOINT`); err != nil {
		return fmt.Errorf("checkpoint before the raw COPY: %w", err)
	}
	return nil
}
