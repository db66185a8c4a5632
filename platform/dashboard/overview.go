package dashboard

import (
	"net/http"
	"slices"
)

// Card is a box of the overview page (/) a module contributes: its body is
// a fragment the overview loads, and refreshes every two seconds.
type Card struct {
	// Title heads the card.
	Title string
	// Fragment is the GET path of the card's body (registered with Handle).
	Fragment string
	// Link, when set, is the page the card's title links to.
	Link string
	// Order places the card among the others.
	Order int
}

// Card adds c to the overview page.
func (d *Dashboard) Card(c Card) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.cards = append(d.cards, c)
	slices.SortStableFunc(d.cards, func(a, b Card) int { return a.Order - b.Order })
}

// Cards returns the overview's cards in order.
func (d *Dashboard) Cards() []Card {
	d.mu.Lock()
	defer d.mu.Unlock()
	return slices.Clone(d.cards)
}

// overview renders / : the cards, each loading its own fragment.
func (d *Dashboard) overview(w http.ResponseWriter, r *http.Request) {
	d.Render(w, r, d.home, "Overview", d.Cards())
}
