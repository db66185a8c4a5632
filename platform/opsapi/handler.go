package opsapi

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/eventline/eventline/platform/httpapi"
)

// httpTimeout bounds one /api/ops request, retryTimeout a retry of parked
// work.
const (
	httpTimeout  = 5 * time.Second
	retryTimeout = 60 * time.Second
)

// Handler serves /api/ops/*: the same views as `eventline streams`,
// `eventline consumers` and `eventline projections list`, for the dashboard.
type Handler struct {
	in     *Inspector
	parked *Parked
}

// NewHandler returns the handler over in.
func NewHandler(in *Inspector) *Handler { return &Handler{in: in} }

// Mount registers the routes on s.
func (h *Handler) Mount(s *httpapi.Server) {
	s.Handle("GET /api/ops/streams", h.streams)
	s.Handle("GET /api/ops/consumers", h.consumers)
	s.Handle("GET /api/ops/projections", h.projections)
	if h.parked != nil {
		s.Handle("GET /api/ops/parked", h.listParked)
		s.Handle("POST /api/ops/projections/{name}/retry", h.retry(KindProjection))
		s.Handle("POST /api/ops/reactors/{name}/retry", h.retry(KindReactor))
	}
}

// answer runs fn with a bounded time and writes its result as {key: [...]}.
func answer[T any](w http.ResponseWriter, r *http.Request, key string, fn func(ctx context.Context) (T, error)) {
	ctx, cancel := context.WithTimeout(r.Context(), httpTimeout)
	defer cancel()
	v, err := fn(ctx)
	if err != nil {
		if errors.Is(err, ErrUnknownStream) {
			err = httpapi.Errorf(http.StatusNotFound, "unknown_stream", "No such stream.")
		}
		httpapi.WriteError(w, r, err)
		return
	}
	httpapi.WriteJSON(w, http.StatusOK, map[string]any{key: v})
}

func (h *Handler) streams(w http.ResponseWriter, r *http.Request) {
	answer(w, r, "streams", h.in.Streams)
}

func (h *Handler) consumers(w http.ResponseWriter, r *http.Request) {
	stream := r.URL.Query().Get("stream")
	answer(w, r, "consumers", func(ctx context.Context) ([]ConsumerView, error) { return h.in.Consumers(ctx, stream) })
}

func (h *Handler) projections(w http.ResponseWriter, r *http.Request) {
	answer(w, r, "projections", h.in.Projections)
}
