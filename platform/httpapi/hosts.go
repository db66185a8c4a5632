package httpapi

import (
	"net"
	"net/http"
	"strings"
)

// HostAllowList is the set of host names a server answers to. A web page on
// another domain whose name resolves to a loopback address (DNS rebinding)
// reaches the server with its own name in the Host header: refusing names
// that are not on the list keeps it out.
type HostAllowList struct {
	any      bool
	exact    map[string]bool
	suffixes []string
}

// LoopbackHosts are the names every loopback listener answers to.
var LoopbackHosts = []string{"localhost", "127.0.0.1", "::1"}

// NewHostAllowList allows each of names: a host name or IP address
// (compared without the port, case-insensitively), ".example.com" for
// example.com and every name under it, or "*" for any host.
func NewHostAllowList(names []string) *HostAllowList {
	l := &HostAllowList{exact: map[string]bool{}}
	for _, n := range names {
		n = normalizeHost(n)
		switch {
		case n == "":
		case n == "*":
			l.any = true
		case strings.HasPrefix(n, "."):
			l.suffixes = append(l.suffixes, n)
			l.exact[n[1:]] = true
		default:
			l.exact[n] = true
		}
	}
	return l
}

// Allows reports whether hostport (a Host header or an Origin's host, with
// or without a port) is on the list. A nil list allows every host.
func (l *HostAllowList) Allows(hostport string) bool {
	if l == nil || l.any {
		return true
	}
	h := hostOnly(hostport)
	if h == "" {
		return false
	}
	if l.exact[h] {
		return true
	}
	for _, s := range l.suffixes {
		if strings.HasSuffix(h, s) {
			return true
		}
	}
	return false
}

// Names lists the allowed names (for logs), "*" when any host is.
func (l *HostAllowList) Names() []string {
	if l == nil || l.any {
		return []string{"*"}
	}
	names := make([]string, 0, len(l.exact)+len(l.suffixes))
	for n := range l.exact {
		names = append(names, n)
	}
	names = append(names, l.suffixes...)
	return names
}

// hostOnly strips the port and IPv6 brackets and lowercases the name.
func hostOnly(hostport string) string {
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		hostport = h
	}
	return normalizeHost(hostport)
}

func normalizeHost(h string) string {
	h = strings.ToLower(strings.TrimSpace(h))
	h = strings.TrimSuffix(strings.TrimPrefix(h, "["), "]")
	return strings.TrimSuffix(h, ".")
}

// hostExempt reports whether path answers any Host: health probes, which
// orchestrators send with an address of their choosing, and which tell a
// page nothing it could use.
func hostExempt(path string) bool { return path == "/healthz" || path == "/readyz" }

// errHostRefused answers a request for a host name not allowed.
var errHostRefused = Errorf(http.StatusMisdirectedRequest, "host_not_allowed",
	"This server does not answer to that host name (add it to EVENTLINE_ALLOWED_HOSTS).")
