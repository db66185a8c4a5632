package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/eventline/eventline/zuora/zuorasim"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "zuora-sim:", err)
		}
		os.Exit(1)
	}
}

// shutdownTimeout bounds how long in-flight requests may finish on stop.
const shutdownTimeout = 5 * time.Second

// run is the composition root: it parses the flags, loads the tenants,
// serves until ctx is done and then shuts the server down.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("zuora-sim", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", "127.0.0.1:8081", "listen address")
	tenantsFile := fs.String("tenants", "", "JSON file: client id → {client_secret, workflows, time_format}")
	demo := fs.Bool("demo", false, "serve the demo tenants (demo-small, demo-large, demo-empty; secret: <id>-secret)")
	latency := fs.Duration("latency", 0, "delay added to every page request, e.g. 20ms")
	tokenTTL := fs.Duration("token-ttl", 3599*time.Second, "access token lifetime")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments: %v", fs.Args())
	}
	if *latency < 0 || *tokenTTL < time.Second {
		return errors.New("--latency must not be negative and --token-ttl must be at least 1s")
	}
	tenants := map[string]zuorasim.Tenant{}
	if *demo {
		maps.Copy(tenants, zuorasim.DemoTenants())
	}
	if *tenantsFile != "" {
		fromFile, err := loadTenants(*tenantsFile)
		if err != nil {
			return err
		}
		maps.Copy(tenants, fromFile)
	}
	logger := slog.New(slog.NewTextHandler(stderr, nil))
	sim, err := zuorasim.New(zuorasim.Options{TokenTTL: *tokenTTL, Latency: *latency, Logger: logger}, tenants)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", *addr, err)
	}
	srv := &http.Server{Handler: sim, ReadHeaderTimeout: 10 * time.Second}
	fmt.Fprintf(stdout, "zuora-sim: listening on http://%s (%d tenants)\n", ln.Addr(), len(tenants))
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return fmt.Errorf("shut down: %w", err)
	}
	return nil
}

// loadTenants reads a tenants file: a JSON object of client id → tenant.
func loadTenants(path string) (map[string]zuorasim.Tenant, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read tenants: %w", err)
	}
	var tenants map[string]zuorasim.Tenant
	if err := json.Unmarshal(b, &tenants); err != nil {
		return nil, fmt.Errorf("decode tenants file %s: %w", path, err)
	}
	return tenants, nil
}
