package httpapi

import (
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strconv"

	json "github.com/go-json-experiment/json/v1"
)

// WriteJSON sends v as JSON with status.
func WriteJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status = http.StatusInternalServerError
		b = []byte(`{"error":{"code":"internal_error","message":"Something went wrong on our side."}}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}

func itoa(n int) string { return strconv.Itoa(n) }

// MediaType returns the request's media type, checking it is one of
// allowed. A missing Content-Type counts as the first allowed type.
func MediaType(r *http.Request, allowed ...string) (string, error) {
	ct := r.Header.Get("Content-Type")
	if ct == "" {
		return allowed[0], nil
	}
	mt, _, err := mime.ParseMediaType(ct)
	if err == nil {
		for _, a := range allowed {
			if mt == a {
				return mt, nil
			}
		}
	}
	return "", &Error{Status: http.StatusUnsupportedMediaType, Code: "unsupported_media_type",
		Message: fmt.Sprintf("Content-Type %q is not accepted; send %v.", ct, allowed)}
}

// ReadJSONBody checks the request is JSON (or says no type) and reads its
// whole body within limit, answering 415 and 413 as MediaType and ReadBody
// do.
func ReadJSONBody(w http.ResponseWriter, r *http.Request, limit int64) ([]byte, error) {
	if _, err := MediaType(r, "application/json"); err != nil {
		return nil, err
	}
	return ReadBody(w, r, limit)
}

// ReadBody reads the whole body, refusing more than limit bytes with 413.
func ReadBody(w http.ResponseWriter, r *http.Request, limit int64) ([]byte, error) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			return nil, &Error{Status: http.StatusRequestEntityTooLarge, Code: "body_too_large",
				Message: fmt.Sprintf("The request body exceeds %d bytes.", limit)}
		}
		return nil, &Error{Status: http.StatusBadRequest, Code: "unreadable_body", Message: "The request body could not be read."}
	}
	return body, nil
}

// QueryInt parses an optional non-negative integer query parameter.
func QueryInt(r *http.Request, name string, def, maxVal int64) (int64, error) {
	s := r.URL.Query().Get(name)
	if s == "" {
		return def, nil
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 {
		return 0, FieldErr(name, fmt.Sprintf("%s must be a non-negative integer.", name))
	}
	if maxVal > 0 && n > maxVal {
		return 0, FieldErr(name, fmt.Sprintf("%s must be at most %d.", name, maxVal))
	}
	return n, nil
}
