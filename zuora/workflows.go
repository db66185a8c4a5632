package zuora

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
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
	Raw jsontext.Value
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

// lenient reads a page as encoding/json would: invalid UTF-8 becomes
// U+FFFD, a repeated name's last value wins.
var lenient = json.JoinOptions(jsontext.AllowInvalidUTF8(true), jsontext.AllowDuplicateNames(true))

// decodePage decodes page n; every problem names the page and the index.
// Strings are made valid UTF-8 (invalid bytes become U+FFFD, as
// encoding/json does).
func decodePage(body []byte, n int) (page Page, next string, pageLength int, err error) {
	page.Number = n
	var root struct {
		Data       jsontext.Value `json:"data"`
		Pagination jsontext.Value `json:"pagination"`
	}
	if err := json.Unmarshal(body, &root, lenient); err != nil {
		return page, "", 0, fmt.Errorf("%w: page %d: %v", ErrBadResponse, n, err)
	}
	var items []jsontext.Value
	if jsonKind(root.Data) != "array" || json.Unmarshal(root.Data, &items, lenient) != nil {
		return page, "", 0, fmt.Errorf("%w: page %d: no data array", ErrBadResponse, n)
	}
	if jsonKind(root.Pagination) == "object" {
		var pg struct {
			NextPage   jsontext.Value `json:"next_page"`
			PageLength jsontext.Value `json:"page_length"`
		}
		if err := json.Unmarshal(root.Pagination, &pg, lenient); err != nil {
			return page, "", 0, fmt.Errorf("%w: page %d: pagination: %v", ErrBadResponse, n, err)
		}
		if next, err = optString("next_page", pg.NextPage); err != nil {
			return page, "", 0, fmt.Errorf("%w: page %d: pagination: %v", ErrBadResponse, n, err)
		}
		if pl := pg.PageLength; jsonKind(pl) == "number" {
			if v, err := strconv.ParseFloat(string(pl), 64); err == nil && v >= 0 && v <= 1e9 {
				pageLength = int(v)
			}
		}
	}
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
func decodeWorkflow(item jsontext.Value) (Workflow, error) {
	if k := jsonKind(item); k != "object" {
		return Workflow{}, fmt.Errorf("got %s, want an object", k)
	}
	var fields struct {
		ID          jsontext.Value `json:"id"`
		Name        jsontext.Value `json:"name"`
		Description jsontext.Value `json:"description"`
		Status      jsontext.Value `json:"status"`
		CreatedAt   jsontext.Value `json:"createdAt"`
		UpdatedAt   jsontext.Value `json:"updatedAt"`
	}
	if err := json.Unmarshal(item, &fields, lenient); err != nil {
		return Workflow{}, err
	}
	var wf Workflow
	idv := fields.ID
	switch jsonKind(idv) {
	case "", "null":
		return Workflow{}, errors.New("no id")
	case "number":
		wf.ID = positiveID(string(idv))
	case "string":
		var s string
		_ = json.Unmarshal(idv, &s, lenient)
		wf.ID = positiveID(s)
	}
	if wf.ID <= 0 {
		return Workflow{}, fmt.Errorf("id %s: want a positive integer", cut(string(idv)))
	}
	var created, updated string
	for _, f := range []struct {
		key string
		v   jsontext.Value
		dst *string
	}{
		{"name", fields.Name, &wf.Name}, {"description", fields.Description, &wf.Description}, {"status", fields.Status, &wf.Status},
		{"createdAt", fields.CreatedAt, &created}, {"updatedAt", fields.UpdatedAt, &updated},
	} {
		s, err := optString(f.key, f.v)
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
	wf.Raw = bytes.Clone(item)
	_ = wf.Raw.Compact(jsontext.AllowInvalidUTF8(true), jsontext.AllowDuplicateNames(true)) // valid: Unmarshal read it
	if !utf8.Valid(wf.Raw) {
		wf.Raw = bytes.ToValidUTF8(wf.Raw, []byte("\uFFFD"))
	}
	return wf, nil
}

// positiveID reads a decimal int64, or 0 (out of range, a fraction, text).
func positiveID(s string) int64 {
	id, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0
	}
	return id
}

// jsonKind names the kind of the JSON value v ("" when absent).
func jsonKind(v jsontext.Value) string {
	switch v.Kind() {
	case '{':
		return "object"
	case '[':
		return "array"
	case '"':
		return "string"
	case 't', 'f':
		return "bool"
	case 'n':
		return "null"
	case '0':
		return "number"
	default:
		return ""
	}
}

// optString reads an optional string field: absent or null is "".
func optString(key string, v jsontext.Value) (string, error) {
	switch k := jsonKind(v); k {
	case "", "null":
		return "", nil
	case "string":
		var s string
		if err := json.Unmarshal(v, &s, lenient); err != nil {
			return "", fmt.Errorf("%s: %v", key, err)
		}
		return s, nil
	default:
		return "", fmt.Errorf("%s: got %s, want a string", key, k)
	}
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
