package workflowsync

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/eventline/eventline/domain/workflows"
	"github.com/eventline/eventline/eventstore/aggregate"
	"github.com/eventline/eventline/platform/httpapi"
	"github.com/eventline/eventline/projections/syncmodel"
	"github.com/eventline/eventline/zuora"
)

// Bounds of the customer endpoints' input.
const (
	// MaxCustomerBody bounds a POST /api/customers body.
	MaxCustomerBody = 16 << 10
	// MaxSyncBody bounds a POST /api/customers/{id}/sync body.
	MaxSyncBody = 1 << 10
	// MaxNameLen is the longest customer name, in characters.
	MaxNameLen = 200
	// MaxURLLen is the longest Zuora base URL, in bytes.
	MaxURLLen = 2048
	// MaxClientIDLen is the longest Zuora client id, in bytes.
	MaxClientIDLen = 256
	// MaxClientSecretLen is the longest Zuora client secret, in bytes.
	MaxClientSecretLen = 1024
)

// idNamespace derives customer and sync ids from an Idempotency-Key, so
// that a retry taking over from a crashed first attempt names the same
// customer and sync.
var idNamespace = uuid.MustParse("4f1b7c0e-2d7a-5b8e-9a51-6c0de5f1a3b2")

// Writes serves the customers API's writes: creating a customer and
// starting a sync.
type Writes struct {
	customers *aggregate.Handler[workflows.Customer, any]
	secrets   *Secrets
	idem      *httpapi.Idempotency
	log       *slog.Logger
	now       func() time.Time
}

// NewWrites returns the write endpoints over the customer command loop,
// the credentials store and the Idempotency-Key memory.
func NewWrites(customers *aggregate.Handler[workflows.Customer, any], secrets *Secrets, idem *httpapi.Idempotency, log *slog.Logger) *Writes {
	if log == nil {
		log = slog.Default()
	}
	return &Writes{customers: customers, secrets: secrets, idem: idem, log: log, now: time.Now}
}

// Mount registers the routes on s.
func (h *Writes) Mount(s *httpapi.Server) {
	s.Handle("POST /api/customers", h.createCustomer)
	s.Handle("POST /api/customers/{id}/sync", h.startSync)
	s.Handle("PATCH /api/customers/{id}", h.patchCustomer)
	s.Handle("DELETE /api/customers/{id}", h.deleteCustomer)
}

// CustomerPatch is the body of PATCH /api/customers/{id}: every field is
// optional; a client secret given is stored (encrypted) in place of the
// old one and never written into an event.
type CustomerPatch struct {
	Name  *string `json:"name"`
	Zuora *struct {
		BaseURL      *string `json:"base_url"`
		ClientID     *string `json:"client_id"`
		ClientSecret *string `json:"client_secret"`
	} `json:"zuora"`
	Limits *LimitsBody `json:"limits"`
}

// String keeps the client secret out of any formatted output of p.
func (p CustomerPatch) String() string { return "{customer patch, secret redacted}" }

// LogValue keeps the client secret out of any log line that includes p.
func (p CustomerPatch) LogValue() slog.Value { return slog.StringValue(p.String()) }

// customerChange is a validated patch.
type customerChange struct {
	cmd    workflows.Update
	name   string // "" when unchanged
	secret string // "" when unchanged
}

// decodePatch parses and validates a PATCH body. Its errors never quote
// the values sent.
func decodePatch(body []byte) (customerChange, error) {
	var p CustomerPatch
	var ch customerChange
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&p); err != nil {
		var typeErr *json.UnmarshalTypeError
		if errors.As(err, &typeErr) && typeErr.Field != "" {
			return ch, httpapi.FieldErr(typeErr.Field, fmt.Sprintf("%s has the wrong type: a %s was expected.", typeErr.Field, typeErr.Type))
		}
		if strings.HasPrefix(err.Error(), "json: unknown field ") {
			field := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
			return ch, httpapi.FieldErr(field, "Unknown field "+strconv.Quote(field)+": name, zuora (base_url, client_id, client_secret) and limits may be changed.")
		}
		return ch, &httpapi.Error{Status: http.StatusBadRequest, Code: "invalid_json", Message: "The body is not a valid JSON object."}
	}
	if dec.More() {
		return ch, &httpapi.Error{Status: http.StatusBadRequest, Code: "invalid_json", Message: "The body must hold one JSON object."}
	}
	if p.Name != nil {
		name := strings.TrimSpace(*p.Name)
		if err := checkText("name", name, MaxNameLen, true); err != nil {
			return ch, err
		}
		ch.cmd.Name, ch.name = &name, name
	}
	if z := p.Zuora; z != nil {
		if z.BaseURL != nil {
			if err := checkBaseURL(*z.BaseURL); err != nil {
				return ch, err
			}
			ch.cmd.BaseURL = z.BaseURL
		}
		if z.ClientID != nil {
			if err := checkText("zuora.client_id", *z.ClientID, MaxClientIDLen, false); err != nil {
				return ch, err
			}
			ch.cmd.ClientID = z.ClientID
		}
		if z.ClientSecret != nil {
			if err := checkText("zuora.client_secret", *z.ClientSecret, MaxClientSecretLen, false); err != nil {
				return ch, err
			}
			if utf8.RuneCountInString(*z.ClientSecret) < zuora.MinClientSecretLen {
				return ch, httpapi.FieldErr("zuora.client_secret", fmt.Sprintf("zuora.client_secret must be at least %d characters.", zuora.MinClientSecretLen))
			}
			ch.secret, ch.cmd.SecretRotated = *z.ClientSecret, true
		}
	}
	if p.Limits != nil {
		l, err := p.Limits.check()
		if err != nil {
			return ch, err
		}
		ch.cmd.Limits = &l
	}
	if ch.cmd.Name == nil && ch.cmd.BaseURL == nil && ch.cmd.ClientID == nil && ch.cmd.Limits == nil && !ch.cmd.SecretRotated {
		return ch, httpapi.FieldErr("body", "Nothing to change: give name, zuora.base_url, zuora.client_id, zuora.client_secret or limits.")
	}
	return ch, nil
}

// customerProfile answers a PATCH: the customer after it (never the secret).
type customerProfile struct {
	ID       string           `json:"id"`
	Name     string           `json:"name"`
	BaseURL  string           `json:"base_url"`
	ClientID string           `json:"client_id"`
	Limits   syncmodel.Limits `json:"limits"`
}

func ownLimits(l workflows.Limits) syncmodel.Limits {
	var v syncmodel.Limits
	if l.MaxWorkflows > 0 {
		n := int64(l.MaxWorkflows)
		v.MaxWorkflows = &n
	}
	if l.MaxBytes > 0 {
		v.MaxBytes = &l.MaxBytes
	}
	return v
}

func (h *Writes) patchCustomer(w http.ResponseWriter, r *http.Request) {
	id, err := uuid.Parse(r.PathValue("id"))
	if err != nil {
		httpapi.WriteError(w, r, apiError(workflows.ErrNoCustomer))
		return
	}
	body, err := httpapi.ReadJSONBody(w, r, MaxCustomerBody)
	if err != nil {
		httpapi.WriteError(w, r, err)
		return
	}
	ch, err := decodePatch(body)
	if err != nil {
		httpapi.WriteError(w, r, err)
		return
	}
	customerID := id.String()
	h.idem.Do(w, r, "PATCH /api/customers/"+customerID, body, func(ctx context.Context, _ string) (httpapi.Response, error) {
		resp, err := h.update(ctx, customerID, ch)
		return resp, apiError(err)
	})
}

// update stores a new name or secret in the credentials table, then
// records the change as customer.updated (the secret only as
// secret_rotated).
func (h *Writes) update(ctx context.Context, customerID string, ch customerChange) (httpapi.Response, error) {
	state, _, err := h.customers.Load(ctx, customerID)
	if err != nil {
		return httpapi.Response{}, err
	}
	if !state.Exists {
		return httpapi.Response{}, workflows.ErrNoCustomer
	}
	if ch.name != "" || ch.secret != "" {
		if err := h.secrets.Update(ctx, customerID, ch.name, ch.secret); err != nil {
			return httpapi.Response{}, err
		}
	}
	ch.cmd.Now = h.now()
	res, err := h.customers.Handle(ctx, customerID, ch.cmd, aggregate.Meta{CorrelationID: customerID})
	if err != nil {
		return httpapi.Response{}, err
	}
	s := res.State
	return httpapi.Response{Status: http.StatusOK, Seq: res.Seq, Body: customerProfile{ID: customerID, Name: s.Name,
		BaseURL: s.BaseURL, ClientID: s.ClientID, Limits: ownLimits(s.Limits)}}, nil
}

// customerDeleted answers a DELETE.
type customerDeleted struct {
	ID      string `json:"id"`
	Deleted bool   `json:"deleted"`
	// CancelledSync is the sync that was running, failed by the deletion.
	CancelledSync string `json:"cancelled_sync,omitempty"`
}

func (h *Writes) deleteCustomer(w http.ResponseWriter, r *http.Request) {
	id, err := uuid.Parse(r.PathValue("id"))
	if err != nil {
		httpapi.WriteError(w, r, apiError(workflows.ErrNoCustomer))
		return
	}
	customerID := id.String()
	h.idem.Do(w, r, "DELETE /api/customers/"+customerID, nil, func(ctx context.Context, _ string) (httpapi.Response, error) {
		resp, err := h.remove(ctx, customerID)
		return resp, apiError(err)
	})
}

// remove records the customer's deletion (failing a sync it runs first, in
// the same append) and forgets its credentials.
func (h *Writes) remove(ctx context.Context, customerID string) (httpapi.Response, error) {
	state, _, err := h.customers.Load(ctx, customerID)
	if err != nil {
		return httpapi.Response{}, err
	}
	res, err := h.customers.Handle(ctx, customerID, workflows.Remove{Now: h.now()}, aggregate.Meta{CorrelationID: customerID})
	if err != nil {
		return httpapi.Response{}, err
	}
	if err := h.secrets.Delete(ctx, customerID); err != nil {
		h.log.WarnContext(ctx, "credentials of a deleted customer are left behind", "customer_id", customerID, "err", err)
	}
	out := customerDeleted{ID: customerID, Deleted: true}
	if state.Running != nil {
		out.CancelledSync = state.Running.SyncID
	}
	return httpapi.Response{Status: http.StatusOK, Seq: res.Seq, Body: out}, nil
}

// NewCustomer is the body of POST /api/customers.
type NewCustomer struct {
	Name  string `json:"name"`
	Zuora struct {
		BaseURL      string `json:"base_url"`
		ClientID     string `json:"client_id"`
		ClientSecret string `json:"client_secret"`
	} `json:"zuora"`
	// Limits are the customer's own bounds of a sync (absent: defaults).
	Limits *LimitsBody `json:"limits,omitempty"`
}

// LimitsBody is a customer's "limits" object: its own bounds of one sync;
// an absent or zero field takes the default.
type LimitsBody struct {
	MaxWorkflows int   `json:"max_workflows"`
	MaxBytes     int64 `json:"max_bytes"`
}

// Bounds of a customer's own limits.
const (
	maxLimitWorkflows = 10_000_000
	minLimitBytes     = 1 << 20
	maxLimitBytes     = 64 << 30
)

// check validates the limits and returns them as the domain holds them.
func (l *LimitsBody) check() (workflows.Limits, error) {
	if l == nil {
		return workflows.Limits{}, nil
	}
	if l.MaxWorkflows < 0 || l.MaxWorkflows > maxLimitWorkflows {
		return workflows.Limits{}, httpapi.FieldErr("limits.max_workflows",
			fmt.Sprintf("limits.max_workflows must be 1..%d, or 0 for the default.", maxLimitWorkflows))
	}
	if l.MaxBytes != 0 && (l.MaxBytes < minLimitBytes || l.MaxBytes > maxLimitBytes) {
		return workflows.Limits{}, httpapi.FieldErr("limits.max_bytes",
			fmt.Sprintf("limits.max_bytes must be %d..%d, or 0 for the default.", minLimitBytes, int64(maxLimitBytes)))
	}
	return workflows.Limits{MaxWorkflows: l.MaxWorkflows, MaxBytes: l.MaxBytes}, nil
}

// LogValue keeps the client secret out of any log line that includes c.
func (c NewCustomer) LogValue() slog.Value {
	return slog.GroupValue(slog.String("name", c.Name), slog.String("base_url", c.Zuora.BaseURL),
		slog.String("client_id", c.Zuora.ClientID), slog.String("client_secret", "[redacted]"))
}

// String keeps the client secret out of any formatted output of c.
func (c NewCustomer) String() string {
	return fmt.Sprintf("{name:%q base_url:%q client_id:%q client_secret:[redacted]}", c.Name, c.Zuora.BaseURL, c.Zuora.ClientID)
}

// customerCreated is the answer to POST /api/customers.
type customerCreated struct {
	ID     string `json:"id"`
	SyncID string `json:"sync_id,omitempty"`
}

// syncStarted is the answer to POST /api/customers/{id}/sync.
type syncStarted struct {
	SyncID string `json:"sync_id"`
}

// decodeCustomer parses and validates a POST /api/customers body. Its
// errors never quote the values sent: the secret is among them.
func decodeCustomer(body []byte) (NewCustomer, error) {
	var c NewCustomer
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(&c); err != nil {
		var typeErr *json.UnmarshalTypeError
		if errors.As(err, &typeErr) && typeErr.Field != "" {
			return c, httpapi.FieldErr(typeErr.Field, fmt.Sprintf("%s has the wrong type: a %s was expected.", typeErr.Field, typeErr.Type))
		}
		return c, &httpapi.Error{Status: http.StatusBadRequest, Code: "invalid_json", Message: "The body is not a valid JSON object."}
	}
	if dec.More() {
		return c, &httpapi.Error{Status: http.StatusBadRequest, Code: "invalid_json", Message: "The body must hold one JSON object."}
	}
	c.Name = strings.TrimSpace(c.Name)
	if err := checkText("name", c.Name, MaxNameLen, true); err != nil {
		return c, err
	}
	if err := checkBaseURL(c.Zuora.BaseURL); err != nil {
		return c, err
	}
	if err := checkText("zuora.client_id", c.Zuora.ClientID, MaxClientIDLen, false); err != nil {
		return c, err
	}
	if err := checkText("zuora.client_secret", c.Zuora.ClientSecret, MaxClientSecretLen, false); err != nil {
		return c, err
	}
	if utf8.RuneCountInString(c.Zuora.ClientSecret) < zuora.MinClientSecretLen {
		return c, httpapi.FieldErr("zuora.client_secret", fmt.Sprintf("zuora.client_secret must be at least %d characters.", zuora.MinClientSecretLen))
	}
	if _, err := c.Limits.check(); err != nil {
		return c, err
	}
	return c, nil
}

// checkText refuses an empty, too long or unstorable value of field; max
// counts characters when chars is set, else bytes.
func checkText(field, v string, limit int, chars bool) error {
	n := len(v)
	if chars {
		n = utf8.RuneCountInString(v)
	}
	switch {
	case v == "":
		return httpapi.FieldErr(field, field+" is required.")
	case n > limit:
		unit := "bytes"
		if chars {
			unit = "characters"
		}
		return httpapi.FieldErr(field, fmt.Sprintf("%s must be at most %d %s.", field, limit, unit))
	case !utf8.ValidString(v) || strings.ContainsRune(v, 0) || strings.ContainsRune(v, utf8.RuneError):
		return httpapi.FieldErr(field, field+" must be valid UTF-8 text without NUL characters.")
	}
	return nil
}

// checkBaseURL accepts an absolute http(s) URL without credentials, query
// or fragment.
func checkBaseURL(v string) error {
	const field = "zuora.base_url"
	if err := checkText(field, v, MaxURLLen, false); err != nil {
		return err
	}
	u, err := url.Parse(v)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return httpapi.FieldErr(field, field+" must be an absolute http or https URL.")
	}
	if u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return httpapi.FieldErr(field, field+" must not carry credentials, a query or a fragment.")
	}
	return nil
}

func (h *Writes) createCustomer(w http.ResponseWriter, r *http.Request) {
	body, err := httpapi.ReadJSONBody(w, r, MaxCustomerBody)
	if err != nil {
		httpapi.WriteError(w, r, err)
		return
	}
	c, err := decodeCustomer(body)
	if err != nil {
		httpapi.WriteError(w, r, err)
		return
	}
	h.idem.Do(w, r, "POST /api/customers", body, func(ctx context.Context, dedupeID string) (httpapi.Response, error) {
		resp, err := h.create(ctx, c, dedupeID)
		return resp, apiError(err)
	})
}

// create stores the credentials, then the customer.created event, then
// starts the first sync. With a dedupe id (an Idempotency-Key) the ids are
// derived from it, so a retry finishes what a crashed attempt began.
func (h *Writes) create(ctx context.Context, c NewCustomer, dedupeID string) (httpapi.Response, error) {
	id, syncID := uuid.NewString(), uuid.NewString()
	var createMeta, startMeta aggregate.Meta
	if dedupeID != "" {
		id = uuid.NewSHA1(idNamespace, []byte(dedupeID)).String()
		syncID = uuid.NewSHA1(idNamespace, []byte(dedupeID+":first-sync")).String()
		createMeta.DedupeID, startMeta.DedupeID = dedupeID+":create", dedupeID+":start"
	}
	createMeta.CorrelationID, startMeta.CorrelationID = id, id
	inserted, err := h.secrets.Store(ctx, id, c.Name, c.Zuora.ClientSecret)
	if err != nil {
		return httpapi.Response{}, err
	}
	now := h.now()
	limits, _ := c.Limits.check() // checked by decodeCustomer
	res, err := h.customers.Handle(ctx, id, workflows.Create{CustomerID: id, Name: c.Name, BaseURL: c.Zuora.BaseURL,
		ClientID: c.Zuora.ClientID, Limits: limits, Now: now}, createMeta)
	if errors.Is(err, workflows.ErrCustomerTaken) && !inserted {
		// A retry: the first attempt stored the event.
		_, seq, lerr := h.customers.Load(ctx, id)
		res.Seq, err = seq, lerr
	}
	if err != nil {
		if inserted {
			h.forget(ctx, id)
		}
		return httpapi.Response{}, err
	}
	seq := res.Seq
	started, err := h.customers.Handle(ctx, id, workflows.Start{SyncID: syncID, Trigger: workflows.TriggerCreated, Now: now}, startMeta)
	switch {
	case err == nil:
		seq = started.Seq
	case errors.Is(err, workflows.ErrSyncRunning):
		// A retry whose first attempt started the sync (or a sync another
		// trigger started in between): answer with the one running.
		if st, last, lerr := h.customers.Load(ctx, id); lerr == nil && st.Running != nil {
			syncID, seq = st.Running.SyncID, last
		}
	case dedupeID != "":
		return httpapi.Response{}, err
	default:
		// The customer exists; its first sync is left to the scheduler.
		h.log.WarnContext(ctx, "first sync of a new customer not started", "customer_id", id, "err", err)
		syncID = ""
	}
	return httpapi.Response{Status: http.StatusCreated, Body: customerCreated{ID: id, SyncID: syncID}, Seq: seq}, nil
}

// forget removes the credentials of a customer whose event was not stored,
// unless the log shows it was after all (an append that timed out).
func (h *Writes) forget(ctx context.Context, id string) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if s, _, err := h.customers.Load(ctx, id); err == nil && s.Exists {
		return
	}
	if err := h.secrets.Delete(ctx, id); err != nil {
		h.log.WarnContext(ctx, "credentials of a customer not created are left behind", "customer_id", id, "err", err)
	}
}

func (h *Writes) startSync(w http.ResponseWriter, r *http.Request) {
	id, err := uuid.Parse(r.PathValue("id"))
	if err != nil {
		httpapi.WriteError(w, r, apiError(workflows.ErrNoCustomer))
		return
	}
	body, err := httpapi.ReadBody(w, r, MaxSyncBody)
	if err != nil {
		httpapi.WriteError(w, r, err)
		return
	}
	allow, err := allowMassDelete(r, body)
	if err != nil {
		httpapi.WriteError(w, r, err)
		return
	}
	customerID := id.String()
	scope := "POST /api/customers/" + customerID + "/sync"
	fingerprint := []byte(strconv.FormatBool(allow))
	h.idem.Do(w, r, scope, fingerprint, func(ctx context.Context, dedupeID string) (httpapi.Response, error) {
		resp, err := h.start(ctx, customerID, allow, dedupeID)
		return resp, apiError(err)
	})
}

// start appends sync.started for a manual sync of customerID.
func (h *Writes) start(ctx context.Context, customerID string, allow bool, dedupeID string) (httpapi.Response, error) {
	syncID := uuid.NewString()
	meta := aggregate.Meta{CorrelationID: customerID}
	if dedupeID != "" {
		syncID = uuid.NewSHA1(idNamespace, []byte(dedupeID)).String()
		meta.DedupeID = dedupeID
	}
	res, err := h.customers.Handle(ctx, customerID, workflows.Start{SyncID: syncID, Trigger: workflows.TriggerManual,
		AllowMassDelete: allow, Now: h.now()}, meta)
	if errors.Is(err, workflows.ErrSyncRunning) {
		s, seq, lerr := h.customers.Load(ctx, customerID)
		if lerr == nil && s.Running != nil {
			if s.Running.SyncID == syncID {
				// A retry whose first attempt started this sync.
				return httpapi.Response{Status: http.StatusAccepted, Body: syncStarted{SyncID: syncID}, Seq: seq}, nil
			}
			return httpapi.Response{}, &httpapi.Error{Status: http.StatusConflict, Code: "sync_running",
				Message: fmt.Sprintf("Sync %s is already running for this customer; wait for it to finish.", s.Running.SyncID)}
		}
	}
	if err != nil {
		return httpapi.Response{}, err
	}
	return httpapi.Response{Status: http.StatusAccepted, Body: syncStarted{SyncID: syncID}, Seq: res.Seq}, nil
}

// allowMassDelete reads allow_mass_delete from the query or the optional
// JSON body; either one set to true allows it.
func allowMassDelete(r *http.Request, body []byte) (bool, error) {
	const field = "allow_mass_delete"
	allow := false
	if v := r.URL.Query().Get(field); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return false, httpapi.FieldErr(field, field+" must be true or false.")
		}
		allow = b
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return allow, nil
	}
	if _, err := httpapi.MediaType(r, "application/json"); err != nil {
		return false, err
	}
	var in struct {
		AllowMassDelete *bool `json:"allow_mass_delete"`
	}
	if err := json.Unmarshal(body, &in); err != nil {
		var typeErr *json.UnmarshalTypeError
		if errors.As(err, &typeErr) {
			return false, httpapi.FieldErr(field, field+" must be true or false.")
		}
		return false, &httpapi.Error{Status: http.StatusBadRequest, Code: "invalid_json", Message: "The body is not a valid JSON object."}
	}
	return allow || (in.AllowMassDelete != nil && *in.AllowMassDelete), nil
}

// apiError is the one place where the customer aggregate's domain errors
// and the credentials store's become API errors.
func apiError(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, workflows.ErrNoCustomer):
		return &httpapi.Error{Status: http.StatusNotFound, Code: "customer_not_found", Message: "No customer has this id."}
	case errors.Is(err, workflows.ErrSyncRunning):
		return &httpapi.Error{Status: http.StatusConflict, Code: "sync_running", Message: "A sync is already running for this customer; wait for it to finish."}
	case errors.Is(err, ErrNameTaken), errors.Is(err, workflows.ErrCustomerTaken):
		return &httpapi.Error{Status: http.StatusConflict, Code: "customer_exists", Message: "A customer with this name already exists.", Field: "name"}
	case errors.Is(err, ErrNoCredentials):
		return &httpapi.Error{Status: http.StatusNotFound, Code: "customer_not_found", Message: "No customer has this id."}
	case errors.Is(err, workflows.ErrSlotTaken):
		return &httpapi.Error{Status: http.StatusConflict, Code: "sync_already_run", Message: "This scheduled sync has already run."}
	}
	return err
}
