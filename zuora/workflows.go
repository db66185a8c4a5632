package zuora

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Workflow is one Zuora workflow as listed by GET /workflows.
type Workflow struct {
	// ID is Zuora's id, unique within a tenant only.
	ID          int64
	Name        string
	Description string
	// Status is "Active" or "Inactive" as Zuora says it (not checked).
	Status string
	// CreatedAt and UpdatedAt are in UTC; zero when Zuora sent none.
	CreatedAt time.Time
	UpdatedAt time.Time
	// Raw is the workflow's JSON object exactly as Zuora sent it.
	Raw json.RawMessage
}

// Page is one page of a listing, handed to the ListWorkflows callback.
type Page struct {
	// Number counts the pages of this listing from 1.
	Number int
	// Workflows are the page's workflows in the order Zuora sent them.
	Workflows []Workflow
}

// Listing summarises a ListWorkflows call.
type Listing struct {
	// Pages and Workflows count what was handed to the callback.
	Pages     int
	Workflows int
	// Complete is true only when the API said the listing was over (no
	// next_page, or a short page) and every page was handed over; a listing
	// that is not complete must not be taken for the tenant's whole set.
	Complete bool
}

// ListWorkflows lists every workflow of the tenant, handing each page to fn
// in order. It follows pagination.next_page until it is absent or a page is
// short. It stops at the first error — a request that failed for good, a
// page it cannot decode, a workflow without an id or with a bad timestamp,
// a next_page it refuses, or an error from fn — and returns it with the
// listing so far, not complete.
func (c *Client) ListWorkflows(ctx context.Context, fn func(Page) error) (Listing, error) {
	var listing Listing
	if c.err != nil {
		return listing, c.err
	}
	next := c.base.JoinPath("workflows")
	next.RawQuery = url.Values{"page": {"1"}, "page_length": {strconv.Itoa(c.cfg.PageLength)}}.Encode()
	seen := make(map[string]struct{})
	for n := 1; ; n++ {
		if n > c.cfg.MaxPages {
			return listing, fmt.Errorf("list workflows: %w: more than %d pages", ErrPagination, c.cfg.MaxPages)
		}
		key := next.String()
		if _, ok := seen[key]; ok {
			return listing, fmt.Errorf("list workflows: %w: next_page of page %d loops back to %s", ErrPagination, n-1, next.RequestURI())
		}
		seen[key] = struct{}{}
		body, err := c.do(ctx, request{
			op: fmt.Sprintf("list workflows page %d", n), method: http.MethodGet, url: next, auth: true, limit: c.cfg.MaxBodyBytes,
		})
		if err != nil {
			return listing, err
		}
		page, nextRaw, pageLength, err := decodePage(body, n)
		if err != nil {
			return listing, fmt.Errorf("list workflows: %w", err)
		}
		if pageLength <= 0 {
			pageLength = c.cfg.PageLength
		}
		if err := fn(page); err != nil {
			return listing, fmt.Errorf("list workflows page %d: %w", n, err)
		}
		listing.Pages++
		listing.Workflows += len(page.Workflows)
		if nextRaw == "" || len(page.Workflows) < pageLength {
			listing.Complete = true
			return listing, nil
		}
		if next, err = resolveNext(c.base, next, nextRaw); err != nil {
			return listing, fmt.Errorf("list workflows page %d: %w", n, err)
		}
	}
}

// wirePage is GET /workflows' answer.
type wirePage struct {
	Data       *[]json.RawMessage `json:"data"`
	Pagination struct {
		NextPage   string      `json:"next_page"`
		PageLength json.Number `json:"page_length"`
	} `json:"pagination"`
}

// wireWorkflow is one workflow as Zuora sends it.
type wireWorkflow struct {
	ID          json.RawMessage `json:"id"`
	Name        string          `json:"name"`
	Description string          `json:"description"`
	Status      string          `json:"status"`
	CreatedAt   string          `json:"createdAt"`
	UpdatedAt   string          `json:"updatedAt"`
}

// decodePage decodes page n; every problem names the page and the index.
func decodePage(body []byte, n int) (page Page, next string, pageLength int, err error) {
	page.Number = n
	var w wirePage
	if err := json.Unmarshal(body, &w); err != nil {
		return page, "", 0, fmt.Errorf("%w: page %d: %v", ErrBadResponse, n, err)
	}
	if w.Data == nil {
		return page, "", 0, fmt.Errorf("%w: page %d: no data array", ErrBadResponse, n)
	}
	if pl, err := w.Pagination.PageLength.Int64(); err == nil {
		pageLength = int(pl)
	}
	page.Workflows = make([]Workflow, 0, len(*w.Data))
	for i, raw := range *w.Data {
		wf, err := decodeWorkflow(raw)
		if err != nil {
			return page, "", 0, fmt.Errorf("%w: page %d, workflow %d: %v", ErrBadResponse, n, i, err)
		}
		page.Workflows = append(page.Workflows, wf)
	}
	return page, w.Pagination.NextPage, pageLength, nil
}

// decodeWorkflow decodes one workflow; it needs a positive id and either no
// timestamps or valid ones.
func decodeWorkflow(raw json.RawMessage) (Workflow, error) {
	var w wireWorkflow
	if err := json.Unmarshal(raw, &w); err != nil {
		return Workflow{}, err
	}
	id, err := strconv.ParseInt(strings.Trim(string(w.ID), `"`), 10, 64)
	if len(w.ID) == 0 || string(w.ID) == "null" {
		return Workflow{}, fmt.Errorf("no id")
	}
	if err != nil || id <= 0 {
		return Workflow{}, fmt.Errorf("id %s: want a positive integer", cut(string(w.ID)))
	}
	wf := Workflow{ID: id, Name: w.Name, Description: w.Description, Status: w.Status, Raw: raw}
	if wf.CreatedAt, err = parseTimestamp(w.CreatedAt); err != nil {
		return Workflow{}, fmt.Errorf("id %d: createdAt: %w", id, err)
	}
	if wf.UpdatedAt, err = parseTimestamp(w.UpdatedAt); err != nil {
		return Workflow{}, fmt.Errorf("id %d: updatedAt: %w", id, err)
	}
	return wf, nil
}

// resolveNext resolves a next_page against the page it came from and refuses
// one that leaves the base URL's scheme and host.
func resolveNext(base, current *url.URL, raw string) (*url.URL, error) {
	ref, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("%w: next_page %q: %v", ErrPagination, cut(raw), err)
	}
	u := current.ResolveReference(ref)
	if u.Scheme != base.Scheme || !strings.EqualFold(u.Host, base.Host) || u.User != nil {
		return nil, fmt.Errorf("%w: next_page %q leaves %s://%s", ErrPagination, cut(u.Redacted()), base.Scheme, base.Host)
	}
	u.Fragment = ""
	return u, nil
}
