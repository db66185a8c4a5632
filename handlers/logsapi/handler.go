package logsapi

import (
	"context"
	"net/http"
	"strconv"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/eventline/eventline/domain/logs"
	"github.com/eventline/eventline/eventstore"
	"github.com/eventline/eventline/handlers/httpapi"
	"github.com/eventline/eventline/projections"
)

// Body limits of the ingest endpoints.
const (
	MaxSingleBody = 1 << 20
	MaxBatchBody  = 16 << 20
)

// RunnerStats reports the in-process projector's counters (retries and
// failed flushes are not stored anywhere else).
type RunnerStats interface {
	Stats() projections.Stats
}

// Handler serves /api/logs.
type Handler struct {
	store    *eventstore.Store
	pool     *pgxpool.Pool
	ingester *Ingester
	idem     *httpapi.Idempotency
	runner   RunnerStats
	pending  *pendingCounter
	now      func() time.Time
}

// NewHandler wires the logs endpoints. runner may be nil when this process
// runs no projector.
func NewHandler(store *eventstore.Store, pool *pgxpool.Pool, ingester *Ingester, idem *httpapi.Idempotency, runner RunnerStats) *Handler {
	return &Handler{store: store, pool: pool, ingester: ingester, idem: idem, runner: runner,
		pending: &pendingCounter{}, now: time.Now}
}

// Mount registers the routes on s.
func (h *Handler) Mount(s *httpapi.Server) {
	s.Handle("POST /api/logs", h.postOne)
	s.Handle("POST /api/logs/batch", h.postBatch)
	s.Handle("GET /api/logs", h.list)
	s.Handle("GET /api/logs/stats", h.stats)
	s.Handle("GET /api/logs/{id}", h.get)
}

type acceptedOne struct {
	ID  uuid.UUID `json:"id"`
	Seq uint64    `json:"seq"`
}

type acceptedBatch struct {
	Accepted int         `json:"accepted"`
	IDs      []uuid.UUID `json:"ids"`
	LastSeq  uint64      `json:"last_seq"`
}

func fieldError(fe *logs.FieldError) error {
	e := &httpapi.Error{Status: http.StatusBadRequest, Code: "invalid_entry", Message: fe.Error(), Field: fe.Field}
	if fe.Index >= 0 {
		e.Code = "invalid_batch_entry"
		if fe.Field != "" {
			e.Field = "[" + strconv.Itoa(fe.Index) + "]." + fe.Field
		} else {
			e.Field = "[" + strconv.Itoa(fe.Index) + "]"
		}
	}
	return e
}

func (h *Handler) postOne(w http.ResponseWriter, r *http.Request) {
	if _, err := httpapi.MediaType(r, "application/json"); err != nil {
		httpapi.WriteError(w, r, err)
		return
	}
	body, err := httpapi.ReadBody(w, r, MaxSingleBody)
	if err != nil {
		httpapi.WriteError(w, r, err)
		return
	}
	entry, fe := logs.DecodeSingle(body, h.now())
	if fe != nil {
		httpapi.WriteError(w, r, fieldError(fe))
		return
	}
	h.idem.Do(w, r, "POST /api/logs", body, func(ctx context.Context, dedupeID string) (httpapi.Response, error) {
		if dedupeID != "" {
			seq, ids, err := h.ingester.SubmitAlone(ctx, []logs.Entry{entry}, dedupeID)
			if err != nil {
				return httpapi.Response{}, err
			}
			return httpapi.Response{Status: http.StatusAccepted, Body: acceptedOne{ID: ids[0], Seq: seq}, Seq: seq}, nil
		}
		seq, err := h.ingester.Submit(ctx, []logs.Entry{entry})
		if err != nil {
			return httpapi.Response{}, err
		}
		return httpapi.Response{Status: http.StatusAccepted, Body: acceptedOne{ID: entry.ID, Seq: seq}, Seq: seq}, nil
	})
}

func (h *Handler) postBatch(w http.ResponseWriter, r *http.Request) {
	mt, err := httpapi.MediaType(r, "application/json", "application/x-ndjson")
	if err != nil {
		httpapi.WriteError(w, r, err)
		return
	}
	body, err := httpapi.ReadBody(w, r, MaxBatchBody)
	if err != nil {
		httpapi.WriteError(w, r, err)
		return
	}
	var entries []logs.Entry
	var fe *logs.FieldError
	if mt == "application/x-ndjson" {
		entries, fe = logs.DecodeNDJSON(body, h.now())
	} else {
		entries, fe = logs.DecodeArray(body, h.now())
	}
	if fe != nil {
		httpapi.WriteError(w, r, fieldError(fe))
		return
	}
	h.idem.Do(w, r, "POST /api/logs/batch", body, func(ctx context.Context, dedupeID string) (httpapi.Response, error) {
		ids := make([]uuid.UUID, len(entries))
		for i, e := range entries {
			ids[i] = e.ID
		}
		var seq uint64
		if dedupeID != "" {
			seq, ids, err = h.ingester.SubmitAlone(ctx, entries, dedupeID)
		} else {
			seq, err = h.ingester.Submit(ctx, entries)
		}
		if err != nil {
			return httpapi.Response{}, err
		}
		return httpapi.Response{Status: http.StatusAccepted, Body: acceptedBatch{Accepted: len(ids), IDs: ids, LastSeq: seq}, Seq: seq}, nil
	})
}
