package logsapi

import (
	"context"

	"github.com/eventline/eventline/domain/logs"
	"github.com/eventline/eventline/eventstore"
	"github.com/eventline/eventline/platform/module"
	"github.com/eventline/eventline/projections"
	"github.com/eventline/eventline/projections/logentries"
)

// embeddedServerCacheBytes bounds the large batches (16 MiB at most each)
// answered in the last 11 s with the embedded NATS server, which keeps each
// one's event cached that long (IngestConfig.ServerCacheBytes): three full
// batches, about 4.4 MiB/s of batches of LargeBatchBytes or more per
// process (smaller batches do not count). Each large batch is held about a
// dozen times over on its way (the body, its entries, the event, the NATS
// connections' buffers and the server's copies, the projector's pull-ahead
// and decoding), so its cached event is only a part of what it costs: with
// 24 clients of 16 MiB batches serve peaked at 275-290 MiB of RSS with six
// (96 MiB), 232-271 with four and 222-229 with three (bench/hostile
// --only memory, 2026-12-07).
const embeddedServerCacheBytes = 48 << 20

// Module is write-behind logging as a domain module: the LOGS stream (with
// cfg's retention, which an insert-only log may carry), the logging events,
// the log_entries read model (partitioned by day; a process with the
// projector role drops the expired days) and /api/logs and /v1/logs.
func Module(cfg Config) module.Module {
	return module.Module{
		Name: "logs",
		Streams: []eventstore.StreamSpec{{Name: logs.Stream, Subjects: []string{logs.Subjects}, Description: "write-behind log entries",
			MaxAge: cfg.Retention, MaxBytes: cfg.MaxBytes}},
		Events:      logs.Events(),
		Projections: []projections.Spec{logentries.SpecWith(!cfg.SearchIndexOff)},
		Start:       func(h *module.Host) error { return start(h, cfg) },
	}
}

// start mounts /api/logs, and the dashboard's /logs when there is one, on a
// process with the api role. The ingester
// outlives the HTTP server, so that requests in flight at shutdown still get
// their answers.
func start(h *module.Host, cfg Config) error {
	if h.HasRole("projector") && h.Pool != nil {
		h.Go(func(ctx context.Context) error {
			return runRetention(ctx, h.Pool, cfg.retention(), !cfg.SearchIndexOff, h.Log)
		})
	}
	if !h.HasRole("api") {
		return nil
	}
	var icfg IngestConfig
	if h.EmbeddedNATS {
		// The embedded NATS server's block caches are this process's
		// memory: bound what large batches leave in them.
		icfg.ServerCacheBytes = embeddedServerCacheBytes
	}
	ingester := NewIngester(h.Store, icfg, h.Metrics)
	h.GoDrained(ingester.Run)
	var stats RunnerStats
	if r := h.Runner(logentries.Name); r != nil {
		stats = r
	}
	handler := NewHandler(h.Store, h.ReadPool, ingester, h.Idempotency, stats, LookupConfig{Reads: h.Reads, Logger: h.Log})
	handler.Retention = cfg
	handler.Mount(h.Server)
	if h.Dashboard != nil {
		h.Go(handler.MountDashboard(h.Dashboard, h.Log))
	}
	h.Go(func(ctx context.Context) error { return handler.Run(ctx) })
	return nil
}
