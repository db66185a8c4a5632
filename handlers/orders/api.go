package orders

import (
	"context"
	"errors"
	json "github.com/go-json-experiment/json/v1"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	order "github.com/eventline/eventline/domain/orders"
	"github.com/eventline/eventline/domain/saga"
	"github.com/eventline/eventline/eventstore"
	"github.com/eventline/eventline/eventstore/aggregate"
	"github.com/eventline/eventline/platform/httpapi"
)

// maxBody bounds a request body of the orders API.
const maxBody = 1 << 20

// idNamespace derives the ids of a write from its Idempotency-Key, so that
// a retry taking over from a crashed first attempt writes the same ids.
var idNamespace = uuid.MustParse("0b6d3c52-8f0e-5a51-9d43-7a1c2f3e4b5d")

// API answers the orders endpoints: writes, and reads of one user,
// product, order or saga, from the command loops (read your writes);
// lists from the read models; a saga's history from its subject.
type API struct {
	manager *Manager
	parts   *Participants
	idem    *httpapi.Idempotency
	policy  saga.Policy
	reads   ReadSide
	waiters chan struct{}
	events  sagaStream
}

// ReadSide is what the API reads besides the command loops. A zero field
// leaves out the endpoints that need it.
type ReadSide struct {
	// Events reads a saga's history (GET /api/sagas/{id}/events): a
	// connection of its own for API reads of the log.
	Events *eventstore.Store
	// Pool is the PostgreSQL pool of HTTP reads (lists of sagas, orders and
	// products, an order's payments).
	Pool *pgxpool.Pool
	// MaxWaiters bounds the waits in progress; beyond it a wait answers at
	// once with the current state (DefaultMaxWaiters when 0).
	MaxWaiters int
}

// DefaultMaxWaiters is ReadSide.MaxWaiters's default.
const DefaultMaxWaiters = 10_000

// NewAPI returns the orders API: sagas through m, participants through
// parts, writes replayed through idem (none when nil), order sagas started
// with step policy p, reads of the log and the read models through rs.
func NewAPI(m *Manager, parts *Participants, idem *httpapi.Idempotency, p saga.Policy, rs ReadSide) *API {
	if rs.MaxWaiters <= 0 {
		rs.MaxWaiters = DefaultMaxWaiters
	}
	return &API{manager: m, parts: parts, idem: idem, policy: p, reads: rs, waiters: make(chan struct{}, rs.MaxWaiters)}
}

// Mount mounts the endpoints on s.
func (a *API) Mount(s *httpapi.Server) {
	s.Handle("POST /api/users", a.write("users", a.createUser))
	s.Handle("GET /api/users/{id}", a.getUser)
	s.Handle("POST /api/products", a.write("products", a.createProduct))
	s.Handle("GET /api/products/{id}", a.getProduct)
	s.Handle("POST /api/orders", a.write("orders", a.createOrder))
	s.Handle("GET /api/orders/{id}", a.getOrder)
	s.Handle("GET /api/sagas/{id}", a.getSaga)
	if a.reads.Events != nil {
		s.Handle("GET /api/sagas/{id}/events", a.sagaEvents)
	}
	if a.reads.Pool != nil {
		s.Handle("GET /api/sagas", a.listSagas)
		s.Handle("GET /api/orders", a.listOrders)
		s.Handle("GET /api/products", a.listProducts)
	}
	s.Handle("POST /api/sagas/{id}/retry", a.operate(retryInput, false))
	s.Handle("POST /api/sagas/{id}/abort", a.operate(abortInput, false))
	s.Handle("POST /api/sagas/{id}/resolve", a.operate(resolveInput, true))
}

// writeFunc handles a write's body; dedupeID is the Idempotency-Key's.
type writeFunc func(ctx context.Context, body []byte, dedupeID string) (httpapi.Response, error)

// write reads a JSON body and runs h once per Idempotency-Key.
func (a *API) write(scope string, h writeFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		body, err := httpapi.ReadJSONBody(w, r, maxBody)
		if err != nil {
			httpapi.WriteError(w, r, err)
			return
		}
		run := func(ctx context.Context, dedupeID string) (httpapi.Response, error) { return h(ctx, body, dedupeID) }
		if a.idem == nil {
			resp, err := run(r.Context(), "")
			respond(w, r, resp, err)
			return
		}
		a.idem.Do(w, r, "orders:"+scope, body, run)
	}
}

func respond(w http.ResponseWriter, r *http.Request, resp httpapi.Response, err error) {
	if err != nil {
		httpapi.WriteError(w, r, err)
		return
	}
	if resp.Seq > 0 {
		w.Header().Set("X-Eventline-Seq", strconv.FormatUint(resp.Seq, 10))
	}
	httpapi.WriteJSON(w, resp.Status, resp.Body)
}

// newID returns a new id, or the one derived from dedupeID.
func newID(dedupeID, kind string) string {
	if dedupeID != "" {
		return uuid.NewSHA1(idNamespace, []byte(kind+"\x00"+dedupeID)).String()
	}
	return uuid.Must(uuid.NewV7()).String()
}

// domainError maps the domain's errors to the API's.
func domainError(err error) error {
	switch {
	case errors.Is(err, order.ErrInvalid), errors.Is(err, saga.ErrInvalidInput):
		return httpapi.Errorf(http.StatusBadRequest, "invalid", err.Error())
	case errors.Is(err, order.ErrExists), errors.Is(err, saga.ErrAlreadyStarted):
		return httpapi.Errorf(http.StatusConflict, "already_exists", err.Error())
	case errors.Is(err, saga.ErrNoSaga):
		return httpapi.Errorf(http.StatusNotFound, "not_found", "No such saga.")
	}
	if e, ok := operatorError(err); ok {
		return e
	}
	return err
}

func (a *API) createUser(ctx context.Context, body []byte, dedupeID string) (httpapi.Response, error) {
	var in userBody
	if err := decode(body, &in); err != nil {
		return httpapi.Response{}, err
	}
	if err := in.validate(); err != nil {
		return httpapi.Response{}, err
	}
	id := newID(dedupeID, "user")
	res, err := a.parts.Users.Handle(ctx, id, order.CreateUser{UserID: id, Name: in.Name, Email: in.Email, Now: time.Now()},
		aggregate.Meta{CorrelationID: id, DedupeID: dedupeID})
	return created(id, res.Seq, dedupeID, err)
}

func (a *API) createProduct(ctx context.Context, body []byte, dedupeID string) (httpapi.Response, error) {
	var in productBody
	if err := decode(body, &in); err != nil {
		return httpapi.Response{}, err
	}
	if err := in.validate(); err != nil {
		return httpapi.Response{}, err
	}
	id := newID(dedupeID, "product")
	res, err := a.parts.Products.Handle(ctx, id, order.CreateProduct{ProductID: id, Name: in.Name, PriceCents: in.PriceCents,
		Stock: in.Stock, Now: time.Now()}, aggregate.Meta{CorrelationID: id, DedupeID: dedupeID})
	return created(id, res.Seq, dedupeID, err)
}

// created answers a creation; with an Idempotency-Key, an id that exists
// already was created by this key's first attempt, which crashed before
// answering.
func created(id string, seq uint64, dedupeID string, err error) (httpapi.Response, error) {
	if err != nil && !(dedupeID != "" && errors.Is(err, order.ErrExists)) {
		return httpapi.Response{}, domainError(err)
	}
	return httpapi.Response{Status: http.StatusCreated, Body: map[string]string{"id": id}, Seq: seq}, nil
}

// createOrder starts an order saga; the order's id is the saga's.
func (a *API) createOrder(ctx context.Context, body []byte, dedupeID string) (httpapi.Response, error) {
	var b orderBody
	if err := decode(body, &b); err != nil {
		return httpapi.Response{}, err
	}
	if err := b.validate(); err != nil {
		return httpapi.Response{}, err
	}
	id := newID(dedupeID, "order")
	if dedupeID == "" {
		id = a.manager.NewSagaID() // one this process drives, when it can
	}
	in := order.OrderInput{OrderID: id, UserID: b.UserID, Items: b.Items, Payment: b.Payment}
	if _, err := order.ParseOrderInput(mustJSON(in)); err != nil {
		return httpapi.Response{}, domainError(err)
	}
	d, err := a.manager.Start(ctx, id, saga.OrderSaga(a.policy), mustJSON(in), dedupeID)
	if err != nil && !(dedupeID != "" && errors.Is(err, saga.ErrAlreadyStarted)) {
		return httpapi.Response{}, domainError(err)
	}
	return httpapi.Response{Status: http.StatusAccepted, Body: map[string]string{"saga_id": id, "order_id": id}, Seq: d.Seq}, nil
}

func mustJSON(v any) json.RawMessage {
	b, _ := json.Marshal(v)
	return b
}

func notFound(w http.ResponseWriter, r *http.Request, what string) {
	httpapi.WriteError(w, r, httpapi.Errorf(http.StatusNotFound, "not_found", "No such "+what+"."))
}

func (a *API) getUser(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r, "user")
	if err != nil {
		httpapi.WriteError(w, r, err)
		return
	}
	u, _, err := a.parts.Users.Load(r.Context(), id)
	switch {
	case err != nil:
		httpapi.WriteError(w, r, err)
	case !u.Exists:
		notFound(w, r, "user")
	default:
		httpapi.WriteJSON(w, http.StatusOK, map[string]any{"id": u.ID, "name": u.Name, "email": u.Email, "created_at": u.CreatedAt})
	}
}

func (a *API) getProduct(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r, "product")
	if err != nil {
		httpapi.WriteError(w, r, err)
		return
	}
	p, _, err := a.parts.Products.Load(r.Context(), id)
	switch {
	case err != nil:
		httpapi.WriteError(w, r, err)
	case !p.Exists:
		notFound(w, r, "product")
	default:
		httpapi.WriteJSON(w, http.StatusOK, map[string]any{"id": p.ID, "name": p.Name, "price_cents": p.PriceCents,
			"stock": p.Stock, "reserved": p.Reserved, "available": p.Free(), "sold": p.Sold})
	}
}

// getOrder answers from the order aggregate, or, before create_order ran,
// from its saga: pending while it runs.
func (a *API) getOrder(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r, "order")
	if err != nil {
		httpapi.WriteError(w, r, err)
		return
	}
	// The saga is read before the order: a saga seen ended whose order is
	// then not found never created it (create_order runs before the saga
	// can end), whereas the other way round an order created between the
	// two reads would be taken for a cancelled one.
	s, _, err := a.manager.Sagas().Load(r.Context(), id)
	if err != nil {
		httpapi.WriteError(w, r, err)
		return
	}
	o, _, err := a.parts.Orders.Load(r.Context(), id)
	if err != nil {
		httpapi.WriteError(w, r, err)
		return
	}
	if o.Exists {
		v := map[string]any{"id": o.ID, "saga_id": id, "user_id": o.UserID, "items": o.Items,
			"status": o.Status, "total_cents": o.TotalCents, "created_at": o.CreatedAt, "updated_at": o.UpdatedAt}
		a.addPayments(r, v, id)
		httpapi.WriteJSON(w, http.StatusOK, v)
		return
	}
	switch {
	case !s.Exists():
		notFound(w, r, "order")
	default:
		status := order.StatusPending
		if s.Status.Terminal() || s.Status == saga.StatusCompensating {
			status = order.StatusCancelled
		}
		var in order.OrderInput
		_ = json.Unmarshal(s.Input, &in)
		httpapi.WriteJSON(w, http.StatusOK, map[string]any{"id": id, "saga_id": id, "user_id": in.UserID, "items": in.Items,
			"status": status, "created_at": s.CreatedAt, "updated_at": s.UpdatedAt})
	}
}

// stepView is a step as GET /api/sagas/{id} shows it.
type stepView struct {
	Name          string          `json:"name"`
	Status        string          `json:"status"`
	Attempts      int             `json:"attempts"`
	StartedAt     *time.Time      `json:"started_at"`
	FinishedAt    *time.Time      `json:"finished_at"`
	Error         string          `json:"error,omitempty"`
	Compensation  string          `json:"compensation,omitempty"`
	CompensatedAt *time.Time      `json:"compensated_at,omitempty"`
	RetryAt       *time.Time      `json:"retry_at,omitempty"`
	Output        json.RawMessage `json:"output,omitempty"`
	ResolvedBy    string          `json:"resolved_by,omitempty"`
	Resolution    string          `json:"resolution,omitempty"`
}

// rawOutput is a step's output to embed in a view, nil when it has none.
func rawOutput(b []byte) json.RawMessage {
	if t := strings.TrimSpace(string(b)); t == "" || t == "null" {
		return nil
	}
	return json.RawMessage(b)
}

func timePtr(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

// retryAt is when step i of s starts its next attempt: the current step
// of a running or compensating saga whose attempt is not in flight (zero
// when none waits). GET /api/sagas/{id}'s and the saga page's.
func retryAt(s saga.State, i int) time.Time {
	if i != s.Current {
		return time.Time{}
	}
	switch st := s.Steps[i]; {
	case s.Status == saga.StatusRunning && !st.Action.InFlight:
		return st.Action.RetryAt
	case s.Status == saga.StatusCompensating && !st.Comp.InFlight:
		return st.Comp.RetryAt
	}
	return time.Time{}
}

func sagaView(s saga.State) map[string]any {
	steps := make([]stepView, len(s.Steps))
	for i, st := range s.Steps {
		steps[i] = stepView{Name: st.Name, Status: string(st.Status), Attempts: st.Action.Attempts,
			StartedAt: timePtr(st.StartedAt), FinishedAt: timePtr(st.FinishedAt), Error: st.Action.Error,
			Compensation: string(st.Compensation), CompensatedAt: timePtr(st.CompensatedAt), Output: rawOutput(st.Output),
			ResolvedBy: st.ResolvedBy, Resolution: st.Resolution}
		if st.Comp.Error != "" {
			steps[i].Error = st.Comp.Error
		}
		steps[i].RetryAt = timePtr(retryAt(s, i))
	}
	v := map[string]any{"id": s.ID, "type": s.Definition.Type, "status": s.Status, "steps": steps,
		"created_at": s.CreatedAt, "updated_at": s.UpdatedAt, "actions": actionsOf(s)}
	if s.Reason != "" {
		v["reason"] = s.Reason
	}
	return v
}
