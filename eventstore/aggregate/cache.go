package aggregate

import "sync"

// snapshot is an aggregate's folded state as of its subject's sequence seq.
type snapshot[S any] struct {
	state S
	seq   uint64
}

// cache keeps the latest known snapshot of up to size subjects. When full,
// an arbitrary entry is dropped: a miss only costs a full load, and the map
// needs no bookkeeping per hit.
type cache[S any] struct {
	mu      sync.Mutex
	size    int
	entries map[string]snapshot[S]
}

func newCache[S any](size int) *cache[S] {
	if size < 0 {
		size = 0
	}
	return &cache[S]{size: size, entries: make(map[string]snapshot[S], min(size, 1024))}
}

// get returns the snapshot of subject, if any.
func (c *cache[S]) get(subject string) (snapshot[S], bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	s, ok := c.entries[subject]
	return s, ok
}

// put keeps s for subject unless a newer snapshot is already kept.
func (c *cache[S]) put(subject string, s snapshot[S]) {
	if c.size == 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if old, ok := c.entries[subject]; ok {
		if old.seq < s.seq {
			c.entries[subject] = s
		}
		return
	}
	if len(c.entries) >= c.size {
		for k := range c.entries {
			delete(c.entries, k)
			break
		}
	}
	c.entries[subject] = s
}

// drop forgets subject.
func (c *cache[S]) drop(subject string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.entries, subject)
}

// len is how many subjects are kept.
func (c *cache[S]) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.entries)
}
