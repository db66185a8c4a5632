package aggregate

import (
	"context"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestKeyLocksSerializeAKeyAndForgetIt(t *testing.T) {
	var k keyLocks
	var wg sync.WaitGroup
	inside, most := 0, 0
	var mu sync.Mutex
	for range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			unlock, err := k.lock(context.Background(), "a")
			require.NoError(t, err)
			mu.Lock()
			inside++
			most = max(most, inside)
			mu.Unlock()
			mu.Lock()
			inside--
			mu.Unlock()
			unlock()
		}()
	}
	wg.Wait()
	require.Equal(t, 1, most)
	require.Empty(t, k.m, "no lock is kept once nobody holds or waits")

	unlock, err := k.lock(context.Background(), "a")
	require.NoError(t, err)
	other, err := k.lock(context.Background(), "b")
	require.NoError(t, err, "another key is not held up")
	other()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err = k.lock(ctx, "a")
	require.ErrorIs(t, err, context.Canceled)
	unlock()
	require.Empty(t, k.m)
}
