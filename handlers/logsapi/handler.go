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
	"github.com/eventline/eventline/platform/httpapi"
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

// BodyCostFactor is how many bytes of memory one byte of an ingest body is
// counted as while its request is handled: the body, the decoded entries,
// and the encoded event on its way to the log.
const BodyCostFactor = 3

// Handler serves /api/logs.
type Handler struct {
	pool     *pgxpool.Pool
	ingester *Ingester
	idem     *httpapi.Idempotency
	runner   RunnerStats
	pending  *pendingCounter
	finder   *finder
	now      func() time.Time
	// Retention is the configured retention, shown by the stats and the
	// dashboard (the module sets it; zero: keep forever).
	Retention Config
}

// NewHandler wires the logs endpoints. runner may be nil when this process
// runs no projector; lookup bounds the reading of the log for entries not
// yet in PostgreSQL.
func NewHandler(store *eventstore.Store, pool *pgxpool.Pool, ingester *Ingester, idem *httpapi.Idempotency, runner RunnerStats, lookup LookupConfig) *Handler {
	return &Handler{pool: pool, ingester: ingester, idem: idem, runner: runner,
		pending: &pendingCounter{}, finder: newFinder(lookup, store, pool, ingester, time.Now), now: time.Now}
}

// Run enables, until ctx ends, the index of the log's unprojected events
// that lookups use (it reads the log only when a lookup asks). Without it
// lookups still work, reading the log each time.
func (h *Handler) Run(ctx context.Context) error { return h.finder.run(ctx) }

// readBody reads an ingest body within the ingester's byte budget.
func (h *Handler) readBody(w http.ResponseWriter, r *http.Request, limit int64) (*httpapi.Body, error) {
	return httpapi.ReadBodyWithin(w, r, limit, h.ingester.budget, BodyCostFactor)
}

// Mount registers the routes on s.
func (h *Handler) Mount(s *httpapi.Server) {
	s.Handle("POST /api/logs", h.postOne)
	s.Handle("POST /api/logs/batch", h.postBatch)
	s.Handle("GET /api/logs", h.list)
	s.Handle("GET /api/logs/stats", h.stats)
	s.Handle("GET /api/logs/{id}", h.get)
	s.Handle("POST /v1/logs", h.postOTLP)
	// What the server refuses before a handler runs (no token, a host not
	// allowed) is answered to exporters in OTLP's shape too.
	s.HandleErrors("/v1/", func(w http.ResponseWriter, r *http.Request, err error) {
		mt, _ := otlpMediaType(r)
		writeOTLPError(w, r, mt, err)
	})
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
	held, err := h.readBody(w, r, MaxSingleBody)
	if err != nil {
		httpapi.WriteError(w, r, err)
		return
	}
	defer held.Release()
	body := held.Data
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
	held, err := h.readBody(w, r, MaxBatchBody)
	if err != nil {
		httpapi.WriteError(w, r, err)
		return
	}
	defer held.Release()
	// A large batch takes its share of the server's cache before it is
	// decoded; it keeps it for a while only if it gets to the log.
	cached, err := h.ingester.cache.reserve(int64(len(held.Data)))
	if err != nil {
		httpapi.WriteError(w, r, err)
		return
	}
	appended := false
	defer func() { cached.release(appended) }()
	body := held.Data
	held.Data = nil // body is the only reference: dead once fingerprinted
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
		// Hand the entries over: once encoded they are garbage, which
		// matters for a 16 MiB batch on its way to the log.
		es := entries
		entries = nil
		appended = true
		var seq uint64
		if dedupeID != "" {
			seq, ids, err = h.ingester.SubmitAlone(ctx, es, dedupeID)
		} else {
			seq, err = h.ingester.Submit(ctx, es)
		}
		if err != nil {
			return httpapi.Response{}, err
		}
		return httpapi.Response{Status: http.StatusAccepted, Body: acceptedBatch{Accepted: len(ids), IDs: ids, LastSeq: seq}, Seq: seq}, nil
	})
}
