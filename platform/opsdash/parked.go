package opsdash

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/eventline/eventline/platform/dashboard"
	"github.com/eventline/eventline/platform/httpapi"
	"github.com/eventline/eventline/platform/opsapi"
)

// parkedView is the parked section of /streams.
type parkedView struct {
	Groups []parkedGroup
}

// parkedGroup is one projection's or reactor's parked work as the page
// shows it.
type parkedGroup struct {
	Kind, Name, Total, RetryPath string
	More                         int64
	Items                        []parkedRow
}

// parkedRow is one parked item.
type parkedRow struct {
	Seq, Item, Where, EventType, Error, Parked, Held, Vals string
}

func (p *pages) mountParked() {
	p.d.Handle("GET "+ParkedPath, p.parkedFragment)
	p.d.Handle("POST /streams/parked/{kind}/{name}/retry", p.retryParked)
}

// parkedFragment lists the parked items, ParkedShown of each projection
// and reactor.
func (p *pages) parkedFragment(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), fragmentTimeout)
	defer cancel()
	groups, err := p.parked.List(ctx, opsapi.ParkedShown)
	if err != nil {
		p.failed(w, r, "parked items", err)
		return
	}
	var v parkedView
	for _, g := range groups {
		pg := parkedGroup{Kind: g.Kind, Name: g.Name, Total: count(g.Total), More: g.Total - int64(len(g.Items)),
			RetryPath: "/streams/parked/" + g.Kind + "/" + g.Name + "/retry"}
		for _, it := range g.Items {
			row := parkedRow{Seq: strconv.FormatUint(it.Seq, 10), Item: it.Item, Where: it.Subject, EventType: it.EventType,
				Error: it.Error, Parked: dashboard.FormatTime(it.ParkedAt)}
			if it.Stream != "" {
				row.Where = it.Stream + " · " + it.Subject
			}
			if it.HeldBy > 0 {
				row.Held = fmt.Sprintf("held, waiting for #%d", it.HeldBy)
			}
			vals := `{"skip":"` + row.Seq + `"`
			if it.Item != "" {
				vals += `,"item":` + strconv.Quote(it.Item)
			}
			row.Vals = vals + "}"
			pg.Items = append(pg.Items, row)
		}
		v.Groups = append(v.Groups, pg)
	}
	p.d.Fragment(w, r, p.tmpl, "parked", v)
}

// retryParked is the Retry and Skip buttons: the CLI's `projections
// retry NAME [--skip SEQ [--item ID]] --by --reason` (or `reactors retry`),
// the person's name and reason from the form. It answers a line saying
// what happened.
func (p *pages) retryParked(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		p.d.Fragment(w, r, p.tmpl, "parked-result", parkedResult{Message: "The form could not be read.", Refused: true})
		return
	}
	kind, name := r.PathValue("kind"), r.PathValue("name")
	req := opsapi.RetryRequest{Item: r.PostFormValue("item"), By: r.PostFormValue("by"), Reason: r.PostFormValue("reason")}
	if s := strings.TrimSpace(r.PostFormValue("skip")); s != "" {
		n, err := strconv.ParseUint(s, 10, 64)
		if err != nil || n == 0 {
			p.d.Fragment(w, r, p.tmpl, "parked-result", parkedResult{Message: "Refused: skip is an event's sequence.", Refused: true})
			return
		}
		req.Skip = n
	}
	if err := req.Validate(); err != nil {
		msg := err.Error()
		if e, ok := errors.AsType[*httpapi.Error](err); ok {
			msg = e.Message
		}
		p.d.Fragment(w, r, p.tmpl, "parked-result", parkedResult{Message: "Refused: " + msg, Refused: true})
		return
	}
	if req.By == "" {
		req.By = "dashboard"
	}
	out, err := p.parked.Retry(r.Context(), kind, name, req.Skip, req.Item, req.By, req.Reason)
	if err != nil {
		msg := err.Error()
		if e, ok := errors.AsType[*httpapi.Error](opsapi.RetryError(err)); ok {
			msg = e.Message
		}
		p.d.Fragment(w, r, p.tmpl, "parked-result", parkedResult{Message: kind + " " + name + ": " + msg, Refused: true})
		return
	}
	msg := kind + " " + name + ": "
	if out.Skipped > 0 {
		what := "#" + strconv.FormatUint(out.Skipped, 10)
		if req.Item != "" {
			what += " item " + req.Item
		}
		msg += "skipped " + what + " by " + req.By + " (" + req.Reason + "), recorded"
		if kind == opsapi.KindReactor {
			p.d.Fragment(w, r, p.tmpl, "parked-result", parkedResult{Message: msg + "."})
			return
		}
		msg += "; "
	}
	msg += fmt.Sprintf("retried %d parked: %d done, %d still parked.", out.Retried, out.Done, out.StillParked)
	p.d.Fragment(w, r, p.tmpl, "parked-result", parkedResult{Message: msg, Refused: out.StillParked > 0})
}

// parkedResult is an action's answer.
type parkedResult struct {
	Message string
	Refused bool
}
