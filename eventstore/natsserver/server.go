package natsserver

import (
	"fmt"
	"net"
	"net/url"
	"strconv"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"github.com/eventline/eventline/eventstore"
)

// Config configures the in-process NATS JetStream server.
type Config struct {
	// StoreDir holds the JetStream file store and the credentials file
	// (CredentialsFileName) every client must authenticate with.
	StoreDir string
	// Listen is host:port for clients; port 0 picks a free one.
	Listen string
	// SyncAlways fsyncs every write before acknowledging it.
	SyncAlways bool
	// MaxPayload is the largest message accepted (24 MiB when 0), enough
	// for a whole 16 MiB batch request in one event: the event adds an id
	// and a time to each entry (under 1 MiB for 10,000 entries) and
	// escapes some characters, so 24 MiB leaves half as much again. It is
	// kept under two such events on purpose: a projector pulls up to
	// MaxPayload bytes ahead (it must, to be able to receive the largest
	// event; see PullByteLimit), so with 32 MiB it held two 16 MiB events
	// ahead, each also copied into the server's outbound buffer for it,
	// which was a quarter of serve's peak memory under 16 MiB batches.
	MaxPayload int32
}

// DefaultMaxPayload is the embedded server's largest message when
// Config.MaxPayload is 0.
const DefaultMaxPayload = 24 << 20

// Server is a running in-process nats-server with JetStream.
type Server struct {
	srv   *server.Server
	addr  string
	creds eventstore.Credentials
}

// Start starts a JetStream server and waits until it accepts clients.
// The server always requires a user and password: they are generated on the
// first start into StoreDir (see ReadCredentials) and reused afterwards.
// It has no monitoring port, no anonymous user and no other listener.
func Start(cfg Config) (*Server, error) {
	host, portStr, err := net.SplitHostPort(cfg.Listen)
	if err != nil {
		return nil, fmt.Errorf("embedded nats listen address %q: %w", cfg.Listen, err)
	}
	port, err := strconv.Atoi(portStr)
	if err != nil {
		return nil, fmt.Errorf("embedded nats listen port %q: %w", portStr, err)
	}
	if port == 0 {
		port = server.RANDOM_PORT
	}
	if cfg.MaxPayload == 0 {
		cfg.MaxPayload = DefaultMaxPayload
	}
	creds, err := loadOrCreateCredentials(cfg.StoreDir)
	if err != nil {
		return nil, fmt.Errorf("embedded nats: %w", err)
	}
	opts := &server.Options{
		ServerName:         "eventline-embedded",
		Host:               host,
		Port:               port,
		JetStream:          true,
		StoreDir:           cfg.StoreDir,
		SyncAlways:         cfg.SyncAlways,
		MaxPayload:         cfg.MaxPayload,
		MaxPending:         int64(cfg.MaxPayload) * 4,
		NoSigs:             true,
		NoLog:              true,
		JetStreamMaxMemory: 256 << 20,
		JetStreamMaxStore:  maxStore,
		// Every client authenticates; nobody is let in as a default user.
		Users:      []*server.User{{Username: creds.User, Password: creds.Password}},
		NoAuthUser: "",
		HTTPPort:   0,
	}
	srv, err := server.NewServer(opts)
	if err != nil {
		return nil, fmt.Errorf("embedded nats: %w", err)
	}
	srv.Start()
	if !srv.ReadyForConnections(30 * time.Second) {
		srv.Shutdown()
		return nil, fmt.Errorf("embedded nats: not ready after 30s (is %s already in use?)", cfg.Listen)
	}
	return &Server{srv: srv, addr: srv.Addr().String(), creds: creds}, nil
}

// ClientURL is the URL clients connect to, with the server's user and
// password in it, so that it can be handed on as NATS_URL. It is a secret:
// log eventstore.RedactURL(ClientURL()) or Addr instead.
func (e *Server) ClientURL() string {
	u, err := url.Parse(e.srv.ClientURL())
	if err != nil {
		return e.srv.ClientURL()
	}
	u.User = url.UserPassword(e.creds.User, e.creds.Password)
	return u.String()
}

// InProcess connects a client of this process to the server through memory
// (eventstore.Options.InProcess).
func (e *Server) InProcess() nats.InProcessConnProvider { return e.srv }

// Addr is the host:port the server listens (or listened) on for clients.
func (e *Server) Addr() string { return e.addr }

// Credentials are the user and password clients authenticate with.
func (e *Server) Credentials() eventstore.Credentials { return e.creds }

// Shutdown stops the server and waits for it to finish.
func (e *Server) Shutdown() {
	e.srv.Shutdown()
	e.srv.WaitForShutdown()
}
