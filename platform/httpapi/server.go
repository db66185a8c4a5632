package httpapi

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/eventline/eventline/eventstore"
)

// Check is a readiness probe: nil when the dependency is usable.
type Check struct {
	Name string
	Fn   func(ctx context.Context) error
	// Degrades marks a check whose failure is reported but does not make
	// the process unready: a stalled projector must not take the API (which
	// keeps accepting writes) out of a load balancer.
	Degrades bool
}

// ServerConfig configures a Server.
type ServerConfig struct {
	// Token, when set, is required as "Authorization: Bearer <token>" on
	// every /api/ request and every OTLP (/v1/) request.
	Token string
	// Session, when set, may authorize an /api/ request that has no bearer
	// token: the dashboard's session cookie (dashboard.APIAuthorized).
	Session func(*http.Request) bool
	// Checks run for /readyz.
	Checks []Check
	// Registry serves /metrics and receives the HTTP metrics.
	Registry *prometheus.Registry
	// Registerer, when set, receives the HTTP metrics instead of Registry
	// (serve's wraps Registry to label every metric with the process id).
	Registerer prometheus.Registerer
	// ShutdownTimeout bounds how long in-flight requests may finish (15s).
	ShutdownTimeout time.Duration
	// ReadTimeout bounds every GET under /api/ (5s): reads query
	// PostgreSQL, and an unreachable or frozen database must get a quick
	// 503, not a hung request. A request with ?min_seq= or ?wait= gets
	// MaxWait more for its deliberate wait.
	ReadTimeout time.Duration
	Logger      *slog.Logger
	// MaxConns bounds the open client connections (DefaultMaxConns).
	MaxConns int
	// MaxWaiting bounds the requests in a deliberate wait (?wait=,
	// ?min_seq=) at once, below MaxConns so that writes and health checks
	// keep connections (MaxConns/2 when 0); beyond it a request gets no
	// wait and answers at once (MayWait).
	MaxWaiting int
	// AllowedHosts are the host names the server answers to (all when
	// nil): another name in the Host header gets 421 host_not_allowed,
	// except on /healthz and /readyz (hosts.go).
	AllowedHosts *HostAllowList
}

// Server is the HTTP front: API routes, health, metrics.
type Server struct {
	mux      *http.ServeMux
	cfg      ServerConfig
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec

	// failing holds each failing check's full error, logged once when it
	// starts failing or changes: /readyz shows only a short reason.
	fallback http.Handler

	failingMu sync.Mutex
	failing   map[string]string

	// waiting holds a slot per request in a deliberate wait.
	waiting chan struct{}

	// errorWriters answer the errors the server itself raises (host
	// refused, no token, a panic) under a path prefix in a protocol's own
	// shape (OTLP's under /v1/); WriteError elsewhere.
	errorWriters []errorWriter
}

type errorWriter struct {
	prefix string
	write  func(http.ResponseWriter, *http.Request, error)
}

// HandleErrors makes the errors the server raises itself for paths under
// prefix (a refused host, a missing token, a panic) go through write, for
// an API whose clients expect another error shape than the contract's.
// Register before serving.
func (s *Server) HandleErrors(prefix string, write func(http.ResponseWriter, *http.Request, error)) {
	s.errorWriters = append(s.errorWriters, errorWriter{prefix, write})
}

// writeError answers err in the shape r's path expects.
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	for _, ew := range s.errorWriters {
		if strings.HasPrefix(r.URL.Path, ew.prefix) {
			ew.write(w, r, err)
			return
		}
	}
	WriteError(w, r, err)
}

// NewServer returns a server with /healthz, /readyz and /metrics mounted.
func NewServer(cfg ServerConfig) *Server {
	if cfg.ShutdownTimeout == 0 {
		cfg.ShutdownTimeout = 15 * time.Second
	}
	if cfg.ReadTimeout == 0 {
		cfg.ReadTimeout = 5 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Registry == nil {
		cfg.Registry = prometheus.NewRegistry()
	}
	if cfg.MaxConns <= 0 {
		cfg.MaxConns = DefaultMaxConns
	}
	if cfg.MaxWaiting <= 0 || cfg.MaxWaiting >= cfg.MaxConns {
		cfg.MaxWaiting = max(1, cfg.MaxConns/2)
	}
	s := &Server{mux: http.NewServeMux(), cfg: cfg, failing: map[string]string{}, waiting: make(chan struct{}, cfg.MaxWaiting),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "eventline_http_requests_total", Help: "HTTP requests by route and status.",
		}, []string{"route", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "eventline_http_request_seconds", Help: "HTTP request latency by route.",
			Buckets: prometheus.ExponentialBuckets(0.0002, 2, 16),
		}, []string{"route"}),
	}
	if cfg.Registerer == nil {
		cfg.Registerer = cfg.Registry
	}
	cfg.Registerer.MustRegister(s.requests, s.duration)
	s.mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		WriteJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	s.mux.HandleFunc("GET /readyz", s.readyz)
	s.mux.Handle("GET /metrics", promhttp.HandlerFor(cfg.Registry, promhttp.HandlerOpts{}))
	return s
}

// Fallback serves every request outside /api/ that no route matches (the
// dashboard); /api/ keeps its JSON 404 and 405 answers.
func (s *Server) Fallback(h http.Handler) { s.fallback = h }

// Handle mounts h on a method-and-path pattern.
func (s *Server) Handle(pattern string, h http.HandlerFunc) { s.mux.HandleFunc(pattern, h) }

// AddCheck adds a readiness check.
func (s *Server) AddCheck(c Check) { s.cfg.Checks = append(s.cfg.Checks, c) }

// readyz answers 200 "ok" when every check passes, 200 "degraded" when
// only checks marked Degrades fail (the process still accepts writes), and
// 503 "unready" otherwise. Failures are shown as a short reason; the full
// error, which may name users, databases and addresses, is only logged.
func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	status := http.StatusOK
	degraded := false
	checks := map[string]string{}
	var reasons []string
	for _, c := range s.cfg.Checks {
		err := c.Fn(ctx)
		s.noteCheck(c.Name, err)
		switch {
		case err == nil:
			checks[c.Name] = "ok"
			continue
		case c.Degrades:
			degraded = true
		default:
			status = http.StatusServiceUnavailable
		}
		checks[c.Name] = checkReason(err)
		reasons = append(reasons, c.Name+": "+checks[c.Name])
	}
	state := "ok"
	switch {
	case status != http.StatusOK:
		state = "unready"
		w.Header().Set("Retry-After", "2")
	case degraded:
		state = "degraded"
	}
	body := map[string]any{"status": state, "ready": status == http.StatusOK, "degraded": degraded, "checks": checks}
	if len(reasons) > 0 {
		body["reason"] = strings.Join(reasons, "; ")
	}
	WriteJSON(w, status, body)
}

// noteCheck logs a check's full error when it starts failing or its error
// changes, and its recovery.
func (s *Server) noteCheck(name string, err error) {
	s.failingMu.Lock()
	defer s.failingMu.Unlock()
	prev, wasFailing := s.failing[name]
	switch {
	case err == nil && wasFailing:
		delete(s.failing, name)
		s.cfg.Logger.Info("readiness check ok again", "check", name)
	case err != nil && (!wasFailing || prev != err.Error()):
		s.failing[name] = err.Error()
		s.cfg.Logger.Warn("readiness check failing", "check", name, "err", err)
	}
}

// maxReasonLen bounds a check's own message shown by /readyz.
const maxReasonLen = 300

// checkReason is what /readyz shows about a failed check: a short word for
// an unreachable or slow dependency and for database errors (whose text
// names users, databases and addresses), the check's own message otherwise.
func checkReason(err error) string {
	var pgErr *pgconn.PgError
	switch {
	case errors.Is(err, context.DeadlineExceeded), pgconn.Timeout(err), isQueryTimeout(err):
		return "timeout"
	case errors.Is(err, eventstore.ErrUnavailable), isDatabaseDown(err):
		return "unreachable"
	case errors.As(err, &pgErr):
		return "error (SQLSTATE " + pgErr.Code + ")"
	}
	msg := err.Error()
	if len(msg) > maxReasonLen {
		msg = msg[:maxReasonLen] + "…"
	}
	return msg
}

// ServeHTTP applies auth, panic recovery and metrics around the routes.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	rec := &statusWriter{ResponseWriter: w, status: http.StatusOK}
	fallback := false
	defer func() {
		if p := recover(); p != nil {
			s.cfg.Logger.Error("panic in handler", "method", r.Method, "path", r.URL.Path, "panic", fmt.Sprint(p))
			if !rec.wrote {
				s.writeError(rec, r, errors.New("panic"))
			}
		}
		route := r.Pattern
		switch {
		case route == "" && fallback:
			route = "fallback"
		case route == "":
			route = "unmatched"
		}
		s.requests.WithLabelValues(route, strconv.Itoa(rec.status)).Inc()
		s.duration.WithLabelValues(route).Observe(time.Since(start).Seconds())
	}()
	ctx := context.WithValue(r.Context(), loggerKey{}, s.cfg.Logger)
	if (r.Method == http.MethodGet || r.Method == http.MethodHead) && strings.HasPrefix(r.URL.Path, "/api/") {
		timeout := s.cfg.ReadTimeout
		if q := r.URL.Query(); q.Has("min_seq") || q.Has("wait") {
			// A deliberate wait holds a connection: only MaxWaiting do
			// at once, the others answer at once.
			select {
			case s.waiting <- struct{}{}:
				defer func() { <-s.waiting }()
				timeout += MaxWait
			default:
				ctx = context.WithValue(ctx, noWaitKey{}, true)
			}
		}
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	r = r.WithContext(ctx)
	if !s.cfg.AllowedHosts.Allows(r.Host) && !hostExempt(r.URL.Path) {
		s.writeError(rec, r, errHostRefused)
		return
	}
	// /v1/ is OpenTelemetry's (OTLP/HTTP): the same token applies.
	if s.cfg.Token != "" && (strings.HasPrefix(r.URL.Path, "/api/") || strings.HasPrefix(r.URL.Path, "/v1/")) && !s.authorized(r) {
		w.Header().Set("WWW-Authenticate", `Bearer realm="eventline"`)
		s.writeError(rec, r, Errorf(http.StatusUnauthorized, "unauthorized", "A valid 'Authorization: Bearer <token>' header is required."))
		return
	}
	if s.fallback != nil && !strings.HasPrefix(r.URL.Path, "/api/") {
		if _, pattern := s.mux.Handler(r); pattern == "" {
			fallback = true
			s.fallback.ServeHTTP(rec, r)
			return
		}
	}
	s.mux.ServeHTTP(rec, r)
}

func (s *Server) authorized(r *http.Request) bool {
	h := r.Header.Get("Authorization")
	if token, ok := strings.CutPrefix(h, "Bearer "); ok {
		return subtle.ConstantTimeCompare([]byte(token), []byte(s.cfg.Token)) == 1
	}
	return h == "" && s.cfg.Session != nil && s.cfg.Session(r)
}

// Run serves on ln until ctx ends, then lets in-flight requests finish within
// ShutdownTimeout.
func (s *Server) Run(ctx context.Context, ln net.Listener) error {
	srv := &http.Server{
		Handler:           s,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       60 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(newLimitListener(ln, s.cfg.MaxConns)) }()
	select {
	case err := <-errc:
		return fmt.Errorf("http server: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), s.cfg.ShutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return fmt.Errorf("http shutdown: %w", err)
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// statusWriter records the status and turns the router's plain-text 404 and
// 405 answers into the JSON error shape.
type statusWriter struct {
	http.ResponseWriter
	status  int
	wrote   bool
	swallow bool
}

func (w *statusWriter) WriteHeader(code int) {
	if w.wrote {
		return
	}
	w.wrote = true
	w.status = code
	if (code == http.StatusNotFound || code == http.StatusMethodNotAllowed) &&
		strings.HasPrefix(w.Header().Get("Content-Type"), "text/plain") {
		w.swallow = true
		codeName, msg := "not_found", "No such endpoint."
		if code == http.StatusMethodNotAllowed {
			codeName, msg = "method_not_allowed", "This endpoint does not accept that method."
		}
		w.Header().Del("X-Content-Type-Options")
		WriteJSON(w.ResponseWriter, code, map[string]*Error{"error": {Code: codeName, Message: msg}})
		return
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if !w.wrote {
		w.WriteHeader(http.StatusOK)
	}
	if w.swallow {
		return len(b), nil
	}
	return w.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
