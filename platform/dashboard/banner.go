package dashboard

import (
	"context"
	"net/http"
	"slices"
	"sync"
	"time"
)

// BannerPath is the overview banner's fragment, refreshed every 2 s.
const BannerPath = "/overview/banner"

// bannerTimeout bounds the checks of one banner: a check that does not
// answer in time is named in the banner, never a hung overview.
const bannerTimeout = 1500 * time.Millisecond

// Levels of a Shout.
const (
	ShoutBad  = "bad"
	ShoutWarn = "warn"
)

// Shout is one line of the overview's banner: Count things are in a state
// that needs a person (Text says what, in the plural form that follows a
// number), Link shows them.
type Shout struct {
	Level string
	Count int64
	// Approx is true when Count is a lower bound ("10,000+").
	Approx bool
	Text   string
	Link   string
}

// Alert is a check a module contributes to the overview's banner: it
// returns what needs a person now (nothing when all is well). Name says
// what it checks, for the banner's message when the check fails.
type Alert struct {
	Name  string
	Order int
	Check func(ctx context.Context) ([]Shout, error)
}

// Alert adds a to the overview's banner.
func (d *Dashboard) Alert(a Alert) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.alerts = append(d.alerts, a)
	slices.SortStableFunc(d.alerts, func(x, y Alert) int { return x.Order - y.Order })
}

// bannerView is what the banner shows.
type bannerView struct {
	Shouts []Shout
	// Failed names the checks that failed or did not answer in time.
	Failed []string
	Checks int
}

// banner renders the overview's banner: every alert checked at once,
// each bounded by bannerTimeout.
func (d *Dashboard) banner(w http.ResponseWriter, r *http.Request) {
	d.mu.Lock()
	alerts := slices.Clone(d.alerts)
	d.mu.Unlock()
	ctx, cancel := context.WithTimeout(r.Context(), bannerTimeout)
	defer cancel()
	type result struct {
		shouts []Shout
		err    error
	}
	results := make([]result, len(alerts))
	var wg sync.WaitGroup
	for i, a := range alerts {
		wg.Go(func() {
			s, err := a.Check(ctx)
			results[i] = result{s, err}
		})
	}
	wg.Wait()
	v := bannerView{Checks: len(alerts)}
	for i, res := range results {
		if res.err != nil {
			d.cfg.Log.Warn("dashboard: overview check failed", "check", alerts[i].Name, "err", res.err)
			v.Failed = append(v.Failed, alerts[i].Name)
			continue
		}
		for _, s := range res.shouts {
			if s.Count > 0 {
				v.Shouts = append(v.Shouts, s)
			}
		}
	}
	d.Fragment(w, r, d.home, "banner", v)
}
