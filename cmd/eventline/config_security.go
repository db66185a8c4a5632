package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"strings"

	"github.com/eventline/eventline/platform/dashboard"
	"github.com/eventline/eventline/platform/httpapi"
)

// SecurityConfig is what keeps the HTTP side closed by default.
type SecurityConfig struct {
	// AllowedHosts is EVENTLINE_ALLOWED_HOSTS: a comma list of the host
	// names the HTTP server answers to ("name", ".domain" for a domain and
	// its subdomains, "*" for any), besides the loopback names, which it
	// always answers (a rebinding page sends its own name, never these).
	// Empty: the host of EVENTLINE_HTTP_ADDR and, when it listens on every
	// interface, the machine's name and addresses.
	AllowedHosts string
}

// bindSecurityFlags registers the security flags of serve over c.
func (c *Config) bindSecurityFlags(fs *flag.FlagSet) {
	fs.StringVar(&c.Security.AllowedHosts, "allowed-hosts", c.Security.AllowedHosts,
		"comma list of host names the HTTP server answers to; empty: loopback names and the listen address (EVENTLINE_ALLOWED_HOSTS)")
}

// validateSecurity refuses an HTTP server that anyone could drive: one
// listening beyond loopback, or answering to any host name, needs the API
// token.
func (c Config) validateSecurity() []error {
	var errs []error
	if c.APIToken != "" {
		return nil
	}
	if host, _, err := net.SplitHostPort(c.HTTPAddr); err == nil && !loopbackHost(host) {
		errs = append(errs, fmt.Errorf("EVENTLINE_HTTP_ADDR %q listens beyond loopback: set EVENTLINE_API_TOKEN (every /api/ request then needs it)", c.HTTPAddr))
	}
	for _, n := range splitList(c.Security.AllowedHosts) {
		if n == "*" {
			errs = append(errs, errors.New("EVENTLINE_ALLOWED_HOSTS=* answers to any host name: set EVENTLINE_API_TOKEN too"))
		}
	}
	return errs
}

// allowedHosts is the Host allow-list of serve's HTTP server.
func (c Config) allowedHosts() *httpapi.HostAllowList {
	names := append([]string(nil), httpapi.LoopbackHosts...)
	if listed := splitList(c.Security.AllowedHosts); len(listed) > 0 {
		return httpapi.NewHostAllowList(append(names, listed...))
	}
	host, _, _ := net.SplitHostPort(c.HTTPAddr)
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		// Every interface: the names and addresses the machine is reached by.
		if h, err := os.Hostname(); err == nil {
			names = append(names, h)
		}
		if addrs, err := net.InterfaceAddrs(); err == nil {
			for _, a := range addrs {
				if ipn, ok := a.(*net.IPNet); ok {
					names = append(names, ipn.IP.String())
				}
			}
		}
	} else {
		names = append(names, host)
	}
	return httpapi.NewHostAllowList(names)
}

// loopbackHost reports whether a listen address's host is loopback only.
func loopbackHost(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func splitList(v string) []string {
	var out []string
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}

// openSessions opens the dashboard's sessions bucket, shared by every
// process of the deployment, retried while JetStream is not ready (as the
// idempotency bucket is). Without a token nobody signs in: nil.
func openSessions(ctx context.Context, cfg Config, in *infra) (dashboard.SessionStore, error) {
	if cfg.APIToken == "" {
		return nil, nil
	}
	var store dashboard.SessionStore
	err := retry(ctx, in.log, "open sessions bucket", func() error {
		try, cancel := context.WithTimeout(ctx, jetStreamTryTimeout)
		defer cancel()
		var err error
		store, err = dashboard.NewKVSessions(try, in.store.JetStream(), cfg.StreamReplicas)
		return err
	}, true)
	return store, err
}
