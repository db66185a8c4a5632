package dashboard

import (
	"bytes"
	"context"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/eventline/eventline/platform/httpapi"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// Config configures a Dashboard.
type Config struct {
	// Token, when set, is required to see any page (the API token).
	Token string
	// AllowedHosts are the host names an action's Origin may name (any
	// when nil); the server refuses other Host headers before this.
	AllowedHosts *httpapi.HostAllowList
	// Sessions keeps the sign-ins (NewMemorySessions when nil; serve
	// shares NewKVSessions between its processes).
	Sessions SessionStore
	// SessionTTL is how long a sign-in lasts (12 h).
	SessionTTL time.Duration
	// Log receives render errors.
	Log *slog.Logger
	// ReadTimeout bounds a page or fragment (DefaultReadTimeout), and
	// ActionTimeout a form's action (DefaultActionTimeout): a frozen
	// database gets a page its message, not a request that never ends
	// while the page keeps polling.
	ReadTimeout, ActionTimeout time.Duration
}

// Default bounds of a dashboard request.
const (
	DefaultReadTimeout   = 5 * time.Second
	DefaultActionTimeout = 15 * time.Second
)

// Dashboard is the set of pages a serve process shows.
type Dashboard struct {
	cfg      Config
	sessions SessionStore
	mux      *http.ServeMux
	layout   *template.Template
	login    *template.Template
	assets   map[string]asset
	// crossOrigin refuses an action a browser sent from another origin
	// (fromDashboard); it trusts no other origin.
	crossOrigin http.CrossOriginProtection

	home *template.Template

	mu     sync.Mutex
	nav    []NavItem
	cards  []Card
	alerts []Alert
}

// NavItem is an entry of the navigation bar.
type NavItem struct {
	Title string
	Path  string
	Order int
}

// Page is a page a module contributes.
type Page struct {
	// Pattern is the page's http.ServeMux pattern, e.g. "GET /sagas/{id}".
	Pattern string
	// Nav, when set, puts the page in the navigation bar under this
	// title, linking to NavPath (the pattern's path when empty), in Order.
	Nav     string
	NavPath string
	Order   int
	// Handler renders the page (Render).
	Handler http.HandlerFunc
}

// asset is an embedded static file with its content hash.
type asset struct {
	body []byte
	etag string
	typ  string
}

// New returns a dashboard with the overview-less frame: the layout, the
// assets and the sign-in pages.
func New(cfg Config) (*Dashboard, error) {
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	if cfg.ReadTimeout <= 0 {
		cfg.ReadTimeout = DefaultReadTimeout
	}
	if cfg.ActionTimeout <= 0 {
		cfg.ActionTimeout = DefaultActionTimeout
	}
	if cfg.SessionTTL <= 0 {
		cfg.SessionTTL = sessionTTL
	}
	d := &Dashboard{cfg: cfg, sessions: cfg.Sessions, mux: http.NewServeMux(), assets: map[string]asset{}}
	if d.sessions == nil {
		d.sessions = NewMemorySessions()
	}
	if err := d.loadAssets(); err != nil {
		return nil, err
	}
	layout, err := template.New("layout.html").Funcs(d.funcs()).ParseFS(templateFS, "templates/layout.html")
	if err != nil {
		return nil, fmt.Errorf("dashboard: layout: %w", err)
	}
	d.layout = layout
	if d.login, err = d.Templates(templateFS, "templates/login.html"); err != nil {
		return nil, fmt.Errorf("dashboard: login: %w", err)
	}
	if d.home, err = d.Templates(templateFS, "templates/overview.html"); err != nil {
		return nil, fmt.Errorf("dashboard: overview: %w", err)
	}
	d.Page(Page{Pattern: "GET /{$}", Nav: "Overview", NavPath: "/", Order: 0, Handler: d.overview})
	d.Handle("GET "+BannerPath, d.banner)
	d.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		d.Error(w, r, http.StatusNotFound, "There is no such page.")
	})
	d.mux.HandleFunc("GET /static/{name}", d.static)
	d.mux.HandleFunc("GET /favicon.ico", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, d.Asset("favicon.svg"), http.StatusMovedPermanently)
	})
	d.mountAuth()
	return d, nil
}

func (d *Dashboard) loadAssets() error {
	return fs.WalkDir(staticFS, "static", func(path string, e fs.DirEntry, err error) error {
		if err != nil || e.IsDir() {
			return err
		}
		b, err := staticFS.ReadFile(path)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(b)
		name := strings.TrimPrefix(path, "static/")
		d.assets[name] = asset{body: b, etag: hex.EncodeToString(sum[:8]), typ: contentType(name)}
		return nil
	})
}

func contentType(name string) string {
	switch {
	case strings.HasSuffix(name, ".js"):
		return "text/javascript; charset=utf-8"
	case strings.HasSuffix(name, ".css"):
		return "text/css; charset=utf-8"
	case strings.HasSuffix(name, ".svg"):
		return "image/svg+xml"
	}
	return "text/plain; charset=utf-8"
}

// static serves an embedded asset; its URL carries the content hash
// (Asset), so it is cached for good.
func (d *Dashboard) static(w http.ResponseWriter, r *http.Request) {
	a, ok := d.assets[r.PathValue("name")]
	if !ok {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Type", a.typ)
	w.Header().Set("ETag", `"`+a.etag+`"`)
	w.Header().Set("Cache-Control", "public, max-age=31536000, immutable")
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(a.body))
}

// Asset returns the URL of static file name, with its content hash.
func (d *Dashboard) Asset(name string) string {
	a, ok := d.assets[name]
	if !ok {
		return "/static/" + name
	}
	return "/static/" + name + "?v=" + a.etag
}

// funcs are the template functions every dashboard template has.
func (d *Dashboard) funcs() template.FuncMap {
	return template.FuncMap{
		"asset": d.Asset,
		"nav":   d.Nav,
		"ago":   Ago,
		"since": func(t time.Time) string { return Ago(time.Since(t)) },
		"time":  FormatTime,
		"ms":    FormatMillis,
		"count": FormatCount,
		"lower": strings.ToLower,
	}
}

// Templates returns the layout with the module templates of fsys matching
// patterns parsed in: each page template defines "title" and "content"
// (and may define named fragments that Fragment renders alone).
func (d *Dashboard) Templates(fsys fs.FS, patterns ...string) (*template.Template, error) {
	t, err := d.layout.Clone()
	if err != nil {
		return nil, err
	}
	return t.ParseFS(fsys, patterns...)
}

// MustTemplates is Templates for templates embedded in the binary, whose
// errors are programming errors.
func (d *Dashboard) MustTemplates(fsys fs.FS, patterns ...string) *template.Template {
	return template.Must(d.Templates(fsys, patterns...))
}

// Page registers p behind the sign-in.
func (d *Dashboard) Page(p Page) {
	d.Handle(p.Pattern, p.Handler)
	if p.Nav == "" {
		return
	}
	path := p.NavPath
	if path == "" {
		path = p.Pattern
		if _, after, ok := strings.Cut(path, " "); ok {
			path = after
		}
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	d.nav = append(d.nav, NavItem{Title: p.Nav, Path: path, Order: p.Order})
	slices.SortStableFunc(d.nav, func(a, b NavItem) int { return a.Order - b.Order })
}

// Handle registers a fragment or an action behind the sign-in. A request
// that is not a GET or HEAD must come from the dashboard itself (same
// origin, with the HX-Request header htmx sends): a form on another site
// cannot post here with the person's cookie.
func (d *Dashboard) Handle(pattern string, h http.HandlerFunc) {
	d.mux.Handle(pattern, d.guard(h))
}

// Nav returns the navigation bar's entries.
func (d *Dashboard) Nav() []NavItem {
	d.mu.Lock()
	defer d.mu.Unlock()
	return slices.Clone(d.nav)
}

// Mount serves the dashboard on s, for every path outside /api/ that s has
// no route for: / and every page registered, before or after Mount.
func (d *Dashboard) Mount(s *httpapi.Server) {
	s.Fallback(http.HandlerFunc(d.serve))
}

func (d *Dashboard) serve(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	// Nothing inline, nothing from elsewhere: a value that slipped through
	// escaping still cannot run.
	h.Set("Content-Security-Policy", "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "+
		"connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "same-origin")
	timeout := d.cfg.ReadTimeout
	if !safeMethod(r.Method) {
		timeout = d.cfg.ActionTimeout
	}
	ctx, cancel := context.WithTimeout(r.Context(), timeout)
	defer cancel()
	d.mux.ServeHTTP(w, r.WithContext(ctx))
}

// View is what a page template is executed with.
type View struct {
	// Title is the page's title (the browser tab and the heading).
	Title string
	// Path is the request's path (the navigation marks its entry).
	Path string
	// Data is the page's own data.
	Data any
	// SignedIn is true when a token is set and the person signed in with
	// it (the layout shows "sign out").
	SignedIn bool
}

// Render executes t's layout for the page with data and writes it; a
// failure to render is a 500 with a short message (the template is ours:
// it is a bug, logged).
func (d *Dashboard) Render(w http.ResponseWriter, r *http.Request, t *template.Template, title string, data any) {
	d.execute(w, r, t, "layout", View{Title: title, Path: r.URL.Path, Data: data, SignedIn: d.cfg.Token != ""})
}

// Fragment executes t's template name alone with data (a part of a page
// that htmx replaces), and writes it.
func (d *Dashboard) Fragment(w http.ResponseWriter, r *http.Request, t *template.Template, name string, data any) {
	d.execute(w, r, t, name, View{Path: r.URL.Path, Data: data, SignedIn: d.cfg.Token != ""})
}

func (d *Dashboard) execute(w http.ResponseWriter, r *http.Request, t *template.Template, name string, v View) {
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, name, v); err != nil {
		d.cfg.Log.Error("dashboard: render failed", "path", r.URL.Path, "template", name, "err", err)
		http.Error(w, "The page could not be rendered.", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	_, _ = w.Write(buf.Bytes())
}

// Error writes a short error page (or fragment, for htmx) with status.
func (d *Dashboard) Error(w http.ResponseWriter, r *http.Request, status int, message string) {
	if r.Header.Get("HX-Request") != "" {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.WriteHeader(status)
		_, _ = fmt.Fprintf(w, `<p class="error" role="alert">%s</p>`, template.HTMLEscapeString(message))
		return
	}
	var buf bytes.Buffer
	err := d.layout.ExecuteTemplate(&buf, "layout", View{Title: http.StatusText(status), Path: r.URL.Path,
		Data: message, SignedIn: d.cfg.Token != ""})
	if err != nil {
		http.Error(w, message, status)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}
