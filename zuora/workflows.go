package zuora

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/valyala/fastjson"
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
	// Bytes is the size of the page's body as received: what a listing
	// bounds its intake by.
	Bytes int
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
		page.Bytes = len(body)
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

// pages pools the JSON parsers of page bodies.
var pages fastjson.ParserPool

// decodePage decodes page n in one pass; every problem names the page and
// the index. Strings are made valid UTF-8 (invalid bytes become U+FFFD, as
// encoding/json does).
func decodePage(body []byte, n int) (page Page, next string, pageLength int, err error) {
	page.Number = n
	if err := fastjson.ValidateBytes(body); err != nil { // strict: the parser alone lets bad escapes through
		return page, "", 0, fmt.Errorf("%w: page %d: %v", ErrBadResponse, n, err)
	}
	p := pages.Get()
	defer pages.Put(p)
	root, err := p.ParseBytes(body)
	if err != nil {
		return page, "", 0, fmt.Errorf("%w: page %d: %v", ErrBadResponse, n, err)
	}
	data := root.Get("data")
	if data == nil || data.Type() != fastjson.TypeArray {
		return page, "", 0, fmt.Errorf("%w: page %d: no data array", ErrBadResponse, n)
	}
	if pg := root.Get("pagination"); pg != nil && pg.Type() == fastjson.TypeObject {
		if next, err = optString(pg, "next_page"); err != nil {
			return page, "", 0, fmt.Errorf("%w: page %d: pagination: %v", ErrBadResponse, n, err)
		}
		if pl := pg.Get("page_length"); pl != nil && pl.Type() == fastjson.TypeNumber {
			pageLength = pl.GetInt()
		}
	}
	items, _ := data.Array()
	page.Workflows = make([]Workflow, 0, len(items))
	for i, item := range items {
		wf, err := decodeWorkflow(item)
		if err != nil {
			return page, "", 0, fmt.Errorf("%w: page %d, workflow %d: %v", ErrBadResponse, n, i, err)
		}
		page.Workflows = append(page.Workflows, wf)
	}
	return page, next, pageLength, nil
}

// decodeWorkflow decodes one workflow; it needs a positive id and either no
// timestamps or valid ones. Other fields are kept in Raw.
func decodeWorkflow(v *fastjson.Value) (Workflow, error) {
	if v.Type() != fastjson.TypeObject {
		return Workflow{}, fmt.Errorf("got %s, want an object", v.Type())
	}
	var wf Workflow
	idv := v.Get("id")
	switch {
	case idv == nil || idv.Type() == fastjson.TypeNull:
		return Workflow{}, errors.New("no id")
	case idv.Type() == fastjson.TypeNumber:
		wf.ID, _ = idv.Int64()
	case idv.Type() == fastjson.TypeString:
		wf.ID, _ = strconv.ParseInt(string(idv.GetStringBytes()), 10, 64)
	}
	if wf.ID <= 0 {
		return Workflow{}, fmt.Errorf("id %s: want a positive integer", cut(idv.String()))
	}
	var created, updated string
	for _, f := range []struct {
		key string
		dst *string
	}{
		{"name", &wf.Name}, {"description", &wf.Description}, {"status", &wf.Status},
		{"createdAt", &created}, {"updatedAt", &updated},
	} {
		s, err := optString(v, f.key)
		if err != nil {
			return Workflow{}, fmt.Errorf("id %d: %v", wf.ID, err)
		}
		*f.dst = s
	}
	var err error
	if wf.CreatedAt, err = parseTimestamp(created); err != nil {
		return Workflow{}, fmt.Errorf("id %d: createdAt: %w", wf.ID, err)
	}
	if wf.UpdatedAt, err = parseTimestamp(updated); err != nil {
		return Workflow{}, fmt.Errorf("id %d: updatedAt: %w", wf.ID, err)
	}
	raw := v.MarshalTo(make([]byte, 0, 256))
	if !utf8.Valid(raw) {
		raw = bytes.ToValidUTF8(raw, []byte("\uFFFD"))
	}
	wf.Raw = raw
	return wf, nil
}

// optString reads an optional string field: absent or null is "".
func optString(v *fastjson.Value, key string) (string, error) {
	f := v.Get(key)
	if f == nil || f.Type() == fastjson.TypeNull {
		return "", nil
	}
	if f.Type() != fastjson.TypeString {
		return "", fmt.Errorf("%s: got %s, want a string", key, f.Type())
	}
	b := f.GetStringBytes()
	if !utf8.Valid(b) {
		return strings.ToValidUTF8(string(b), "\uFFFD"), nil
	}
	return string(b), nil
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
