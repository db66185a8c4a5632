package opsapi

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/eventline/eventline/eventstore"
	"github.com/eventline/eventline/eventstore/partitions"
	"github.com/eventline/eventline/platform/reactor"
	"github.com/eventline/eventline/projections"
)

// ErrUnknownStream reports a stream that does not exist.
var ErrUnknownStream = errors.New("unknown stream")

// StreamView is one stream as operators see it.
type StreamView struct {
	Name      string     `json:"name"`
	Subjects  []string   `json:"subjects"`
	Messages  uint64     `json:"messages"`
	Bytes     uint64     `json:"bytes"`
	FirstSeq  uint64     `json:"first_seq"`
	LastSeq   uint64     `json:"last_seq"`
	FirstTime *time.Time `json:"first_time"`
	LastTime  *time.Time `json:"last_time"`
	Deleted   int        `json:"deleted"`
	Consumers int        `json:"consumers"`

	// Replicas is the configured replica count (1 on a single server).
	Replicas int `json:"replicas"`
	// Cluster is the NATS cluster's name ("" on a single server).
	Cluster string `json:"cluster,omitempty"`
	// Leader is the server that leads the stream (a single server's own
	// name); "" when no leader answered.
	Leader string `json:"leader"`
	// LeaderSince is when the leader was elected (absent on a single server).
	LeaderSince *time.Time `json:"leader_since,omitempty"`
	// Peers are the servers holding a replica: the leader first, then the
	// followers by name.
	Peers []ReplicaView `json:"peers"`
	// Unavailable says why the stream has nothing but its name: it exists
	// but no leader answered (quorum lost, an election under way, or the
	// server holds it offline).
	Unavailable string `json:"unavailable,omitempty"`
}

// ReplicaView is one server holding a replica of a stream, as its leader
// sees it.
type ReplicaView struct {
	// Name is the server's name.
	Name string `json:"name"`
	// Leader is true for the stream's leader.
	Leader bool `json:"leader"`
	// Current is true when the replica is caught up with the leader.
	Current bool `json:"current"`
	// Offline is true when the cluster counts the server as gone.
	Offline bool `json:"offline"`
	// ActiveSeconds is how long ago the leader last heard from the
	// replica (0 for the leader itself).
	ActiveSeconds float64 `json:"active_seconds"`
	// Lag is how many replicated operations the replica is behind the leader.
	Lag uint64 `json:"lag"`
}

// leaderlessReason is StreamView.Unavailable of a stream whose leader did
// not answer.
const leaderlessReason = "no leader answered: quorum lost, an election under way, or the stream is offline"

// ConsumerView is one JetStream consumer, with the PostgreSQL checkpoint of
// the projection it feeds, if any.
type ConsumerView struct {
	Stream           string     `json:"stream"`
	Name             string     `json:"name"`
	Pending          uint64     `json:"pending"`
	AckPending       int        `json:"ack_pending"`
	Redelivered      int        `json:"redelivered"`
	Waiting          int        `json:"waiting"`
	LastDeliveredSeq uint64     `json:"last_delivered_seq"`
	AckFloorSeq      uint64     `json:"ack_floor_seq"`
	LastActive       *time.Time `json:"last_active"`
	// Projection is the projection the consumer feeds ("" when none).
	Projection string `json:"projection,omitempty"`
	// Reactor is the reactor the consumer feeds ("" when none).
	Reactor string `json:"reactor,omitempty"`
	// CheckpointSeq is that projection's checkpoint in PostgreSQL.
	CheckpointSeq *uint64 `json:"checkpoint_seq,omitempty"`
	// Drift is CheckpointSeq minus AckFloorSeq: positive while acks trail
	// commits (harmless, those events are redelivered and change nothing);
	// negative when JetStream holds acks for events PostgreSQL does not have
	// (for instance after restoring the database from a backup).
	Drift *int64 `json:"drift,omitempty"`
}

// Inspector reads streams, consumers and projection status.
type Inspector struct {
	js     jetstream.JetStream
	pool   *pgxpool.Pool
	reg    *projections.Registry
	status *projections.StatusReader
}

// NewInspector returns an inspector. pool may be nil for stream inspection only.
func NewInspector(js jetstream.JetStream, pool *pgxpool.Pool, reg *projections.Registry) *Inspector {
	return &Inspector{js: js, pool: pool, reg: reg, status: projections.NewStatusReader(js, pool)}
}

// Partitions reads every group of partitions (eventstore/partitions):
// the processes that take part, with their heartbeats, and the owner of
// each partition.
func (i *Inspector) Partitions(ctx context.Context) ([]partitions.View, error) {
	return partitions.InspectAll(ctx, i.js)
}

// StatusReader returns the reader behind Projections, to adjust thresholds
// or build a readiness check.
func (in *Inspector) StatusReader() *projections.StatusReader { return in.status }

// Streams lists every stream, by name.
func (in *Inspector) Streams(ctx context.Context) ([]StreamView, error) {
	out := []StreamView{}
	lister := in.js.ListStreams(ctx)
	listed := map[string]bool{}
	// A single server lists its streams without cluster info: it leads
	// them all, and it is the server this connection reached.
	local := in.js.Conn().ConnectedServerName()
	for info := range lister.Info() {
		out = append(out, streamView(info, local))
		listed[info.Config.Name] = true
	}
	if err := lister.Err(); err != nil {
		return nil, unavailable("list streams", err)
	}
	// The list leaves out a stream whose leader did not answer (or that
	// its server holds offline); the names come from the assignments.
	names := in.js.StreamNames(ctx)
	for n := range names.Name() {
		if !listed[n] {
			out = append(out, StreamView{Name: n, Subjects: []string{}, Peers: []ReplicaView{}, Unavailable: leaderlessReason})
		}
	}
	if err := names.Err(); err != nil {
		return nil, unavailable("list stream names", err)
	}
	slices.SortFunc(out, func(a, b StreamView) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

func streamView(info *jetstream.StreamInfo, local string) StreamView {
	v := StreamView{Name: info.Config.Name, Subjects: info.Config.Subjects, Messages: info.State.Msgs,
		Bytes: info.State.Bytes, FirstSeq: info.State.FirstSeq, LastSeq: info.State.LastSeq,
		Deleted: info.State.NumDeleted, Consumers: info.State.Consumers}
	if v.Subjects == nil {
		v.Subjects = []string{}
	}
	if !info.State.FirstTime.IsZero() && info.State.Msgs > 0 {
		ft, lt := info.State.FirstTime, info.State.LastTime
		v.FirstTime, v.LastTime = &ft, &lt
	}
	v.Replicas, v.Peers = max(info.Config.Replicas, 1), []ReplicaView{}
	if info.Cluster == nil && local != "" {
		v.Leader, v.Peers = local, []ReplicaView{{Name: local, Leader: true, Current: true}}
	}
	if ci := info.Cluster; ci != nil {
		v.Cluster, v.Leader, v.LeaderSince = ci.Name, ci.Leader, ci.LeaderSince
		if ci.Leader != "" {
			v.Peers = append(v.Peers, ReplicaView{Name: ci.Leader, Leader: true, Current: true})
		} else {
			// Every replica offline: the cluster lists the stream from
			// its assignment, with no state.
			v.Unavailable = leaderlessReason
		}
		// The answering server is the leader and lists the others.
		var followers []ReplicaView
		for _, p := range ci.Replicas {
			if p == nil {
				continue
			}
			followers = append(followers, ReplicaView{Name: p.Name, Current: p.Current, Offline: p.Offline,
				ActiveSeconds: p.Active.Seconds(), Lag: p.Lag})
		}
		slices.SortFunc(followers, func(a, b ReplicaView) int { return strings.Compare(a.Name, b.Name) })
		v.Peers = append(v.Peers, followers...)
	}
	return v
}

// Consumers lists the consumers of stream, or of every stream when stream is
// empty, by stream then name.
func (in *Inspector) Consumers(ctx context.Context, stream string) ([]ConsumerView, error) {
	var streams []string
	if stream != "" {
		if _, err := in.js.Stream(ctx, stream); err != nil {
			if errors.Is(err, jetstream.ErrStreamNotFound) {
				return nil, fmt.Errorf("%w: %s", ErrUnknownStream, stream)
			}
			return nil, unavailable("open stream "+stream, err)
		}
		streams = []string{stream}
	} else {
		names := in.js.StreamNames(ctx)
		for n := range names.Name() {
			streams = append(streams, n)
		}
		if err := names.Err(); err != nil {
			return nil, unavailable("list streams", err)
		}
	}
	out := []ConsumerView{}
	for _, s := range streams {
		st, err := in.js.Stream(ctx, s)
		if err != nil {
			return nil, unavailable("open stream "+s, err)
		}
		lister := st.ListConsumers(ctx)
		for ci := range lister.Info() {
			v, err := in.consumerView(ctx, ci)
			if err != nil {
				return nil, err
			}
			out = append(out, v)
		}
		if err := lister.Err(); err != nil {
			return nil, unavailable("list consumers of "+s, err)
		}
	}
	slices.SortFunc(out, func(a, b ConsumerView) int {
		if c := strings.Compare(a.Stream, b.Stream); c != 0 {
			return c
		}
		return strings.Compare(a.Name, b.Name)
	})
	return out, nil
}

func (in *Inspector) consumerView(ctx context.Context, ci *jetstream.ConsumerInfo) (ConsumerView, error) {
	v := ConsumerView{Stream: ci.Stream, Name: ci.Name, Pending: ci.NumPending, AckPending: ci.NumAckPending,
		Redelivered: ci.NumRedelivered, Waiting: ci.NumWaiting, LastDeliveredSeq: ci.Delivered.Stream,
		AckFloorSeq: ci.AckFloor.Stream, LastActive: ci.Delivered.Last}
	if name, ok := strings.CutPrefix(ci.Name, reactor.ConsumerPrefix); ok {
		v.Reactor = name
	}
	spec, ok := in.reg.ForConsumer(ci.Stream, ci.Name)
	if !ok || in.pool == nil {
		return v, nil
	}
	cp, err := projections.LoadCheckpoint(ctx, in.pool, spec.Name)
	if err != nil {
		return v, err
	}
	seq := cp.LastSeq
	drift := int64(cp.LastSeq) - int64(ci.AckFloor.Stream)
	v.Projection, v.CheckpointSeq, v.Drift = spec.Name, &seq, &drift
	return v, nil
}

// Projections returns the status of every registered projection.
func (in *Inspector) Projections(ctx context.Context) ([]projections.Status, error) {
	out, err := in.status.All(ctx, in.reg)
	if err != nil {
		return nil, unavailable("projection status", err)
	}
	if out == nil {
		out = []projections.Status{}
	}
	return out, nil
}

// unavailable marks JetStream connection trouble as eventstore.ErrUnavailable
// so that callers (and the HTTP layer) treat it as such.
func unavailable(op string, err error) error {
	if errors.Is(err, eventstore.ErrUnavailable) {
		return fmt.Errorf("%s: %w", op, err)
	}
	switch {
	case errors.Is(err, nats.ErrTimeout), errors.Is(err, nats.ErrNoResponders), errors.Is(err, nats.ErrConnectionClosed),
		errors.Is(err, nats.ErrDisconnected), errors.Is(err, jetstream.ErrJetStreamNotEnabled),
		errors.Is(err, context.DeadlineExceeded), errors.Is(err, nats.ErrNoServers):
		return fmt.Errorf("%s: %w: %v", op, eventstore.ErrUnavailable, err)
	}
	return fmt.Errorf("%s: %w", op, err)
}
