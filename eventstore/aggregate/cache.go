package aggregate

import "sync"

// folded is an aggregate's folded state as of its subject's sequence seq.
type folded[S any] struct {
	state S
	seq   uint64
	// eventID is the id of the event at seq, when known (a stored
	// snapshot names it).
	eventID string
	// stored is the seq of the last snapshot stored or read of the
	// aggregate, storedBytes its size; sinceEvents and sinceBytes count the
	// events folded after it (Handler.maybeStore).
	stored                  uint64
	storedBytes             int64
	sinceEvents, sinceBytes int64
}

// cache keeps the latest known folded state of up to size subjects. When full,
// an arbitrary entry is dropped: a miss only costs a full load, and the map
// needs no bookkeeping per hit.
type cache[S any] struct {
	mu      sync.Mutex
	size    int
	entries map[string]folded[S]
}

func newCache[S any](size int) *cache[S] {
	if size < 0 {
		size = 0
	}
	return &cache[S]{size: size, entries: make(map[string]folded[S], min(size, 1024))}
}

// get returns the folded state of subject, if any.
func (c *cache[S]) get(subject string) (folded[S], bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	s, ok := c.entries[subject]
	return s, ok
}

// put keeps s for subject unless a newer state is already kept.
func (c *cache[S]) put(subject string, s folded[S]) {
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

// stored records that a snapshot of bytes was stored of subject at seq
// (or, with seq 0, that storing one failed): the events counted towards
// the next one start again from zero.
func (c *cache[S]) stored(subject string, seq uint64, bytes int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[subject]
	if !ok {
		return
	}
	if seq > e.stored {
		e.stored = seq
	}
	e.storedBytes = max(e.storedBytes, bytes)
	if seq > 0 {
		e.storedBytes = bytes
	}
	e.sinceEvents, e.sinceBytes = 0, 0
	c.entries[subject] = e
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
