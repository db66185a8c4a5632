package partitions

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// Member is a process's announcement in MembersBucket, put every Tick
// under the key <group>.<process id>.
type Member struct {
	ID        string    `json:"id"`
	Group     string    `json:"group"`
	Host      string    `json:"host,omitempty"`
	PID       int       `json:"pid,omitempty"`
	Roles     []string  `json:"roles,omitempty"`
	Started   time.Time `json:"started"`
	Heartbeat time.Time `json:"heartbeat"`
	// Count is the group's number of partitions as this process has it.
	Count int `json:"count"`
	// Owned lists the partitions the process owns; Pins their pin ids
	// (by partition), which the consumers' info names.
	Owned []int          `json:"owned"`
	Pins  map[int]string `json:"pins,omitempty"`
}

// membersMaxAge drops an announcement nobody refreshed (a process killed):
// readers judge liveness by Heartbeat much sooner.
const membersMaxAge = time.Minute

// membersBucket returns the bucket of announcements, created (in memory,
// with replicas) when missing.
func membersBucket(ctx context.Context, js jetstream.JetStream, replicas int) (jetstream.KeyValue, error) {
	kv, err := js.KeyValue(ctx, MembersBucket)
	if err == nil {
		return kv, nil
	}
	if !errors.Is(err, jetstream.ErrBucketNotFound) {
		return nil, fmt.Errorf("bucket %s: %w", MembersBucket, err)
	}
	kv, err = js.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: MembersBucket,
		Description: "eventline processes and the partitions they own", History: 1, TTL: membersMaxAge,
		Storage: jetstream.MemoryStorage, Replicas: replicas})
	if errors.Is(err, jetstream.ErrBucketExists) {
		return js.KeyValue(ctx, MembersBucket)
	}
	if err != nil {
		return nil, fmt.Errorf("create bucket %s: %w", MembersBucket, err)
	}
	return kv, nil
}

func (o *Owner) memberKey() string { return o.cfg.Group + "." + o.cfg.ProcessID }

// announce puts this process's announcement.
func (o *Owner) announce(ctx context.Context) {
	m := Member{ID: o.cfg.ProcessID, Group: o.cfg.Group, Host: o.cfg.Host, PID: o.cfg.PID, Roles: o.cfg.Roles,
		Started: o.started.UTC(), Heartbeat: time.Now().UTC(), Count: o.cfg.Count, Owned: []int{}, Pins: map[int]string{}}
	o.mu.Lock()
	for p, s := range o.parts {
		if s.owned {
			m.Owned = append(m.Owned, p)
			m.Pins[p] = s.pin
		}
	}
	o.mu.Unlock()
	data, err := json.Marshal(m)
	if err == nil {
		actx, cancel := context.WithTimeout(ctx, o.cfg.Tick)
		_, err = o.kv.Put(actx, o.memberKey(), data)
		cancel()
	}
	if err != nil && ctx.Err() == nil {
		o.log.Debug("announce process", "err", err)
	}
}

// watchMembers keeps o.members up to date with the other processes of the
// group, restarting the watch when it fails.
func (o *Owner) watchMembers(ctx context.Context) {
	for ctx.Err() == nil {
		w, err := o.kv.Watch(ctx, o.cfg.Group+".*")
		if err != nil {
			o.log.Debug("watch processes", "err", err)
			select {
			case <-ctx.Done():
			case <-time.After(o.cfg.Tick):
			}
			continue
		}
		for e := range w.Updates() {
			if e == nil {
				continue // the initial values are in
			}
			id := strings.TrimPrefix(e.Key(), o.cfg.Group+".")
			if id == o.cfg.ProcessID {
				continue
			}
			o.mu.Lock()
			if e.Operation() != jetstream.KeyValuePut {
				delete(o.members, id)
			} else {
				var m Member
				if json.Unmarshal(e.Value(), &m) == nil {
					if _, known := o.members[id]; !known && m.Count > 0 && m.Count != o.cfg.Count {
						o.log.Warn("a process counts the partitions differently: give every process the same count",
							"group", o.cfg.Group, "process", id, "its_count", m.Count, "ours", o.cfg.Count)
					}
					o.members[id] = seenMember{m: m, seen: time.Now()}
				}
			}
			o.mu.Unlock()
		}
		_ = w.Stop()
	}
}

// View is what Inspect reads of a group: the processes announced and the
// owner of each partition.
type View struct {
	Group     string      `json:"group"`
	Members   []Member    `json:"processes"`
	Partition []Partition `json:"partitions"`
}

// Partition is one partition as its consumer and the announcements tell.
type Partition struct {
	Partition int `json:"partition"`
	// Owner is the process whose announced pin is the consumer's pinned
	// client ("" when none is pinned or nobody announced the pin).
	Owner string `json:"owner"`
	// PinnedSince is when the server pinned the owner.
	PinnedSince time.Time `json:"pinned_since,omitzero"`
	// Pending is the messages (ticks, notes) waiting for an owner.
	Pending uint64 `json:"pending"`
}

// Inspect reads group's processes and partitions: an operator's view.
// Every announcement is returned, fresh or not (Heartbeat says).
func Inspect(ctx context.Context, js jetstream.JetStream, group string) (View, error) {
	v := View{Group: group}
	kv, err := js.KeyValue(ctx, MembersBucket)
	if errors.Is(err, jetstream.ErrBucketNotFound) {
		return v, nil
	}
	if err != nil {
		return v, fmt.Errorf("bucket %s: %w", MembersBucket, err)
	}
	keys, err := kv.ListKeysFiltered(ctx, group+".*")
	if err != nil {
		return v, fmt.Errorf("list processes: %w", err)
	}
	byPin := map[string]string{}
	for key := range keys.Keys() {
		e, err := kv.Get(ctx, key)
		if err != nil {
			continue // withdrawn meanwhile
		}
		var m Member
		if json.Unmarshal(e.Value(), &m) != nil {
			continue
		}
		for _, pin := range m.Pins {
			byPin[pin] = m.ID
		}
		v.Members = append(v.Members, m)
	}
	slices.SortFunc(v.Members, func(a, b Member) int { return strings.Compare(a.ID, b.ID) })
	st, err := js.Stream(ctx, StreamName)
	if err != nil {
		return v, fmt.Errorf("stream %s: %w", StreamName, err)
	}
	// As many partitions as the newest process announces (a count
	// lowered leaves consumers behind that nobody pulls on); else every
	// consumer there is.
	count, newest := -1, time.Time{}
	for _, m := range v.Members {
		if m.Count > 0 && m.Heartbeat.After(newest) {
			count, newest = m.Count, m.Heartbeat
		}
	}
	for p := 0; count < 0 || p < count; p++ {
		c, err := st.Consumer(ctx, "partition_"+group+"_"+strconv.Itoa(p))
		if errors.Is(err, jetstream.ErrConsumerNotFound) {
			break
		}
		if err != nil {
			return v, fmt.Errorf("partition %d: %w", p, err)
		}
		info := c.CachedInfo()
		part := Partition{Partition: p, Pending: info.NumPending}
		for _, g := range info.PriorityGroups {
			if g.PinnedClientID != "" {
				part.Owner, part.PinnedSince = byPin[g.PinnedClientID], g.PinnedTS
			}
		}
		v.Partition = append(v.Partition, part)
	}
	return v, nil
}

// InspectAll is Inspect for every group with an announcement in the
// bucket, in name order (none when nobody ever took part).
func InspectAll(ctx context.Context, js jetstream.JetStream) ([]View, error) {
	kv, err := js.KeyValue(ctx, MembersBucket)
	if errors.Is(err, jetstream.ErrBucketNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("bucket %s: %w", MembersBucket, err)
	}
	keys, err := kv.ListKeys(ctx)
	if err != nil {
		return nil, fmt.Errorf("list processes: %w", err)
	}
	groups := map[string]bool{}
	for key := range keys.Keys() {
		if g, _, ok := strings.Cut(key, "."); ok {
			groups[g] = true
		}
	}
	var out []View
	for _, g := range slices.Sorted(maps.Keys(groups)) {
		v, err := Inspect(ctx, js, g)
		if err != nil {
			return out, err
		}
		out = append(out, v)
	}
	return out, nil
}
