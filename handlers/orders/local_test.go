package orders

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/eventline/eventline/domain/saga"
)

func TestLocalHandsAnEndToItsWaitersOnly(t *testing.T) {
	l := newLocal()
	a1, stopA1 := l.listen("a")
	a2, stopA2 := l.listen("a")
	b, stopB := l.listen("b")
	defer stopB()

	end := saga.State{ID: "a", Status: saga.StatusCompleted}
	l.ended(end)
	l.ended(end) // a second end never blocks the recorder
	require.Len(t, a1, 1)
	require.Len(t, a2, 1)
	assert.Equal(t, end, <-a1)
	assert.Empty(t, b)

	stopA1()
	stopA2()
	l.mu.Lock()
	_, still := l.waiting["a"]
	l.mu.Unlock()
	assert.False(t, still, "a saga nobody awaits is forgotten")
}

func TestLocalCountsDriversOfOneSaga(t *testing.T) {
	l := newLocal()
	assert.False(t, l.driven("a"))
	done1 := l.drive("a")
	done2 := l.drive("a")
	done1()
	assert.True(t, l.driven("a"), "another driver still holds it")
	done2()
	assert.False(t, l.driven("a"))
	assert.Empty(t, l.driving)
}

// A note that comes while a driver here holds the saga is kept for when
// its last driver stops.
func TestLocalKeepsANoteForWhenTheDriversStop(t *testing.T) {
	l := newLocal()
	assert.False(t, l.noteLater("a"), "nobody drives it: the note is acted upon now")
	done1 := l.drive("a")
	assert.False(t, done1(), "not noted meanwhile")
	done1, done2 := l.drive("a"), l.drive("a")
	assert.True(t, l.noteLater("a"))
	assert.False(t, done1(), "another driver still holds it")
	assert.True(t, done2(), "the last driver stopped: note it again")
	done3 := l.drive("a")
	assert.False(t, done3(), "noted again once")
	assert.Empty(t, l.renote)
}

func TestLocalKeepsTheLastFinalStatesOnly(t *testing.T) {
	l := newLocal()
	l.ended(saga.State{ID: "stuck", Status: saga.StatusNeedsAttention})
	l.ended(saga.State{ID: "failed", Status: saga.StatusFailed})
	for _, id := range []string{"stuck", "failed"} {
		_, ok := l.finalState(id)
		assert.False(t, ok, "%s can still be retried: not final", id)
	}

	l.ended(saga.State{ID: "first", Status: saga.StatusCompensated})
	got, ok := l.finalState("first")
	require.True(t, ok)
	assert.Equal(t, saga.StatusCompensated, got.Status)
	l.ended(saga.State{ID: "first", Status: saga.StatusCompensated}) // ended twice: one slot
	for i := range recentFinal - 1 {
		l.ended(saga.State{ID: fmt.Sprint("s", i), Status: saga.StatusCompleted})
	}
	_, ok = l.finalState("first")
	assert.True(t, ok, "the ring holds recentFinal sagas, the first among them")
	l.ended(saga.State{ID: "one-more", Status: saga.StatusCompleted})
	_, ok = l.finalState("first")
	assert.False(t, ok, "the oldest is dropped for the newest")
	_, ok = l.finalState("one-more")
	assert.True(t, ok)
	assert.Len(t, l.final, recentFinal)
}
