package orders

import (
	"fmt"
	"time"

	"github.com/eventline/eventline/domain/saga"
)

// timelineItem is one line of a saga's timeline on the dashboard: an
// attempt of a step or of its compensation (from its start to its outcome),
// or an event of the saga itself.
type timelineItem struct {
	// Title names the line: "validate_user", "compensate reserve_inventory
	// (release_inventory)", "saga completed".
	Title string
	// Step is the step's name ("" for the saga's own events).
	Step string
	// Compensation is true for an attempt of a compensation.
	Compensation bool
	// Attempt is the attempt's number (0 for the saga's own events).
	Attempt int
	// Class is how the line is marked: ok, bad, warn or "" (in progress or
	// neutral).
	Class string
	// Outcome says how the attempt ended: "completed", "failed (transient)",
	// "timed out", "running"…
	Outcome string
	// Error is the attempt's error, or the saga's reason.
	Error string
	// At is when the line began; End when the attempt ended (zero while
	// it runs).
	At, End time.Time
	// Note adds a detail: a retry's due time, who retried or aborted.
	Note string
	// By is the process that recorded the line's last event (its driver;
	// "" for events recorded before processes named themselves).
	By string
}

// Duration is how long the attempt took (-1 while it runs or for an
// event): the template shows it with ms.
func (it timelineItem) Duration() time.Duration {
	if it.End.IsZero() || it.Attempt == 0 {
		return -1
	}
	return it.End.Sub(it.At)
}

// Badge is the dashboard's badge class of the line's outcome.
func (it timelineItem) Badge() string {
	switch it.Class {
	case "ok":
		return "ok"
	case "warn":
		return "warning"
	case "bad":
		return "error"
	}
	return "running"
}

// maxTimeline bounds the lines a timeline shows (a saga's history is a few
// dozen events; one retried for long could hold more).
const maxTimeline = 500

// attemptKey identifies an attempt's line while it is open.
type attemptKey struct {
	step    string
	attempt int
	comp    bool
}

// buildTimeline turns a saga's history into its timeline: each attempt of
// a step or of a compensation becomes one line, from its start to its
// outcome, with its duration and error; the saga's own events become lines
// of their own. comps names each step's compensation command (step name →
// command), as its definition does; a step absent from it is compensated
// under its own name.
func buildTimeline(events []eventEntry, comps map[string]string) []timelineItem {
	items := make([]timelineItem, 0, len(events))
	open := map[attemptKey]int{}
	by := "" // the process that recorded the event at hand
	add := func(it timelineItem) {
		if len(items) < maxTimeline {
			it.By = by
			items = append(items, it)
		}
	}
	// closeAttempt ends the open line of key (one is made when the start
	// was not seen, e.g. a history read from the middle).
	closeAttempt := func(k attemptKey, e eventEntry, class, outcome, errText string) {
		i, ok := open[k]
		if !ok {
			if len(items) >= maxTimeline {
				return
			}
			items = append(items, attemptLine(k, e.At, comps))
			i = len(items) - 1
		}
		delete(open, k)
		items[i].Class, items[i].Outcome, items[i].Error, items[i].End = class, outcome, errText, e.At
		items[i].By = e.DrivenBy
	}
	for _, e := range events {
		by = e.DrivenBy
		k := attemptKey{step: e.Step, attempt: e.Attempt, comp: e.Compensation}
		switch e.Type {
		case saga.StartedV1:
			add(timelineItem{Title: "saga started", Class: "ok", Outcome: "started", At: e.At, Note: e.Definition})
		case saga.StepStartedV1, saga.CompensationStartedV1:
			k.comp = e.Type == saga.CompensationStartedV1
			if i, ok := open[k]; ok { // a re-issued start: the same attempt
				items[i].At = e.At
				continue
			}
			add(attemptLine(k, e.At, comps))
			open[k] = len(items) - 1
		case saga.StepCompletedV1:
			closeAttempt(k, e, "ok", "completed", "")
		case saga.StepFailedV1:
			class, outcome := "warn", "failed ("+e.Failure+")"
			if e.Final {
				class = "bad"
			}
			closeAttempt(k, e, class, outcome, e.Error)
		case saga.StepTimedOutV1:
			class := "warn"
			if e.Final {
				class = "bad"
			}
			closeAttempt(k, e, class, "timed out", "no answer before the step's deadline")
		case saga.StepCompensatedV1:
			k.comp = true
			closeAttempt(k, e, "ok", "compensated", "")
		case saga.CompensationFailedV1:
			k.comp = true
			outcome := "failed (" + e.Failure + ")"
			if e.TimedOut {
				outcome = "timed out"
			}
			closeAttempt(k, e, "warn", outcome, e.Error)
		case saga.RetryScheduledV1:
			what := e.Step
			if e.Compensation {
				what = "compensation of " + e.Step
			}
			note := ""
			if e.Due != nil {
				note = "due " + e.Due.UTC().Format("15:04:05.000")
			}
			add(timelineItem{Title: fmt.Sprintf("retry of %s scheduled (attempt %d)", what, e.Attempt), At: e.At, Note: note})
		case saga.CompletedV1:
			add(timelineItem{Title: "saga completed", Class: "ok", Outcome: "completed", At: e.At})
		case saga.CompensatedV1:
			add(timelineItem{Title: "saga compensated", Class: "warn", Outcome: "compensated", At: e.At})
		case saga.NeedsAttentionV1:
			add(timelineItem{Title: "saga needs attention", Step: e.Step, Class: "bad", Outcome: "needs_attention", Error: e.Reason, At: e.At})
		case saga.FailedV1:
			add(timelineItem{Title: "saga failed", Step: e.Step, Class: "bad", Outcome: "failed", Error: e.Reason, At: e.At})
		case saga.RetriedV1:
			title := "retried by an operator"
			if e.RetryNow {
				title = "retried now by an operator (the delay skipped)"
			}
			add(timelineItem{Title: title, Outcome: "retried", At: e.At, Note: operatorNote(e)})
		case saga.ResolvedV1:
			add(timelineItem{Title: e.Step + " marked resolved by an operator", Step: e.Step, Class: "ok", Outcome: "resolved",
				At: e.At, Note: operatorNote(e)})
		case saga.AbortedV1:
			add(timelineItem{Title: "aborted by an operator", Class: "warn", Outcome: "aborted", At: e.At, Note: operatorNote(e)})
		default:
			add(timelineItem{Title: e.Type, At: e.At})
		}
	}
	return items
}

// attemptLine starts the line of an attempt, running.
func attemptLine(k attemptKey, at time.Time, comps map[string]string) timelineItem {
	title := k.step
	if k.comp {
		title = "compensate " + k.step
		if c := comps[k.step]; c != "" {
			title = c + " (compensates " + k.step + ")"
		}
	}
	return timelineItem{Title: title, Step: k.step, Compensation: k.comp, Attempt: k.attempt, Outcome: "running", At: at}
}

func operatorNote(e eventEntry) string {
	switch {
	case e.By != "" && e.Reason != "":
		return e.By + ": " + e.Reason
	case e.By != "":
		return e.By
	}
	return e.Reason
}

// compensations maps each step of def to its compensation command.
func compensations(def saga.Definition) map[string]string {
	m := make(map[string]string, len(def.Steps))
	for _, st := range def.Steps {
		if st.Compensation != "" {
			m[st.Name] = st.Compensation
		}
	}
	return m
}
