package opsapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"unicode/utf8"

	"github.com/eventline/eventline/platform/httpapi"
	"github.com/eventline/eventline/platform/reactor"
	"github.com/eventline/eventline/projections"
)

// Bounds of the parked endpoints.
const (
	// ParkedShown is how many parked items of each projection or reactor
	// a listing shows by default (the oldest); at most MaxParkedShown.
	ParkedShown    = 20
	MaxParkedShown = 500
	maxRetryBody   = 8 << 10
)

// RetryRequest is the body of POST /api/ops/{projections|reactors}/{name}/retry:
// with Skip, the event (Item: one log entry of it) is dropped first, with
// who (By) and why (Reason, required) recorded.
type RetryRequest struct {
	Skip   uint64 `json:"skip"`
	Item   string `json:"item"`
	By     string `json:"by"`
	Reason string `json:"reason"`
}

// Validate checks r's bounds; a skip needs a reason.
func (r *RetryRequest) Validate() error {
	r.By, r.Reason = strings.TrimSpace(r.By), strings.TrimSpace(r.Reason)
	switch {
	case !utf8.ValidString(r.By+r.Reason+r.Item) || strings.ContainsRune(r.By+r.Reason+r.Item, 0):
		return httpapi.Errorf(http.StatusBadRequest, "invalid_json", "Strings must be valid UTF-8 without NUL characters.")
	case len(r.By) > 200:
		return httpapi.FieldErr("by", "by is at most 200 bytes.")
	case len(r.Reason) > 1000:
		return httpapi.FieldErr("reason", "reason is at most 1000 bytes.")
	case len(r.Item) > 200:
		return httpapi.FieldErr("item", "item is a parked log entry's id.")
	case r.Item != "" && r.Skip == 0:
		return httpapi.FieldErr("item", "item needs skip: the event it belongs to.")
	case r.Skip > 0 && r.Reason == "":
		return httpapi.FieldErr("reason", "Say why the event is skipped: it is recorded with who skipped it.")
	}
	return nil
}

// RetryError maps what a retry or skip may fail with to the API's errors.
func RetryError(err error) error {
	switch {
	case errors.Is(err, ErrUnknownParked), errors.Is(err, reactor.ErrUnknownReactor):
		return httpapi.Errorf(http.StatusNotFound, "not_found", "No such projection or reactor.")
	case errors.Is(err, projections.ErrNotParked), errors.Is(err, reactor.ErrNotParked):
		return httpapi.Errorf(http.StatusNotFound, "not_parked", "Nothing is parked at that sequence (retried or skipped already?).")
	}
	return err
}

// WithParked adds the parked endpoints over p.
func (h *Handler) WithParked(p *Parked) *Handler {
	h.parked = p
	return h
}

func (h *Handler) listParked(w http.ResponseWriter, r *http.Request) {
	limit, err := httpapi.QueryInt(r, "limit", ParkedShown, MaxParkedShown)
	if err == nil && limit == 0 {
		err = httpapi.FieldErr("limit", "limit must be between 1 and 500.")
	}
	if err != nil {
		httpapi.WriteError(w, r, err)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), httpTimeout)
	defer cancel()
	groups, err := h.parked.List(ctx, int(limit))
	if err != nil {
		httpapi.WriteError(w, r, err)
		return
	}
	if groups == nil {
		groups = []ParkedGroup{}
	}
	httpapi.WriteJSON(w, http.StatusOK, map[string]any{"items": groups, "next_cursor": ""})
}

func (h *Handler) retry(kind string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var req RetryRequest
		body, err := httpapi.ReadBody(w, r, maxRetryBody)
		if err == nil && len(bytes.TrimSpace(body)) > 0 {
			if _, err = httpapi.MediaType(r, "application/json"); err == nil {
				dec := json.NewDecoder(bytes.NewReader(body))
				dec.DisallowUnknownFields()
				if derr := dec.Decode(&req); derr != nil {
					err = httpapi.Errorf(http.StatusBadRequest, "invalid_json", "The body is not the JSON object expected: "+derr.Error())
				}
			}
		}
		if err == nil {
			err = req.Validate()
		}
		if err != nil {
			httpapi.WriteError(w, r, err)
			return
		}
		if req.By == "" {
			req.By = "api"
		}
		// A retry reads events and writes rows: longer than a read.
		ctx, cancel := context.WithTimeout(r.Context(), retryTimeout)
		defer cancel()
		out, err := h.parked.Retry(ctx, kind, r.PathValue("name"), req.Skip, req.Item, req.By, req.Reason)
		if err != nil {
			httpapi.WriteError(w, r, RetryError(err))
			return
		}
		httpapi.WriteJSON(w, http.StatusOK, out)
	}
}
