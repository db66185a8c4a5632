package opsdash

import (
	"context"
	"time"

	"github.com/eventline/eventline/platform/dashboard"
	"github.com/eventline/eventline/platform/opsapi"
	"github.com/eventline/eventline/projections"
)

// reactorStalledAfter is how long a reactor's consumer may hold pending
// messages without activity before the overview calls it stalled.
const reactorStalledAfter = time.Minute

// alerts are the overview banner's lines of the operator page:
// projections stalled (or stopped on a recreated stream), reactors whose
// consumer holds messages and has not been active for a minute, and the
// items projections and reactors hold parked.
func (p *pages) alerts(ctx context.Context) ([]dashboard.Shout, error) {
	snap, err := p.snaps.get(ctx)
	if err != nil {
		return nil, err
	}
	if snap.projectionsErr != nil {
		return nil, snap.projectionsErr
	}
	var counted *parkedCounts
	if p.parked != nil {
		var c parkedCounts
		if c.events, c.messages, err = p.parked.Counts(ctx); err != nil {
			return nil, err
		}
		counted = &c
	}
	return shouts(snap.projections, snap.consumers, counted, time.Now()), nil
}

// parkedCounts are the items parked by every projection (events or log
// entries) and every reactor (messages).
type parkedCounts struct{ events, messages int64 }

// shouts are the banner's lines for projs and cons at now, with the
// parked counts when known (else the projections' own counts).
func shouts(projs []projections.Status, cons []opsapi.ConsumerView, parked *parkedCounts, now time.Time) []dashboard.Shout {
	var stalled, parkedEvents, parkedMessages int64
	for _, st := range projs {
		if st.State == projections.StateStalled || st.State == projections.StateStreamMismatch {
			stalled++
		}
		parkedEvents += st.Parked
	}
	var reactors int64
	for _, c := range cons {
		if c.Reactor != "" && c.Pending > 0 && (c.LastActive == nil || now.Sub(*c.LastActive) > reactorStalledAfter) {
			reactors++
		}
	}
	if parked != nil {
		parkedEvents, parkedMessages = parked.events, parked.messages
	}
	return []dashboard.Shout{
		{Level: dashboard.ShoutBad, Count: stalled, Text: dashboard.Plural(stalled, "projection stalled", "projections stalled"), Link: PagePath + "#h-projections"},
		{Level: dashboard.ShoutBad, Count: reactors, Text: dashboard.Plural(reactors, "reactor stalled (messages waiting, no activity for a minute)",
			"reactors stalled (messages waiting, no activity for a minute)"), Link: PagePath + "#h-consumers"},
		{Level: dashboard.ShoutWarn, Count: parkedEvents, Text: dashboard.Plural(parkedEvents, "projection item parked", "projection items parked"), Link: PagePath + "#h-parked"},
		{Level: dashboard.ShoutWarn, Count: parkedMessages, Text: dashboard.Plural(parkedMessages, "reactor message parked", "reactor messages parked"), Link: PagePath + "#h-parked"},
	}
}
