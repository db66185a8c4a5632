package aggregate

import (
	"context"
	"sync"
)

// keyLocks serializes work per key: commands on one aggregate from one
// Handler run one at a time, so that writers in the same process never
// race each other to a conflict and a reload (writers in other processes
// still do, and the expected sequence keeps them apart). A key's lock
// exists only while someone holds or waits for it.
type keyLocks struct {
	mu sync.Mutex
	m  map[string]*keyLock
}

type keyLock struct {
	ch   chan struct{} // holds a token while locked
	refs int           // holders and waiters
}

// lock takes key's lock, or gives up with ctx's error; the returned
// function releases it.
func (k *keyLocks) lock(ctx context.Context, key string) (func(), error) {
	l := k.acquire(key)
	select {
	case l.ch <- struct{}{}:
		return func() { k.unlock(key, l) }, nil
	case <-ctx.Done():
		k.release(key, l)
		return nil, ctx.Err()
	}
}

// acquire registers a holder or waiter of key's lock and returns the lock.
// The caller then takes it (l.ch <- struct{}{}) and later calls unlock, or
// gives up without taking it and calls release.
func (k *keyLocks) acquire(key string) *keyLock {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.m == nil {
		k.m = map[string]*keyLock{}
	}
	l := k.m[key]
	if l == nil {
		l = &keyLock{ch: make(chan struct{}, 1)}
		k.m[key] = l
	}
	l.refs++
	return l
}

// unlock releases key's lock l, taken after acquire.
func (k *keyLocks) unlock(key string, l *keyLock) {
	<-l.ch
	k.release(key, l)
}

func (k *keyLocks) release(key string, l *keyLock) {
	k.mu.Lock()
	l.refs--
	if l.refs == 0 {
		delete(k.m, key)
	}
	k.mu.Unlock()
}
