package zuorasim

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
)

// maxControlBody bounds a control-API request body (a 100,000-workflow tenant fits).
const maxControlBody = 64 << 20

// handlePutTenant serves PUT /_sim/tenants/{client_id}.
func (s *Server) handlePutTenant(w http.ResponseWriter, r *http.Request) {
	var t Tenant
	if !decodeBody(w, r, &t) {
		return
	}
	id := r.PathValue("client_id")
	if err := s.PutTenant(id, t); err != nil {
		writeControlError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"client_id": id, "workflows": len(t.Workflows)})
}

// handleAddFault serves POST /_sim/tenants/{client_id}/faults.
func (s *Server) handleAddFault(w http.ResponseWriter, r *http.Request) {
	var f Fault
	if !decodeBody(w, r, &f) {
		return
	}
	if err := s.AddFault(r.PathValue("client_id"), f); err != nil {
		writeControlError(w, err)
		return
	}
	writeJSON(w, http.StatusCreated, f)
}

// handleClearFaults serves DELETE /_sim/tenants/{client_id}/faults.
func (s *Server) handleClearFaults(w http.ResponseWriter, r *http.Request) {
	if err := s.ClearFaults(r.PathValue("client_id")); err != nil {
		writeControlError(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// handleRevokeTokens serves DELETE /_sim/tenants/{client_id}/tokens.
func (s *Server) handleRevokeTokens(w http.ResponseWriter, r *http.Request) {
	if err := s.RevokeTokens(r.PathValue("client_id")); err != nil {
		writeControlError(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// handleStats serves GET /_sim/stats.
func (s *Server) handleStats(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, s.Stats())
}

// decodeBody decodes one JSON object, answering 400/413/415 itself on failure.
func decodeBody(w http.ResponseWriter, r *http.Request, v any) bool {
	if ct := r.Header.Get("Content-Type"); ct != "" && !strings.HasPrefix(ct, "application/json") {
		writeError(w, http.StatusUnsupportedMediaType, "unsupported_media_type", "send application/json", "")
		return false
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxControlBody))
	dec.DisallowUnknownFields()
	err := dec.Decode(v)
	if err == nil && dec.Decode(new(json.RawMessage)) != io.EOF {
		err = errors.New("more than one JSON value")
	}
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig):
		writeError(w, http.StatusRequestEntityTooLarge, "too_large", fmt.Sprintf("body over %d bytes", tooBig.Limit), "")
		return false
	case err != nil:
		writeError(w, http.StatusBadRequest, "invalid_json", "malformed body: "+err.Error(), "")
		return false
	}
	return true
}

// writeControlError maps a control-API error to its status.
func writeControlError(w http.ResponseWriter, err error) {
	var fe *fieldError
	switch {
	case errors.As(err, &fe):
		writeError(w, http.StatusBadRequest, "invalid_field", fe.Error(), fe.field)
	case errors.Is(err, errUnknownTenant):
		writeError(w, http.StatusNotFound, "unknown_tenant", "no tenant with that client id", "")
	default:
		writeError(w, http.StatusInternalServerError, "internal", "the sim failed", "")
	}
}
