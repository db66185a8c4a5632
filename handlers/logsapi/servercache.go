package logsapi

import (
	"time"

	"github.com/eventline/eventline/platform/httpapi"
)

// LargeBatchBytes is the body size from which a batch counts against
// IngestConfig.ServerCacheBytes: half of a JetStream file-store block
// (8 MiB), so that its event is alone in its block.
const LargeBatchBytes = 4 << 20

// serverCache bounds the memory an in-process NATS server keeps for the
// large events this process appended. JetStream's file store caches each
// block it writes or reads and drops the cache only after 10 s without
// access (nats-server's defaultCacheBufferExpiration, not configurable);
// the cache of a block that is read while it still holds a single message
// (the projector reads an event milliseconds after its append) stays
// strongly referenced for those 10 s, where the Go collector cannot take
// it. An event larger than half a block is always alone in its block, so
// every large batch costs its size in server memory for about 10 s after
// its answer, however many clients send them: 16 MiB batches back to back
// kept 95-140 MiB cached. Such batches reserve their size here when they
// are admitted and give it back ServerCacheHold after their answer; over
// the bound they get 503 with Retry-After, like over the in-flight budget.
type serverCache struct {
	budget *httpapi.Budget // nil: no bound
	hold   time.Duration
}

func newServerCache(total int64, hold time.Duration) *serverCache {
	c := &serverCache{hold: hold}
	if total > 0 {
		c.budget = httpapi.NewBudget(total)
	}
	return c
}

// cacheShare is a batch's reservation of a serverCache.
type cacheShare struct {
	c *serverCache
	n int64
}

// reserve takes n bytes for a batch body of n bytes when it is large, or
// fails with httpapi.ErrOverloaded.
func (c *serverCache) reserve(n int64) (cacheShare, error) {
	if c.budget == nil || n < LargeBatchBytes {
		return cacheShare{}, nil
	}
	if err := c.budget.Reserve(n); err != nil {
		return cacheShare{}, err
	}
	return cacheShare{c: c, n: n}, nil
}

// release gives the share back once the batch is answered: ServerCacheHold
// later when it was handed to the log, at once otherwise.
func (s cacheShare) release(appended bool) {
	if s.c == nil {
		return
	}
	if !appended {
		s.c.budget.Release(s.n)
		return
	}
	time.AfterFunc(s.c.hold, func() { s.c.budget.Release(s.n) })
}
