package dashboard

import (
	"crypto/subtle"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// SessionCookie is the name of the dashboard's session cookie.
const SessionCookie = "eventline_session"

// MaxFormBytes bounds the body of a dashboard action (a form's fields).
const MaxFormBytes = 1 << 20

// sessionTTL is how long a sign-in lasts by default (Config.SessionTTL),
// and the longest a session bucket keeps one.
const sessionTTL = 12 * time.Hour

// SignedIn reports whether r carries the cookie of a live session (always
// true when no token is set). Each sign-in gets a session of its own (a
// random id, sessions.go) that the server ends after sessionTTL, at
// sign-out, or when the token changes.
func (d *Dashboard) SignedIn(r *http.Request) bool {
	if d.cfg.Token == "" {
		return true
	}
	c, err := r.Cookie(SessionCookie)
	return err == nil && d.validSession(r.Context(), c.Value)
}

// APIAuthorized reports whether r, a request under /api/ without a bearer
// token, may act with the person's session: it carries the cookie, and a
// request that changes something comes from the dashboard's own pages
// (the HX-Request header, which another site's form cannot send).
func (d *Dashboard) APIAuthorized(r *http.Request) bool {
	if d.cfg.Token == "" || !d.SignedIn(r) {
		return false
	}
	return safeMethod(r.Method) || d.fromDashboard(r)
}

func safeMethod(m string) bool { return m == http.MethodGet || m == http.MethodHead }

// fromDashboard reports whether r was sent by the dashboard's scripts: the
// HX-Request header (a cross-site form cannot set a header, and a
// cross-origin script that does is refused by the browser's preflight);
// the standard library's cross-origin check (http.CrossOriginProtection:
// Sec-Fetch-Site when the browser sends it, else the Origin against the
// Host; a request with neither is not a browser's cross-origin one); and
// an Origin, when the browser sends one, on the allowed hosts: a rebound
// name (a page on another domain resolving to this server) is same-origin
// to the browser and matches its own Host header.
func (d *Dashboard) fromDashboard(r *http.Request) bool {
	if r.Header.Get("HX-Request") != "true" || d.crossOrigin.Check(r) != nil {
		return false
	}
	origin := r.Header.Get("Origin")
	if origin == "" {
		return true
	}
	u, err := url.Parse(origin)
	return err == nil && d.cfg.AllowedHosts.Allows(u.Host)
}

// guard puts h behind the sign-in and the same-origin rule for actions.
func (d *Dashboard) guard(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if !d.SignedIn(r) {
			if r.Header.Get("HX-Request") != "" {
				// htmx follows this header with a full navigation.
				w.Header().Set("HX-Redirect", "/login?next="+url.QueryEscape(r.URL.RequestURI()))
				w.WriteHeader(http.StatusUnauthorized)
				return
			}
			if safeMethod(r.Method) {
				http.Redirect(w, r, "/login?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
				return
			}
			d.Error(w, r, http.StatusUnauthorized, "Sign in first.")
			return
		}
		if !safeMethod(r.Method) {
			if !d.fromDashboard(r) {
				d.Error(w, r, http.StatusForbidden, "This action is only accepted from the dashboard's own pages.")
				return
			}
			// A form of the dashboard is a few fields: its body is read
			// here, bounded, so that no action reads an unbounded one.
			r.Body = http.MaxBytesReader(w, r.Body, MaxFormBytes)
			if err := r.ParseForm(); err != nil {
				var tooBig *http.MaxBytesError
				if errors.As(err, &tooBig) {
					d.Error(w, r, http.StatusRequestEntityTooLarge, "The form is too large.")
					return
				}
				d.Error(w, r, http.StatusBadRequest, "The form could not be read.")
				return
			}
		}
		h(w, r)
	}
}

type loginData struct {
	Next  string
	Error string
}

func (d *Dashboard) mountAuth() {
	d.mux.HandleFunc("GET /login", func(w http.ResponseWriter, r *http.Request) {
		if d.cfg.Token == "" || d.SignedIn(r) {
			http.Redirect(w, r, localPath(r.URL.Query().Get("next")), http.StatusSeeOther)
			return
		}
		d.Render(w, r, d.login, "Sign in", loginData{Next: localPath(r.URL.Query().Get("next"))})
	})
	d.mux.HandleFunc("POST /login", func(w http.ResponseWriter, r *http.Request) {
		r.Body = http.MaxBytesReader(w, r.Body, 8<<10)
		next := localPath(r.FormValue("next"))
		if d.cfg.Token == "" {
			http.Redirect(w, r, next, http.StatusSeeOther)
			return
		}
		if subtle.ConstantTimeCompare([]byte(r.FormValue("token")), []byte(d.cfg.Token)) != 1 {
			w.WriteHeader(http.StatusUnauthorized)
			d.Render(w, r, d.login, "Sign in", loginData{Next: next, Error: "That token is not the API token."})
			return
		}
		id, err := d.startSession(r.Context())
		if err != nil {
			d.cfg.Log.Error("dashboard sign-in", "err", err)
			d.Error(w, r, http.StatusServiceUnavailable, "The session could not be stored; try again.")
			return
		}
		http.SetCookie(w, &http.Cookie{Name: SessionCookie, Value: id, Path: "/", HttpOnly: true,
			SameSite: http.SameSiteStrictMode, Secure: r.TLS != nil, MaxAge: int(d.cfg.SessionTTL / time.Second)})
		http.Redirect(w, r, next, http.StatusSeeOther)
	})
	d.mux.HandleFunc("POST /logout", func(w http.ResponseWriter, r *http.Request) {
		// The session ends on the server: a copy of the cookie is no
		// longer accepted anywhere.
		if c, err := r.Cookie(SessionCookie); err == nil && len(c.Value) == 64 {
			if err := d.sessions.Delete(r.Context(), sessionKey(c.Value)); err != nil {
				d.cfg.Log.Error("dashboard sign-out", "err", err)
				d.Error(w, r, http.StatusServiceUnavailable, "The session could not be ended; try again.")
				return
			}
		}
		http.SetCookie(w, &http.Cookie{Name: SessionCookie, Value: "", Path: "/", HttpOnly: true,
			SameSite: http.SameSiteStrictMode, MaxAge: -1})
		http.Redirect(w, r, "/login", http.StatusSeeOther)
	})
}

// localPath returns next when it is a path of this site, else "/": a
// sign-in link must not send the person elsewhere.
func localPath(next string) string {
	if next == "" || !strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") || strings.HasPrefix(next, "/\\") ||
		strings.HasPrefix(next, "/login") {
		return "/"
	}
	return next
}
