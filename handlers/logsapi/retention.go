package logsapi

import (
	"context"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/eventline/eventline/projections/logentries"
)

// Config configures the logs module.
type Config struct {
	// Retention is how long entries are kept (EVENTLINE_LOGS_RETENTION,
	// 7 days by default; 0 keeps them forever): the LOGS stream's MaxAge,
	// and the age past which a day of the read model is dropped whole.
	Retention time.Duration
	// MaxBytes, when positive, caps the LOGS stream and the read model each
	// (EVENTLINE_LOGS_MAX_BYTES): the oldest entries go first (the read
	// model's current day excepted), even when younger than Retention.
	MaxBytes int64
	// SearchIndexOff writes entries without their search tokens
	// (EVENTLINE_LOGS_SEARCH_INDEX=off): ingest costs PostgreSQL a little
	// less, and a search reads every entry of the range it asks for.
	// Entries written meanwhile are indexed once it is on again.
	SearchIndexOff bool
}

// DefaultRetention is how long entries are kept unless configured.
const DefaultRetention = 7 * 24 * time.Hour

// retention is c as the read model's retention.
func (c Config) retention() logentries.Retention {
	return logentries.Retention{MaxAge: c.Retention, MaxBytes: c.MaxBytes}
}

// retentionEvery is how often the read model's partitions are maintained:
// well within a day, so that tomorrow's partitions always exist in time
// and an expired day goes within minutes of its time.
const retentionEvery = 10 * time.Minute

// indexPerRound is how many unindexed search blocks (a day of entries
// each, at most) a round of maintenance indexes.
const indexPerRound = 4

// runRetention maintains the read model's partitions until ctx ends: at
// once, then every retentionEvery (a minute after a failure).
func runRetention(ctx context.Context, pool *pgxpool.Pool, r logentries.Retention, index bool, log *slog.Logger) error {
	for {
		wait := retentionEvery
		res, err := logentries.Maintain(ctx, pool, r, time.Now())
		switch {
		case ctx.Err() != nil:
			return nil
		case err != nil:
			log.Warn("logs retention failed; trying again in a minute", "err", err)
			wait = time.Minute
		default:
			for _, p := range res.Created {
				log.Info("logs partition created", "partition", p)
			}
			for _, d := range res.Dropped {
				log.Info("logs partition dropped by retention", "partition", d.Partition, "entries", d.Entries, "took", d.Took)
			}
		}
		// Blocks nobody indexed (entries stored before the search index,
		// or while it was off) are indexed a few at a time, newest first;
		// while some are left the loop comes back soon.
		if !index {
			// Nothing to index: the projector writes no tokens.
		} else if n, err := logentries.IndexPending(ctx, pool, logentries.Table, indexPerRound); err != nil && ctx.Err() == nil {
			log.Warn("logs search index: indexing older entries failed", "err", err)
		} else if n == indexPerRound && err == nil {
			wait = time.Second
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(wait):
		}
	}
}
