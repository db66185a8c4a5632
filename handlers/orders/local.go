package orders

import (
	"sync"

	"github.com/eventline/eventline/domain/saga"
)

// local is what a Manager knows of the sagas it drives in this process: which
// ones a driver goroutine holds now, and who awaits which one's end. A
// decision recorded here that ends a saga is handed to its waiters at once
// (Await), with no read of the store and no subscription; the last
// recentFinal sagas that ended here for good are kept for the waiters that
// come just after the end.
type local struct {
	mu      sync.Mutex
	driving map[string]int
	// renote holds the sagas noted to this process while a driver here
	// held them (deferred, see noteLater).
	renote  map[string]bool
	waiting map[string][]chan saga.State
	final   map[string]saga.State
	ring    []string // final's ids, oldest replaced first
	next    int
}

// recentFinal bounds the final states local keeps: a second or more of
// sagas at full load, a few MB at most.
const recentFinal = 1024

func newLocal() *local {
	return &local{driving: map[string]int{}, renote: map[string]bool{}, waiting: map[string][]chan saga.State{},
		final: map[string]saga.State{}, ring: make([]string, recentFinal)}
}

// drive marks saga id as driven here until the returned func is called;
// that func reports whether the saga was noted meanwhile (noteLater) and
// its last driver here just stopped: it must be noted again.
func (l *local) drive(id string) (done func() (renote bool)) {
	l.mu.Lock()
	l.driving[id]++
	l.mu.Unlock()
	return func() bool {
		l.mu.Lock()
		defer l.mu.Unlock()
		if l.driving[id]--; l.driving[id] > 0 {
			return false
		}
		delete(l.driving, id)
		renote := l.renote[id]
		delete(l.renote, id)
		return renote
	}
}

// noteLater reports whether a driver here holds saga id, noted to this
// process; if so the note is kept for when its last driver stops (drive's
// done). That driver may stop without going on: it gave the partition up,
// or its next decision was stale because another process (the one that
// noted it) recorded the saga further.
func (l *local) noteLater(id string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.driving[id] == 0 {
		return false
	}
	l.renote[id] = true
	return true
}

// driven reports whether a driver here holds saga id: its decisions are
// recorded by this process, whose cached state of it is current.
func (l *local) driven(id string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.driving[id] > 0
}

// listen returns a channel that receives saga id's state when a decision
// recorded here ends it, and the func that stops listening.
func (l *local) listen(id string) (<-chan saga.State, func()) {
	ch := make(chan saga.State, 1)
	l.mu.Lock()
	l.waiting[id] = append(l.waiting[id], ch)
	l.mu.Unlock()
	return ch, func() {
		l.mu.Lock()
		defer l.mu.Unlock()
		list := l.waiting[id]
		for i, c := range list {
			if c == ch {
				list = append(list[:i], list[i+1:]...)
				break
			}
		}
		if len(list) == 0 {
			delete(l.waiting, id)
		} else {
			l.waiting[id] = list
		}
	}
}

// ended hands s, a terminal state just recorded here, to its waiters, and
// keeps it for a while when it is final (Status.Final: it can never change,
// so a copy is as good as the store's).
func (l *local) ended(s saga.State) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if s.Status.Final() {
		if _, ok := l.final[s.ID]; !ok {
			delete(l.final, l.ring[l.next])
			l.ring[l.next] = s.ID
			l.next = (l.next + 1) % len(l.ring)
		}
		l.final[s.ID] = s
	}
	for _, ch := range l.waiting[s.ID] {
		select {
		case ch <- s:
		default: // already handed an end
		}
	}
}

// finalState returns saga id's final state if it ended here recently.
func (l *local) finalState(id string) (saga.State, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	s, ok := l.final[id]
	return s, ok
}
