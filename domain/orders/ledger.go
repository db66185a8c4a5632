package orders

import "sync"

// ledger is an append-only record of per-key outcomes shared by the states
// folded from one history, so that Evolve stays O(1) for an aggregate with
// many keys (a product that took many orders) without changing the state
// it is given: a state sees the first n entries only, and evolving a state
// that is not the newest copies the entries it sees.
type ledger[R any] struct {
	mu  sync.RWMutex
	log []R
	idx map[string][]int
	key []string
}

// keyed is a state's view of a ledger: its first n entries. The zero value
// is empty.
type keyed[R any] struct {
	l *ledger[R]
	n int
}

// get returns the last record of key among the entries k sees.
func (k keyed[R]) get(key string) (R, bool) {
	var zero R
	if k.l == nil {
		return zero, false
	}
	k.l.mu.RLock()
	defer k.l.mu.RUnlock()
	if i := k.lastBelow(key); i >= 0 {
		return k.l.log[i], true
	}
	return zero, false
}

// with returns a view that also records r for key; k is unchanged.
func (k keyed[R]) with(key string, r R) keyed[R] {
	if k.l != nil {
		k.l.mu.Lock()
		if len(k.l.log) == k.n {
			k.l.append(key, r)
			k.l.mu.Unlock()
			return keyed[R]{l: k.l, n: k.n + 1}
		}
		k.l.mu.Unlock()
	}
	// A fork (or the first entry): copy what k sees.
	l := &ledger[R]{idx: map[string][]int{}}
	if k.l != nil {
		k.l.mu.RLock()
		for i := 0; i < k.n; i++ {
			l.append(k.l.key[i], k.l.log[i])
		}
		k.l.mu.RUnlock()
	}
	l.append(key, r)
	return keyed[R]{l: l, n: k.n + 1}
}

func (l *ledger[R]) append(key string, r R) {
	l.idx[key] = append(l.idx[key], len(l.log))
	l.log = append(l.log, r)
	l.key = append(l.key, key)
}

// len returns how many entries k sees.
func (k keyed[R]) len() int { return k.n }

// compact returns a view of a new ledger holding, for each key k sees,
// its last record when keep accepts it, in the order they were recorded;
// k is unchanged. It costs one pass over what k sees.
func (k keyed[R]) compact(keep func(R) bool) keyed[R] {
	if k.l == nil {
		return k
	}
	l := &ledger[R]{idx: map[string][]int{}}
	k.l.mu.RLock()
	for i := 0; i < k.n; i++ {
		key := k.l.key[i]
		if last := k.lastBelow(key); last == i && keep(k.l.log[i]) {
			l.append(key, k.l.log[i])
		}
	}
	k.l.mu.RUnlock()
	return keyed[R]{l: l, n: len(l.log)}
}

// lastBelow returns the position of key's last entry among those k sees,
// or -1; the caller holds the ledger's lock.
func (k keyed[R]) lastBelow(key string) int {
	pos := k.l.idx[key]
	for i := len(pos) - 1; i >= 0; i-- {
		if pos[i] < k.n {
			return pos[i]
		}
	}
	return -1
}

// ledgerChunk is how many entries each reads under one read lock.
const ledgerChunk = 4096

// each passes the entries k sees to fn, oldest first. It copies them a
// chunk at a time, so the ledger is never locked while fn runs (fn may
// write to the network while the product takes orders).
func (k keyed[R]) each(fn func(key string, r R) error) error {
	if k.l == nil {
		return nil
	}
	keys := make([]string, 0, min(k.n, ledgerChunk))
	recs := make([]R, 0, min(k.n, ledgerChunk))
	for start := 0; start < k.n; start += ledgerChunk {
		end := min(start+ledgerChunk, k.n)
		k.l.mu.RLock()
		keys = append(keys[:0], k.l.key[start:end]...)
		recs = append(recs[:0], k.l.log[start:end]...)
		k.l.mu.RUnlock()
		for i := range keys {
			if err := fn(keys[i], recs[i]); err != nil {
				return err
			}
		}
	}
	return nil
}
