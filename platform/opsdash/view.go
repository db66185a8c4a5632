package opsdash

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/eventline/eventline/eventstore/partitions"
	"github.com/eventline/eventline/platform/dashboard"
	"github.com/eventline/eventline/platform/opsapi"
	"github.com/eventline/eventline/projections"
)

// Thresholds past which a row is highlighted.
const (
	// HighPending is the number of messages waiting for a consumer, or
	// events past a projection's checkpoint, that counts as high lag.
	HighPending = 1000
	// HighLagAge is the wait of a projection's oldest pending event that
	// counts as high lag.
	HighLagAge = projections.DefaultCatchingUpLag
)

// cardRows is how many rows the overview's card shows.
const cardRows = 5

// streamRow is one stream as the page shows it: Replicas and Leader, then
// a line per follower; Bad marks a stream without a leader or with a
// replica offline or behind.
type streamRow struct {
	Name, Subjects, Messages, Bytes, FirstSeq, LastSeq, Consumers, Span string
	Replicas, Leader, Unavailable                                       string
	Followers                                                           []followerCell
	Bad                                                                 bool
}

// followerCell is one follower replica of a stream: its name, state
// (current, catching up, offline) and when the leader last heard from it.
type followerCell struct {
	Name, State, Seen, Lag string
	Bad                    bool
}

// consumerRow is one consumer as the page shows it; Hot marks high lag.
type consumerRow struct {
	Stream, Name, Feeds, Pending, AckPending, Redelivered, Waiting, LastActive string
	Hot, Redelivering                                                          bool
}

// projectionRow is one projection as the page shows it; Hot marks high
// lag, Bad parked events or a state that needs an operator.
type projectionRow struct {
	Name, Stream, Checkpoint, StreamLast, Lag, LagAge, Rows, Parked, State, Reason, Moved string
	Hot, Bad                                                                              bool
}

// lagRow is one line of the overview's card.
type lagRow struct {
	Kind, Name, Stream, Lag string
	Hot                     bool
	lag                     uint64
}

// lagCard is the overview card's data.
type lagCard struct {
	Rows         []lagRow
	Consumers    int
	Projections  int
	Behind       int
	Tracked      int
	TotalPending string
	Parked       int
}

func count[T ~int | ~int64 | ~uint64](n T) string { return dashboard.FormatCount(int64(n)) }

func streamRows(all []opsapi.StreamView) []streamRow {
	out := make([]streamRow, 0, len(all))
	for _, s := range all {
		row := streamRow{Name: s.Name, Subjects: strings.Join(s.Subjects, " "), Messages: count(s.Messages),
			Bytes: dashboard.FormatBytes(s.Bytes), FirstSeq: count(s.FirstSeq), LastSeq: count(s.LastSeq),
			Consumers: count(s.Consumers), Span: "—", Replicas: count(s.Replicas), Leader: s.Leader,
			Unavailable: s.Unavailable, Bad: s.Unavailable != "" || s.Leader == ""}
		if s.FirstTime != nil && s.LastTime != nil {
			row.Span = dashboard.FormatTime(*s.FirstTime) + " → " + dashboard.FormatTime(*s.LastTime)
		}
		if s.Unavailable != "" {
			row.Subjects, row.Messages, row.Bytes, row.FirstSeq, row.LastSeq, row.Consumers, row.Replicas =
				"—", "—", "—", "—", "—", "—", "—"
		}
		for _, p := range s.Peers {
			if p.Leader {
				continue
			}
			f := followerCell{Name: p.Name, State: "current", Lag: count(p.Lag),
				Seen: dashboard.Ago(time.Duration(p.ActiveSeconds * float64(time.Second)))}
			if f.Seen != "just now" {
				f.Seen += " ago"
			}
			switch {
			case p.Offline:
				f.State, f.Bad = "offline", true
			case !p.Current:
				f.State, f.Bad = "catching up", true
			}
			row.Bad = row.Bad || f.Bad
			row.Followers = append(row.Followers, f)
		}
		out = append(out, row)
	}
	return out
}

func consumerRows(all []opsapi.ConsumerView, now time.Time) []consumerRow {
	out := make([]consumerRow, 0, len(all))
	for _, c := range all {
		row := consumerRow{Stream: c.Stream, Name: c.Name, Pending: count(c.Pending), AckPending: count(c.AckPending),
			Redelivered: count(c.Redelivered), Waiting: count(c.Waiting), LastActive: "never",
			Hot: c.Pending >= HighPending || c.AckPending >= HighPending, Redelivering: c.Redelivered > 0}
		switch {
		case c.Projection != "":
			row.Feeds = "projection " + c.Projection
		case c.Reactor != "":
			row.Feeds = "reactor " + c.Reactor
		}
		if c.LastActive != nil && !c.LastActive.IsZero() {
			row.LastActive = ago(now.Sub(*c.LastActive))
		}
		out = append(out, row)
	}
	return out
}

func projectionRows(all []projections.Status) []projectionRow {
	out := make([]projectionRow, 0, len(all))
	for _, s := range all {
		row := projectionRow{Name: s.Name, Stream: s.Stream, Checkpoint: count(s.CheckpointSeq),
			StreamLast: count(s.StreamLastSeq), Lag: count(s.LagEvents), LagAge: "", Rows: count(s.Rows),
			Parked: count(s.Parked), State: s.State, Reason: s.Reason, Moved: "never",
			Hot: lagging(s), Bad: s.Parked > 0 || needsOperator(s.State)}
		if s.LagSeconds > 0 {
			row.LagAge = dashboard.Ago(time.Duration(s.LagSeconds * float64(time.Second)))
		}
		if s.HeldAggregates > 0 {
			row.Parked += fmt.Sprintf(" (%s held)", count(s.HeldAggregates))
		}
		if s.CheckpointAt != nil {
			row.Moved = ago(time.Since(*s.CheckpointAt))
		}
		out = append(out, row)
	}
	return out
}

// lagging reports a projection far behind its stream.
func lagging(s projections.Status) bool {
	return s.LagEvents >= HighPending || s.LagSeconds >= HighLagAge.Seconds()
}

// needsOperator reports a state that does not heal by itself.
func needsOperator(state string) bool {
	return state != projections.StateRunning && state != projections.StateCatchingUp
}

// topLag returns the card's data: the n consumers and projections with
// the most pending events (a projection's consumer is shown once, as the
// projection), with the totals.
func topLag(cons []opsapi.ConsumerView, projs []projections.Status, n int) lagCard {
	card := lagCard{Consumers: len(cons), Projections: len(projs)}
	var rows []lagRow
	var total uint64
	for _, p := range projs {
		rows = append(rows, lagRow{Kind: "projection", Name: p.Name, Stream: p.Stream, lag: p.LagEvents,
			Hot: lagging(p) || p.Parked > 0 || needsOperator(p.State)})
		if p.Parked > 0 {
			card.Parked++
		}
	}
	for _, c := range cons {
		total += c.Pending
		if c.Projection != "" {
			continue
		}
		rows = append(rows, lagRow{Kind: "consumer", Name: c.Name, Stream: c.Stream, lag: c.Pending,
			Hot: c.Pending >= HighPending})
	}
	card.Tracked = len(rows)
	for _, r := range rows {
		if r.lag > 0 {
			card.Behind++
		}
	}
	slices.SortStableFunc(rows, func(a, b lagRow) int {
		if c := cmp.Compare(b.lag, a.lag); c != 0 {
			return c
		}
		return cmp.Compare(a.Name, b.Name)
	})
	if len(rows) > n {
		rows = rows[:n]
	}
	for i := range rows {
		rows[i].Lag = count(rows[i].lag)
	}
	card.Rows, card.TotalPending = rows, count(total)
	return card
}

// partitionGroup is one group of partitions on the page: its processes and
// the owner of each partition.
type partitionGroup struct {
	Group     string
	Processes []processRow
	Owners    []ownerCell
	Unowned   int
}

// processRow is one process that takes part in a group.
type processRow struct {
	ID, Status, Host, Roles, Started, Heartbeat, Partitions string
	Gone                                                    bool
}

// ownerCell is one partition and its owner ("" when no live process).
type ownerCell struct {
	Partition int
	Owner     string
}

// liveHeartbeat is how recent a process's heartbeat must be to count as
// alive: about when the server would hand its partitions on.
const liveHeartbeat = partitions.DefaultPinnedTTL

// partitionRows turns the groups read into the page's rows at now.
func partitionRows(views []partitions.View, now time.Time) []partitionGroup {
	out := make([]partitionGroup, 0, len(views))
	for _, v := range views {
		g := partitionGroup{Group: v.Group}
		live := map[string]bool{}
		for _, m := range v.Members {
			alive := now.Sub(m.Heartbeat) <= liveHeartbeat
			live[m.ID] = alive
			status := "alive"
			if !alive {
				status = "gone"
			}
			g.Processes = append(g.Processes, processRow{ID: m.ID, Status: status, Host: m.Host, Roles: strings.Join(m.Roles, ", "),
				Started: ago(now.Sub(m.Started)), Heartbeat: ago(now.Sub(m.Heartbeat)),
				Partitions: fmt.Sprint(len(m.Owned)), Gone: !alive})
		}
		for _, p := range v.Partition {
			owner := p.Owner
			if !live[owner] {
				owner = ""
				g.Unowned++
			}
			g.Owners = append(g.Owners, ownerCell{Partition: p.Partition, Owner: owner})
		}
		out = append(out, g)
	}
	return out
}

// ago says how long ago something was d: "just now", "5 s ago".
func ago(d time.Duration) string {
	if s := dashboard.Ago(d); s != "just now" {
		return s + " ago"
	}
	return "just now"
}
