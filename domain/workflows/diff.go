package workflows

import (
	"fmt"
	"slices"
)

// Change is one listed workflow that differs from what is stored.
type Change struct {
	Type     string // WorkflowCreatedV1 or WorkflowUpdatedV1
	Workflow Workflow
}

// Diff compares listed workflows with the fingerprints of the stored ones
// (by Zuora id; known need only hold the listed ids): a workflow not known
// is created, one whose fingerprint differs is updated; the others are
// unchanged and produce nothing. A workflow listed twice counts once, as
// last listed.
func Diff(listed []Workflow, known map[int64]Fingerprint) []Change {
	last := make(map[int64]int, len(listed))
	for i, w := range listed {
		last[w.ZuoraID] = i
	}
	var out []Change
	for i, w := range listed {
		if last[w.ZuoraID] != i {
			continue
		}
		switch old, ok := known[w.ZuoraID]; {
		case !ok:
			out = append(out, Change{WorkflowCreatedV1, w})
		case old != w.Fingerprint():
			out = append(out, Change{WorkflowUpdatedV1, w})
		}
	}
	return out
}

// Gone returns, sorted, the known workflows (their Zuora ids) a complete
// listing did not list: those a sync deletes.
func Gone(known []int64, listed func(id int64) bool) []int64 {
	var out []int64
	for _, id := range known {
		if !listed(id) {
			out = append(out, id)
		}
	}
	slices.Sort(out)
	return out
}

// GuardDeletion refuses a sweep that would delete all of a customer's
// workflows, or more than half of them, unless allowed: the typical result
// of an upstream that answered with a partial or empty listing.
func GuardDeletion(known, deleting int, allow bool) error {
	if allow || deleting == 0 {
		return nil
	}
	switch {
	case deleting >= known:
		return fmt.Errorf("deletion guard: the listing would delete all %d workflows; nothing was deleted (sync again with allow_mass_delete if that is right)", known)
	case deleting*2 > known:
		return fmt.Errorf("deletion guard: the listing would delete %d of %d workflows, more than half; nothing was deleted (sync again with allow_mass_delete if that is right)", deleting, known)
	}
	return nil
}
