package main

import (
	"context"
	"sync"
	"time"
)

// placer places orders at a steady rate over the processes that are up,
// without awaiting the sagas (so that many are in flight, tok_slow and
// tok_flaky ones for seconds), and remembers every saga it got a 202 for.
type placer struct {
	e      *env
	cancel context.CancelFunc
	done   chan struct{}
	mu     sync.Mutex
	sagas  []placed
	posts  []post
}

// placed is a saga the placer started: its id and the API that took it.
type placed struct{ id, token string }

// post is one POST /api/orders: when it started, how long it took, and
// whether it failed.
type post struct {
	at     time.Time
	took   time.Duration
	failed bool
	err    string
}

// placerTokens are the payment tokens the placer cycles through.
var placerTokens = []string{"tok_ok", "tok_flaky", "tok_slow"}

// startPlacer starts placing rate orders a second until stop.
func (e *env) startPlacer(ctx context.Context, rate int) *placer {
	ctx, cancel := context.WithCancel(ctx)
	pl := &placer{e: e, cancel: cancel, done: make(chan struct{})}
	go pl.run(ctx, rate)
	return pl
}

func (pl *placer) run(ctx context.Context, rate int) {
	defer close(pl.done)
	sem := make(chan struct{}, 64)
	var wg sync.WaitGroup
	defer wg.Wait()
	tick := time.NewTicker(time.Second / time.Duration(rate))
	defer tick.Stop()
	for n := 0; ; n++ {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		var base string
		for k := range len(pl.e.procs) {
			if p := pl.e.procs[(n+k)%len(pl.e.procs)]; p.up.Load() {
				base = p.base
				break
			}
		}
		if base == "" {
			continue
		}
		select {
		case sem <- struct{}{}:
		default:
			continue // 64 answers outstanding: the API is stalled, the post counts as not sent
		}
		token := placerTokens[n%len(placerTokens)]
		wg.Go(func() {
			defer func() { <-sem }()
			t0 := time.Now()
			rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 15*time.Second)
			id, err := pl.e.api.PlaceOrder(rctx, base, pl.e.users[n%len(pl.e.users)], pl.e.products[n%len(pl.e.products)], token)
			cancel()
			p := post{at: t0, took: time.Since(t0), failed: err != nil}
			if err != nil {
				p.err = err.Error()
			}
			pl.mu.Lock()
			pl.posts = append(pl.posts, p)
			if err == nil {
				pl.sagas = append(pl.sagas, placed{id: id, token: token})
			}
			pl.mu.Unlock()
		})
	}
}

// stop stops placing and waits for the answers outstanding.
func (pl *placer) stop() {
	pl.cancel()
	<-pl.done
}

// postsBetween are the posts started in [from, to).
func (pl *placer) postsBetween(from, to time.Time) []post {
	pl.mu.Lock()
	defer pl.mu.Unlock()
	var out []post
	for _, p := range pl.posts {
		if !p.at.Before(from) && p.at.Before(to) {
			out = append(out, p)
		}
	}
	return out
}

// placedSagas are the sagas placed so far.
func (pl *placer) placedSagas() []placed {
	pl.mu.Lock()
	defer pl.mu.Unlock()
	return append([]placed(nil), pl.sagas...)
}
