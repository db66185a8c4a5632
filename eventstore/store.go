package eventstore

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/url"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Header names Eventline sets on every appended message.
const (
	// HeaderType carries the envelope's event type so that readers can filter
	// without decoding the body.
	HeaderType = "Eventline-Type"
	// HeaderCount carries how many items a grouped event holds (log entries).
	HeaderCount = "Eventline-Count"
)

// NoExpectation disables the optimistic concurrency check of Append.
const NoExpectation int64 = -1

// Options configures a connection to JetStream.
type Options struct {
	// URL is a NATS URL or a comma-separated list of them; a user and
	// password or a token may be written into it (nats://user:pass@host).
	URL string
	// Credentials authenticate the connection (none when zero).
	Credentials Credentials
	// Name is the client name shown in server monitoring.
	Name string
	// Replicas is the replica count for streams this store creates (1 when 0).
	Replicas int
	// Process, when set, names the process in a HeaderProcess header of
	// every message it appends: a saga's history says which process drove
	// each step.
	Process string
	// MaxAsyncPending bounds async publishes in flight (4096 when 0).
	MaxAsyncPending int
	// FailFast makes Connect fail at once when no server answers, instead
	// of retrying in the background (for command-line tools).
	FailFast bool
	// Logger receives connection state changes.
	Logger *slog.Logger
	// InProcess, when set, connects to a server running in this process
	// through memory instead of its TCP listener (URL is then only named
	// in logs): no socket and no syscalls between the two.
	InProcess nats.InProcessConnProvider
	// GroupCommit groups the single appends to streams that allow atomic
	// publish (groupcommit.go).
	GroupCommit GroupCommit
	// ElectionWait is how long an append waits for a stream that no server
	// answers for before it fails with ErrUnavailable: a replicated
	// stream whose leader died has none until its peers elect another
	// (nats-server 2.15.2: a heartbeat missed, then a 4–9 s election
	// timeout, raft.go). Nothing was stored then, so waiting is safe, and
	// a write sent during the election is stored late instead of refused
	// (503). 0: DefaultElectionWait with Replicas > 1, and the client's
	// own 0.5 s on one replica, where no election comes (no answer there
	// means JetStream itself is down); negative: the client's own always.
	ElectionWait time.Duration
}

// DefaultElectionWait is Options.ElectionWait on replicated streams: most
// elections (4.5–5.7 s measured here after a leader's kill -9), and less
// than the 10 s an async append waits for its acknowledgement (the log
// ingest's AckTimeout), so that an append is never still being retried
// after its caller was told it failed.
const DefaultElectionWait = 8 * time.Second

// electionRetryWait is how often an append waiting out an election asks again.
const electionRetryWait = 250 * time.Millisecond

// Store appends events to and reads events from JetStream.
type Store struct {
	nc       *nats.Conn
	js       jetstream.JetStream
	replicas int
	process  string
	guard    WriteGuard // asked before each append when set
	// batchSlots bounds the atomic batches open at once (AppendBatch).
	batchSlots chan struct{}
	streams    sync.Map // stream name → jetstream.Stream, for loads
	// publishOpts are every single append's (Options.ElectionWait).
	publishOpts []jetstream.PublishOpt
	// group commit (groupcommit.go): one committer per stream.
	group      GroupCommit
	groupMu    sync.RWMutex
	committers []*committer
}

// Connect dials NATS and returns a Store. The connection reconnects forever;
// publishes while disconnected fail at once with ErrUnavailable instead of
// being buffered, so no caller waits on a write that may never happen. A
// refused login fails Connect at once (nats.ErrAuthorization in the chain),
// and no error or log line shows a password or token of the URL.
func Connect(ctx context.Context, o Options) (*Store, error) {
	logger := o.Logger
	if logger == nil {
		logger = slog.Default()
	}
	if o.Replicas == 0 {
		o.Replicas = 1
	}
	if o.MaxAsyncPending == 0 {
		o.MaxAsyncPending = 4096
	}
	opts := append([]nats.Option{
		nats.Name(o.Name),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(250 * time.Millisecond),
		nats.ReconnectBufSize(-1),
		nats.Timeout(3 * time.Second),
		// A refused login on reconnect (credentials changed on the server)
		// is retried like any other failure instead of closing for good.
		nats.IgnoreAuthErrorAbort(),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			if err != nil { // nil: we closed the connection ourselves
				logger.Warn("nats disconnected", "err", err)
			}
		}),
		nats.ReconnectHandler(func(c *nats.Conn) {
			logger.Info("nats reconnected", "url", RedactURL(c.ConnectedUrl()))
		}),
	}, o.Credentials.natsOptions()...)
	if o.InProcess != nil {
		opts = append(opts, nats.InProcessServer(o.InProcess))
	}
	// The first attempt fails at once on a refused login or an unreadable
	// credentials file: waiting cannot fix those. A server that is not up
	// yet is waited for in the background unless FailFast.
	nc, err := nats.Connect(o.URL, append(opts, nats.RetryOnFailedConnect(false))...)
	if err != nil && !o.FailFast && !isAuthError(err) {
		nc, err = nats.Connect(o.URL, append(opts, nats.RetryOnFailedConnect(true))...)
	}
	if err != nil {
		var urlErr *url.Error
		if errors.As(err, &urlErr) { // it quotes the whole URL, secrets included
			return nil, fmt.Errorf("connect to nats at %s: invalid URL: %w", RedactURL(o.URL), urlErr.Err)
		}
		return nil, classify("connect to nats at "+RedactURL(o.URL), err)
	}
	js, err := jetstream.New(nc, jetstream.WithPublishAsyncMaxPending(o.MaxAsyncPending),
		jetstream.WithPublishAsyncTimeout(10*time.Second))
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("jetstream context: %w", err)
	}
	o.GroupCommit.defaults()
	st := &Store{nc: nc, js: js, replicas: o.Replicas, process: o.Process, batchSlots: make(chan struct{}, maxBatchesInFlight),
		group: o.GroupCommit}
	if o.ElectionWait == 0 && o.Replicas > 1 {
		o.ElectionWait = DefaultElectionWait
	}
	if o.ElectionWait > 0 {
		// The client asks again on "no responders" only: nothing stored.
		st.publishOpts = []jetstream.PublishOpt{jetstream.WithRetryWait(electionRetryWait),
			jetstream.WithRetryAttempts(int(o.ElectionWait / electionRetryWait))}
	}
	return st, nil
}

// isAuthError reports whether err is a refused login or a credentials
// problem, which no retry fixes.
func isAuthError(err error) bool {
	var pathErr *fs.PathError
	return errors.Is(err, nats.ErrAuthorization) || errors.Is(err, nats.ErrAuthExpired) ||
		errors.Is(err, nats.ErrAuthRevoked) || errors.Is(err, nats.ErrAccountAuthExpired) ||
		errors.As(err, &pathErr)
}

// Close drains pending async publishes and closes the connection.
func (s *Store) Close() {
	select {
	case <-s.js.PublishAsyncComplete():
	case <-time.After(5 * time.Second):
	}
	s.nc.Close()
}

// JetStream exposes the underlying client for consumers and inspection.
func (s *Store) JetStream() jetstream.JetStream { return s.js }

// Conn exposes the underlying NATS connection.
func (s *Store) Conn() *nats.Conn { return s.nc }

// MaxPayload is the largest message the connected server accepts.
func (s *Store) MaxPayload() int64 { return s.nc.MaxPayload() }

// Replicas returns the replica count this store gives the streams and
// buckets it creates (Options.Replicas).
func (s *Store) Replicas() int { return s.replicas }

// Connected reports whether the connection is currently up.
func (s *Store) Connected() bool { return s.nc.IsConnected() }

// Ping checks that JetStream answers within ctx.
func (s *Store) Ping(ctx context.Context) error {
	if !s.nc.IsConnected() {
		return fmt.Errorf("ping jetstream: %w: not connected", ErrUnavailable)
	}
	_, err := s.js.AccountInfo(ctx)
	return classify("ping jetstream", err)
}

// AppendOption adjusts one append.
type AppendOption func(*nats.Msg)

// WithHeader sets a message header.
func WithHeader(key, value string) AppendOption {
	return func(m *nats.Msg) { m.Header.Set(key, value) }
}

// WithCount records how many items a grouped event holds.
func WithCount(n int) AppendOption {
	return WithHeader(HeaderCount, strconv.Itoa(n))
}

// WithDedupeID replaces the default publish dedupe id (the event id), e.g.
// with one derived from a client's idempotency key.
func WithDedupeID(id string) AppendOption {
	return func(m *nats.Msg) { m.Header.Set(jetstream.MsgIDHeader, id) }
}

// WithScheduleAt makes the appended message a durable timer (ADR-51): the
// stream stores it as a schedule and, at t (whole seconds, UTC), publishes a
// copy of its body and headers to the subject named by WithScheduleTarget.
// The stream needs StreamSpec.AllowMsgSchedules and must hold the target
// subject too. A timer that fires late or twice must change nothing, so the
// fired event should be judged like any command (expected sequence).
func WithScheduleAt(t time.Time) AppendOption {
	return WithHeader(jetstream.ScheduleHeader, "@at "+t.UTC().Format(time.RFC3339))
}

// WithScheduleTarget names the subject a timer set with WithScheduleAt
// fires on; it must differ from the subject the timer is appended to.
func WithScheduleTarget(subject string) AppendOption {
	return WithHeader(jetstream.ScheduleTargetHeader, subject)
}

// Ack is JetStream's confirmation of a stored event.
type Ack struct {
	// Seq is the stream sequence of the event.
	Seq uint64
	// Duplicate is true when the dedupe id was seen before: nothing new was
	// stored and Seq is the original's.
	Duplicate bool
}

// HeaderProcess names the process that appended a message (Options.Process).
const HeaderProcess = "Eventline-Process"

func (s *Store) newMsg(subject string, env Envelope, opts []AppendOption) (*nats.Msg, error) {
	body, err := env.Marshal()
	if err != nil {
		return nil, err
	}
	m := &nats.Msg{Subject: subject, Data: body, Header: nats.Header{}}
	m.Header.Set(jetstream.MsgIDHeader, env.ID.String())
	m.Header.Set(HeaderType, env.Type)
	if s.process != "" {
		m.Header.Set(HeaderProcess, s.process)
	}
	for _, o := range opts {
		o(m)
	}
	return m, nil
}

// Append stores one event on subject and returns once JetStream has stored
// it. When expected is not NoExpectation, the append only succeeds if the
// last message on subject has that stream sequence (0: no message yet);
// otherwise it fails with ErrConflict.
func (s *Store) Append(ctx context.Context, subject string, expected int64, env Envelope, opts ...AppendOption) (Ack, error) {
	m, err := s.newMsg(subject, env, opts)
	if err != nil {
		return Ack{}, fmt.Errorf("append to %s: %w", subject, err)
	}
	if err := s.admit(subject, m); err != nil {
		return Ack{}, err
	}
	if c := s.committerFor(subject); c != nil {
		it, err := c.submit(ctx, subject, m, expected)
		if err != nil {
			return Ack{}, err
		}
		return c.wait(ctx, it)
	}
	popts := s.publishOpts
	if expected != NoExpectation {
		popts = append(slices.Clip(popts), jetstream.WithExpectLastSequencePerSubject(uint64(expected)))
	}
	ack, err := s.js.PublishMsg(ctx, m, popts...)
	if err != nil {
		return Ack{}, classifyPublish(ctx, subject, err)
	}
	return Ack{Seq: ack.Sequence, Duplicate: ack.Duplicate}, nil
}

func classifyPublish(ctx context.Context, subject string, err error) error {
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) ||
		errors.Is(err, nats.ErrReconnectBufExceeded) {
		return fmt.Errorf("append to %s: %w: %v", subject, ErrUnavailable, err)
	}
	return classify("append to "+subject, err)
}

// Pending is an async append awaiting its acknowledgement.
type Pending struct {
	subject string
	f       jetstream.PubAckFuture
	// or, under group commit, its place in a group.
	c  *committer
	it *groupItem
}

// AppendAsync starts storing env on subject without waiting; Wait on the
// result before telling anyone the event is stored. The number of appends in
// flight is bounded (Options.MaxAsyncPending): past it, AppendAsync blocks.
func (s *Store) AppendAsync(subject string, env Envelope, opts ...AppendOption) (*Pending, error) {
	m, err := s.newMsg(subject, env, opts)
	if err != nil {
		return nil, fmt.Errorf("append to %s: %w", subject, err)
	}
	if !s.nc.IsConnected() {
		return nil, fmt.Errorf("append to %s: %w: not connected", subject, ErrUnavailable)
	}
	if err := s.admit(subject, m); err != nil {
		return nil, err
	}
	if c := s.committerFor(subject); c != nil {
		it, err := c.submit(context.Background(), subject, m, NoExpectation)
		if err != nil {
			return nil, err
		}
		return &Pending{subject: subject, c: c, it: it}, nil
	}
	f, err := s.js.PublishMsgAsync(m, s.publishOpts...)
	if err != nil {
		return nil, classifyPublish(context.Background(), subject, err)
	}
	return &Pending{subject: subject, f: f}, nil
}

// Wait blocks until the append is stored, failed, or ctx ends.
func (p *Pending) Wait(ctx context.Context) (Ack, error) {
	if p.c != nil {
		return p.c.wait(ctx, p.it)
	}
	select {
	case ack := <-p.f.Ok():
		return Ack{Seq: ack.Sequence, Duplicate: ack.Duplicate}, nil
	case err := <-p.f.Err():
		return Ack{}, classifyPublish(ctx, p.subject, err)
	case <-ctx.Done():
		return Ack{}, fmt.Errorf("append to %s: %w: %v", p.subject, ErrUnavailable, ctx.Err())
	}
}

// Stored is an event as read back from a stream.
type Stored struct {
	Stream   string
	Subject  string
	Seq      uint64
	Time     time.Time
	Header   nats.Header
	Envelope Envelope
}

// Get reads the message at seq of stream.
func (s *Store) Get(ctx context.Context, stream string, seq uint64) (*jetstream.RawStreamMsg, error) {
	st, err := s.js.Stream(ctx, stream)
	if err != nil {
		return nil, classify("open stream "+stream, err)
	}
	m, err := st.GetMsg(ctx, seq)
	if err != nil {
		return nil, classify(fmt.Sprintf("get %s #%d", stream, seq), err)
	}
	return m, nil
}

// Load reads every event of one aggregate's subject in order and returns
// them with the subject's last stream sequence to pass as the next
// Append's expectation (0 when empty).
func (s *Store) Load(ctx context.Context, stream, subject string) ([]Stored, int64, error) {
	return s.LoadAfter(ctx, stream, subject, 0)
}

// LoadAfter is Load for the events of subject with a stream sequence above
// after only: what a holder of the aggregate's state as of after is
// missing. The sequence returned is the subject's last (after when nothing
// is newer). A subject with no newer event costs one direct get.
func (s *Store) LoadAfter(ctx context.Context, stream, subject string, after uint64) ([]Stored, int64, error) {
	var out []Stored
	last, err := s.LoadEach(ctx, stream, subject, after, func(ev Stored) error {
		out = append(out, ev)
		return nil
	})
	if err != nil {
		return nil, 0, err
	}
	return out, last, nil
}

// directLoads is how many events LoadEach reads with direct gets before it
// reads the rest of a long history with an ordered consumer. A direct get
// is one round trip per event and creates nothing on the server, the
// cheapest way to the few events of most aggregates; a stream read costs a
// few round trips to set up, then a few µs per event (20,000 events: 1.6 s
// by direct gets, 0.1 s read, BenchmarkLoadLongHistory).
const directLoads = 16

// LoadEach passes the events of subject with a stream sequence above after
// to fn in order, holding none of them, and returns the subject's last
// sequence (after when nothing is newer). The events appended to subject
// while it reads may or may not be passed: the returned sequence says up
// to where. An error of fn ends the load and is returned.
func (s *Store) LoadEach(ctx context.Context, stream, subject string, after uint64, fn func(Stored) error) (int64, error) {
	st, err := s.stream(ctx, stream)
	if err != nil {
		return 0, err
	}
	last := after
	for range directLoads {
		m, err := st.GetMsg(ctx, last+1, jetstream.WithGetMsgSubject(subject))
		if err != nil {
			if errors.Is(err, jetstream.ErrMsgNotFound) {
				return int64(last), nil
			}
			if errors.Is(err, jetstream.ErrStreamNotFound) {
				s.streams.Delete(stream)
			}
			return 0, classify("load "+subject, err)
		}
		env, err := UnmarshalEnvelope(m.Data)
		if err != nil {
			return 0, fmt.Errorf("load %s #%d: %w", subject, m.Sequence, err)
		}
		if err := fn(Stored{Stream: stream, Subject: m.Subject, Seq: m.Sequence, Time: m.Time, Header: m.Header, Envelope: env}); err != nil {
			return 0, err
		}
		last = m.Sequence
	}
	// A long history: the rest in one stream read.
	err = s.Read(ctx, stream, ReadOptions{FromSeq: last + 1, Subjects: []string{subject}}, func(ev RawEvent) error {
		env, err := UnmarshalEnvelope(ev.Data)
		if err != nil {
			return fmt.Errorf("load %s #%d: %w", subject, ev.Seq, err)
		}
		if err := fn(Stored{Stream: stream, Subject: ev.Subject, Seq: ev.Seq, Time: ev.Time, Header: ev.Header, Envelope: env}); err != nil {
			return err
		}
		last = ev.Seq
		return nil
	})
	if err != nil {
		return 0, err
	}
	return int64(last), nil
}

// stream returns a handle on the named stream, looked up once: its cached
// configuration tells GetMsg to use direct gets.
func (s *Store) stream(ctx context.Context, name string) (jetstream.Stream, error) {
	if st, ok := s.streams.Load(name); ok {
		return st.(jetstream.Stream), nil
	}
	st, err := s.js.Stream(ctx, name)
	if err != nil {
		return nil, classify("open stream "+name, err)
	}
	s.streams.Store(name, st)
	return st, nil
}
