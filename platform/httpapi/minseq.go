package httpapi

import (
	"context"
	"net/http"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/eventline/eventline/projections"
)

// MaxMinSeqWait is how long a list request with ?min_seq= waits for the read
// model to catch up before answering anyway with X-Eventline-Stale: true.
const MaxMinSeqWait = 5 * time.Second

// MaxWait is the longest deliberate wait a GET may ask for (?wait=, as
// GET /api/sagas/{id} takes, or ?min_seq=): it gets this much more than
// ReadTimeout.
const MaxWait = 30 * time.Second

// noWaitKey marks a request's context when the server has no wait slot
// left for it (ServerConfig.MaxWaiting).
type noWaitKey struct{}

// MayWait reports whether the request of ctx may wait deliberately
// (?wait=, ?min_seq=): false when the server's waiting requests are at
// ServerConfig.MaxWaiting, so that long polls never take the connections
// that writes and health checks need. Such a request answers at once.
func MayWait(ctx context.Context) bool {
	no, _ := ctx.Value(noWaitKey{}).(bool)
	return !no
}

// WaitMinSeq implements read-your-writes on a write-behind read model: given
// ?min_seq=N it waits until projection has applied stream sequence N, at most
// MaxMinSeqWait, and marks the answer stale if it has not.
func WaitMinSeq(w http.ResponseWriter, r *http.Request, pool *pgxpool.Pool, projection string) error {
	minSeq, err := QueryInt(r, "min_seq", 0, 0)
	if err != nil || minSeq == 0 {
		return err
	}
	if !MayWait(r.Context()) {
		// No wait slot: one look, then the answer, marked stale if behind.
		cp, err := projections.LoadCheckpoint(r.Context(), pool, projection)
		if err != nil {
			return err
		}
		if cp.LastSeq < uint64(minSeq) {
			w.Header().Set("X-Eventline-Stale", "true")
		}
		return nil
	}
	ctx, cancel := context.WithTimeout(r.Context(), MaxMinSeqWait)
	defer cancel()
	delay := 5 * time.Millisecond
	for {
		cp, err := projections.LoadCheckpoint(ctx, pool, projection)
		if err == nil && cp.LastSeq >= uint64(minSeq) {
			return nil
		}
		if err != nil && ctx.Err() == nil {
			return err
		}
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			if r.Context().Err() != nil {
				return r.Context().Err()
			}
			w.Header().Set("X-Eventline-Stale", "true")
			return nil
		case <-t.C:
		}
		delay = min(delay*2, 50*time.Millisecond)
	}
}
