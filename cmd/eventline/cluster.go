package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/eventline/eventline/eventstore/partitions"
	"github.com/eventline/eventline/handlers/orders"
)

// liveAfter is how old a process's heartbeat may be for the cluster view
// to call it alive: a few ticks (partitions.DefaultTick), about when the
// server hands its partitions on (partitions.DefaultPinnedTTL).
const liveAfter = partitions.DefaultPinnedTTL

// clusterProcess is one process of the cluster view.
type clusterProcess struct {
	partitions.Member
	// Alive says its heartbeat is recent (within liveAfter).
	Alive bool `json:"alive"`
}

// clusterReport is what `eventline cluster --json` prints.
type clusterReport struct {
	Group      string                 `json:"group"`
	Processes  []clusterProcess       `json:"processes"`
	Partitions []partitions.Partition `json:"partitions"`
	// Unowned lists the partitions no live process owns now (being taken
	// over, or no process with the saga role runs).
	Unowned []int `json:"unowned"`
}

// clusterCmd is `eventline cluster [--json]`: the processes that take part
// in the saga partitions (id, host, pid, roles, heartbeat) and the owner
// of each partition, as the consumers' pins and the announcements say.
func clusterCmd(ctx context.Context, cfg Config, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("cluster", flag.ContinueOnError)
	fs.SetOutput(stderr)
	asJSON := fs.Bool("json", false, "print JSON ({\"processes\":[…],\"partitions\":[…]}) instead of tables")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("cluster: unexpected argument %q", fs.Arg(0))
	}
	s, err := openOps(ctx, cfg, infraNeeds{nats: true}, stderr)
	if err != nil {
		return err
	}
	defer s.close()
	v, err := partitions.Inspect(ctx, s.store.JetStream(), orders.PartitionGroup)
	if err != nil {
		return fmt.Errorf("cluster: %w", err)
	}
	rep := newClusterReport(v, time.Now())
	if *asJSON {
		return writeJSON(stdout, rep)
	}
	return printCluster(stdout, rep, time.Now())
}

// newClusterReport judges each process alive or not at now and lists the
// partitions nobody live owns.
func newClusterReport(v partitions.View, now time.Time) clusterReport {
	rep := clusterReport{Group: v.Group, Processes: []clusterProcess{}, Partitions: v.Partition, Unowned: []int{}}
	live := map[string]bool{}
	for _, m := range v.Members {
		alive := now.Sub(m.Heartbeat) <= liveAfter
		live[m.ID] = alive
		rep.Processes = append(rep.Processes, clusterProcess{Member: m, Alive: alive})
	}
	if rep.Partitions == nil {
		rep.Partitions = []partitions.Partition{}
	}
	for _, p := range v.Partition {
		if !live[p.Owner] {
			rep.Unowned = append(rep.Unowned, p.Partition)
		}
	}
	return rep
}

// printCluster prints rep as two aligned tables and a line on what is
// unowned.
func printCluster(w io.Writer, rep clusterReport, now time.Time) error {
	rows := make([][]string, 0, len(rep.Processes))
	for _, p := range rep.Processes {
		status := "alive"
		if !p.Alive {
			status = "gone"
		}
		owned := slices.Clone(p.Owned)
		slices.Sort(owned)
		rows = append(rows, []string{p.ID, status, p.Host, strconv.Itoa(p.PID), strings.Join(p.Roles, ","),
			ago(&p.Started, now), ago(&p.Heartbeat, now), fmt.Sprintf("%d %s", len(owned), ranges(owned))})
	}
	if len(rows) == 0 {
		fmt.Fprintln(w, "no process takes part in the saga partitions (is a serve with the saga role running?)")
	} else if err := table(w, []string{"PROCESS", "STATUS", "HOST", "PID", "ROLES", "STARTED", "HEARTBEAT", "PARTITIONS"}, rows); err != nil {
		return err
	}
	fmt.Fprintln(w)
	rows = rows[:0]
	for _, p := range rep.Partitions {
		owner := p.Owner
		if owner == "" {
			owner = "-"
		}
		rows = append(rows, []string{strconv.Itoa(p.Partition), owner, ago(&p.PinnedSince, now), strconv.FormatUint(p.Pending, 10)})
	}
	if err := table(w, []string{"PARTITION", "OWNER", "PINNED", "PENDING"}, rows); err != nil {
		return err
	}
	if len(rep.Unowned) > 0 {
		fmt.Fprintf(w, "\n%d of %d partitions have no live owner now: %s (a process with the saga role takes each over within seconds)\n",
			len(rep.Unowned), len(rep.Partitions), ranges(rep.Unowned))
	}
	return nil
}

// ranges prints sorted ints as runs: [0 1 2 5] → "0-2,5".
func ranges(ns []int) string {
	var b strings.Builder
	for i := 0; i < len(ns); {
		j := i
		for j+1 < len(ns) && ns[j+1] == ns[j]+1 {
			j++
		}
		if b.Len() > 0 {
			b.WriteByte(',')
		}
		if j > i {
			fmt.Fprintf(&b, "%d-%d", ns[i], ns[j])
		} else {
			fmt.Fprintf(&b, "%d", ns[i])
		}
		i = j + 1
	}
	return b.String()
}
