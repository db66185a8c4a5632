package zuorasim

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"
)

// Options configures a Server. Zero fields take their defaults.
type Options struct {
	// TokenTTL is the lifetime of an access token (default 3599s).
	TokenTTL time.Duration
	// Latency is added to every page request.
	Latency time.Duration
	// Now is the sim's clock for token expiry (default time.Now); tests
	// move it forward to expire tokens.
	Now func() time.Time
	// Logger receives a line per control-API change (default: discard).
	Logger *slog.Logger
}

// Server is the stand-in's http.Handler. It is safe for concurrent use.
type Server struct {
	opts Options
	mux  *http.ServeMux

	mu      sync.Mutex
	tenants map[string]*tenantState
	tokens  map[string]issuedToken
	stats   Stats
}

// tenantState is a stored tenant and its pending faults by page.
type tenantState struct {
	Tenant
	faults map[int][]*Fault
}

// issuedToken is an access token the sim handed out.
type issuedToken struct {
	clientID string
	expires  time.Time
}

// Stats counts the requests the sim has served.
type Stats struct {
	TokenRequests int64                  `json:"token_requests"`
	PageRequests  int64                  `json:"page_requests"`
	Unauthorized  int64                  `json:"unauthorized"`
	FaultsServed  int64                  `json:"faults_served"`
	Tenants       map[string]TenantStats `json:"tenants"`
}

// TenantStats counts one tenant's requests.
type TenantStats struct {
	TokenRequests int64 `json:"token_requests"`
	PageRequests  int64 `json:"page_requests"`
	FaultsServed  int64 `json:"faults_served"`
}

// New returns a sim serving the given tenants (client id → tenant).
func New(opts Options, tenants map[string]Tenant) (*Server, error) {
	if opts.TokenTTL <= 0 {
		opts.TokenTTL = 3599 * time.Second
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	s := &Server{
		opts:    opts,
		tenants: make(map[string]*tenantState),
		tokens:  make(map[string]issuedToken),
		stats:   Stats{Tenants: make(map[string]TenantStats)},
	}
	for id, t := range tenants {
		if err := s.PutTenant(id, t); err != nil {
			return nil, fmt.Errorf("tenant %q: %w", id, err)
		}
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /oauth/token", s.handleToken)
	mux.HandleFunc("GET /workflows", s.handleWorkflows)
	mux.HandleFunc("PUT /_sim/tenants/{client_id}", s.handlePutTenant)
	mux.HandleFunc("POST /_sim/tenants/{client_id}/faults", s.handleAddFault)
	mux.HandleFunc("DELETE /_sim/tenants/{client_id}/faults", s.handleClearFaults)
	mux.HandleFunc("DELETE /_sim/tenants/{client_id}/tokens", s.handleRevokeTokens)
	mux.HandleFunc("GET /_sim/stats", s.handleStats)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "not_found", "no such endpoint: "+r.Method+" "+r.URL.Path, "")
	})
	s.mux = mux
	return s, nil
}

// ServeHTTP serves the Workflow API and the control API.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if id := r.Header.Get("Zuora-Track-Id"); id != "" {
		w.Header().Set("Zuora-Track-Id", id)
	}
	s.mux.ServeHTTP(w, r)
}

// PutTenant stores a tenant under clientID, replacing any previous one and
// clearing its faults; a changed secret revokes the tenant's tokens.
func (s *Server) PutTenant(clientID string, t Tenant) error {
	if clientID == "" {
		return &fieldError{"client_id", "must not be empty"}
	}
	t, err := t.normalize(s.opts.Now())
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if old, ok := s.tenants[clientID]; ok && old.ClientSecret != t.ClientSecret {
		s.revokeLocked(clientID)
	}
	s.tenants[clientID] = &tenantState{Tenant: t, faults: make(map[int][]*Fault)}
	s.opts.Logger.Info("tenant stored", "client_id", clientID, "workflows", len(t.Workflows))
	return nil
}

// AddFault queues a fault for a tenant's page.
func (s *Server) AddFault(clientID string, f Fault) error {
	if err := f.check(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.tenants[clientID]
	if !ok {
		return errUnknownTenant
	}
	t.faults[f.Page] = append(t.faults[f.Page], &f)
	return nil
}

// ClearFaults drops every pending fault of a tenant.
func (s *Server) ClearFaults(clientID string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.tenants[clientID]
	if !ok {
		return errUnknownTenant
	}
	t.faults = make(map[int][]*Fault)
	return nil
}

// RevokeTokens invalidates every token issued to a tenant, as if they had
// expired: the next page request with one gets a 401.
func (s *Server) RevokeTokens(clientID string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.tenants[clientID]; !ok {
		return errUnknownTenant
	}
	s.revokeLocked(clientID)
	return nil
}

func (s *Server) revokeLocked(clientID string) {
	for tok, it := range s.tokens {
		if it.clientID == clientID {
			delete(s.tokens, tok)
		}
	}
}

// Stats returns a copy of the request counters.
func (s *Server) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := s.stats
	out.Tenants = make(map[string]TenantStats, len(s.stats.Tenants))
	for k, v := range s.stats.Tenants {
		out.Tenants[k] = v
	}
	return out
}

// issueToken records a new token for clientID.
func (s *Server) issueToken(clientID string) string {
	b := make([]byte, 24)
	_, _ = rand.Read(b)
	tok := hex.EncodeToString(b)
	s.tokens[tok] = issuedToken{clientID: clientID, expires: s.opts.Now().Add(s.opts.TokenTTL)}
	return tok
}
