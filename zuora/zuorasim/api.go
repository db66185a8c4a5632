package zuorasim

import (
	"crypto/subtle"
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// maxPageLength is the largest page_length the API accepts.
const maxPageLength = 50

// defaultPageLength is the page_length when none is asked for.
const defaultPageLength = 20

// handleToken serves POST /oauth/token (client credentials, as a form).
func (s *Server) handleToken(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	if err := r.ParseForm(); err != nil {
		writeError(w, http.StatusBadRequest, "invalid_request", "the body is not a form", "")
		return
	}
	if gt := r.PostForm.Get("grant_type"); gt != "client_credentials" {
		writeError(w, http.StatusBadRequest, "unsupported_grant_type", "grant_type must be client_credentials", "grant_type")
		return
	}
	id, secret := r.PostForm.Get("client_id"), r.PostForm.Get("client_secret")
	s.mu.Lock()
	s.stats.TokenRequests++
	t, ok := s.tenants[id]
	if ok {
		ts := s.stats.Tenants[id]
		ts.TokenRequests++
		s.stats.Tenants[id] = ts
	}
	if !ok || subtle.ConstantTimeCompare([]byte(secret), []byte(t.ClientSecret)) != 1 {
		s.stats.Unauthorized++
		s.mu.Unlock()
		writeError(w, http.StatusUnauthorized, "invalid_client", "unknown client or wrong secret", "")
		return
	}
	tok := s.issueToken(id)
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]any{
		"access_token": tok,
		"token_type":   "bearer",
		"expires_in":   int64(s.opts.TokenTTL / time.Second),
		"scope":        "workflows",
		"jti":          tok[:8],
	})
}

// wfOut is one workflow as the API sends it.
type wfOut struct {
	ID              int64  `json:"id"`
	Name            string `json:"name"`
	Description     string `json:"description"`
	Status          string `json:"status"`
	CreatedAt       string `json:"createdAt"`
	UpdatedAt       string `json:"updatedAt"`
	Version         string `json:"version"`
	OndemandTrigger bool   `json:"ondemandTrigger"`
}

// pagination is the paging part of GET /workflows' answer.
type pagination struct {
	NextPage   string `json:"next_page,omitempty"`
	Page       int    `json:"page"`
	PageLength int    `json:"page_length"`
}

// handleWorkflows serves GET /workflows?page=&page_length= for the token's tenant.
func (s *Server) handleWorkflows(w http.ResponseWriter, r *http.Request) {
	page, pageLength, ferr := pageQuery(r.URL.Query())
	tok, hasBearer := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	s.mu.Lock()
	s.stats.PageRequests++
	it, ok := s.tokens[tok]
	if ok && !s.opts.Now().Before(it.expires) {
		delete(s.tokens, tok)
		ok = false
	}
	var t *tenantState
	if ok {
		t, ok = s.tenants[it.clientID]
	}
	if !hasBearer || !ok {
		s.stats.Unauthorized++
		s.mu.Unlock()
		writeError(w, http.StatusUnauthorized, "invalid_token", "missing, unknown or expired access token", "")
		return
	}
	ts := s.stats.Tenants[it.clientID]
	ts.PageRequests++
	if ferr != nil {
		s.stats.Tenants[it.clientID] = ts
		s.mu.Unlock()
		writeError(w, http.StatusBadRequest, "invalid_parameter", ferr.msg, ferr.field)
		return
	}
	var fault *Fault
	if q := t.faults[page]; len(q) > 0 {
		fault = q[0]
		if fault.Times--; fault.Times <= 0 {
			t.faults[page] = q[1:]
		}
		ts.FaultsServed++
		s.stats.FaultsServed++
	}
	s.stats.Tenants[it.clientID] = ts
	var items []Workflow
	format := t.TimeFormat
	if start := (page - 1) * pageLength; fault == nil && start < len(t.Workflows) {
		items = t.Workflows[start:min(start+pageLength, len(t.Workflows))]
	}
	last := page*pageLength >= len(t.Workflows)
	s.mu.Unlock() // items is never written in place: PutTenant replaces the slice

	if s.opts.Latency > 0 {
		timer := time.NewTimer(s.opts.Latency)
		select {
		case <-timer.C:
		case <-r.Context().Done():
			timer.Stop()
			return
		}
	}
	if fault != nil {
		if fault.Status == http.StatusTooManyRequests && fault.RetryAfter > 0 {
			w.Header().Set("Retry-After", strconv.Itoa(fault.RetryAfter))
		}
		writeError(w, fault.Status, "simulated_fault", "simulated failure of page "+strconv.Itoa(page), "")
		return
	}
	out := struct {
		Data       []wfOut    `json:"data"`
		Pagination pagination `json:"pagination"`
	}{Data: make([]wfOut, len(items)), Pagination: pagination{Page: page, PageLength: pageLength}}
	for i, wf := range items {
		out.Data[i] = wfOut{
			ID: wf.ID, Name: wf.Name, Description: wf.Description, Status: wf.Status,
			CreatedAt: formatTime(wf.CreatedAt, format, wf.ID), UpdatedAt: formatTime(wf.UpdatedAt, format, wf.ID),
			Version: "1.0", OndemandTrigger: true,
		}
	}
	if !last {
		scheme := "http"
		if r.TLS != nil {
			scheme = "https"
		}
		next := url.URL{Scheme: scheme, Host: r.Host, Path: "/workflows", RawQuery: url.Values{
			"page": {strconv.Itoa(page + 1)}, "page_length": {strconv.Itoa(pageLength)},
		}.Encode()}
		out.Pagination.NextPage = next.String()
	}
	writeJSON(w, http.StatusOK, out)
}

// pageQuery reads page (default 1) and page_length (default 20, at most 50).
func pageQuery(q url.Values) (page, pageLength int, ferr *fieldError) {
	page, pageLength = 1, defaultPageLength
	if v := q.Get("page"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return 0, 0, &fieldError{"page", "page must be a positive integer"}
		}
		page = n
	}
	if v := q.Get("page_length"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > maxPageLength {
			return 0, 0, &fieldError{"page_length", "page_length must be an integer from 1 to 50"}
		}
		pageLength = n
	}
	if page > 1_000_000 {
		return 0, 0, &fieldError{"page", "page is too large"}
	}
	return page, pageLength, nil
}

// formatTime renders a timestamp in the tenant's format.
func formatTime(t time.Time, format string, id int64) string {
	if format == TimeSpace || (format == TimeMixed && id%2 == 0) {
		return t.UTC().Format(time.DateTime)
	}
	return t.UTC().Format("2006-01-02T15:04:05.000Z07:00")
}

// writeJSON writes v with status.
func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// writeError writes the contract's error shape.
func writeError(w http.ResponseWriter, status int, code, msg, field string) {
	body := map[string]string{"code": code, "message": msg}
	if field != "" {
		body["field"] = field
	}
	writeJSON(w, status, map[string]any{"error": body})
}
