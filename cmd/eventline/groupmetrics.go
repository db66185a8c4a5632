package main

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/eventline/eventline/eventstore"
)

// groupCommitCollector exports the event store's group commit counters
// (issue 27) per stream: how many appends went through it, how many atomic
// batches held how many of them, how many went alone, and how many batches
// the server refused and appends were then found conflicting.
type groupCommitCollector struct {
	store                                                   *eventstore.Store
	appends, batches, batched, singles, rejected, conflicts *prometheus.Desc
}

func newGroupCommitCollector(store *eventstore.Store) *groupCommitCollector {
	desc := func(name, help string) *prometheus.Desc {
		return prometheus.NewDesc("eventline_group_commit_"+name, help, []string{"stream"}, nil)
	}
	return &groupCommitCollector{
		store:     store,
		appends:   desc("appends_total", "Single appends that went through group commit."),
		batches:   desc("batches_total", "Atomic batches group commit stored."),
		batched:   desc("batched_appends_total", "Appends stored inside those atomic batches."),
		singles:   desc("single_appends_total", "Appends group commit sent as plain publishes (small groups, stale expectations, refused batches)."),
		rejected:  desc("rejected_batches_total", "Atomic batches the server refused (a conflict, a duplicate)."),
		conflicts: desc("conflicts_total", "Appends found with a stale expected sequence after a refused batch, answered alone."),
	}
}

// Describe implements prometheus.Collector.
func (c *groupCommitCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.appends, c.batches, c.batched, c.singles, c.rejected, c.conflicts} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c *groupCommitCollector) Collect(ch chan<- prometheus.Metric) {
	for stream, st := range c.store.GroupStatsAll() {
		for _, m := range []struct {
			d *prometheus.Desc
			v int64
		}{
			{c.appends, st.Appends.Load()}, {c.batches, st.Batches.Load()}, {c.batched, st.BatchedAppends.Load()},
			{c.singles, st.Singles.Load()}, {c.rejected, st.Rejected.Load()}, {c.conflicts, st.Conflicts.Load()},
		} {
			ch <- prometheus.MustNewConstMetric(m.d, prometheus.CounterValue, float64(m.v), stream)
		}
	}
}
