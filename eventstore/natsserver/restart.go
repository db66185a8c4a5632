package natsserver

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/nats-io/nats-server/v2/server"
)

// maxStore is the embedded server's own storage limit: none to speak
// of. A limit derived from the free space at start (the server's default)
// would stay small after space is freed; a DiskGuard watches the real free
// space instead.
const maxStore = 1<<63 - 1

// errFreeSpaceUnknown reports a platform where free space is not measured.
var errFreeSpaceUnknown = errors.New("free space cannot be measured here")

// errJetStreamDisabled reports that the embedded server turned JetStream off.
var errJetStreamDisabled = errors.New("jetstream disabled")

// jetStreamRestarter watches an embedded server for the write errors
// JetStream does not recover from by itself, and restarts its JetStream.
type jetStreamRestarter struct {
	srv *server.Server
	cfg *server.JetStreamConfig // as running; nil until JetStream was seen enabled
}

func newJetStreamRestarter(e *Server) *jetStreamRestarter {
	r := &jetStreamRestarter{srv: e.srv}
	r.remember()
	return r
}

// remember keeps the running JetStream configuration, to start it again the
// same way.
func (r *jetStreamRestarter) remember() {
	c := r.srv.JetStreamConfig()
	if c == nil {
		return
	}
	// The running configuration names the store's jetstream/ directory;
	// EnableJetStream appends it to what it is given.
	c.StoreDir = filepath.Dir(c.StoreDir)
	r.cfg = c
}

// writeErr reports a stream the server stopped writing to after a failed
// write (it stays so until the stream is reloaded), or JetStream being off.
func (r *jetStreamRestarter) writeErr() error {
	if !r.srv.JetStreamEnabled() {
		return errJetStreamDisabled
	}
	if r.cfg == nil {
		r.remember()
	}
	h := r.srv.Healthz(&server.HealthzOptions{Details: true})
	for _, he := range h.Errors {
		if he.Type == server.HealthzErrorStream && strings.Contains(he.Error, "write error") {
			return errors.New(he.Error)
		}
	}
	return nil
}

// restart stops JetStream and starts it again from its store, which
// reloads every stream and clears their write errors. Clients stay
// connected; their JetStream requests fail meanwhile.
func (r *jetStreamRestarter) restart() error {
	if r.srv.JetStreamEnabled() {
		if err := r.srv.ShutdownJetStream(); err != nil {
			return fmt.Errorf("stop jetstream: %w", err)
		}
	}
	if r.cfg == nil {
		return fmt.Errorf("start jetstream: %w: its configuration is unknown", errJetStreamDisabled)
	}
	cfg := *r.cfg
	if err := r.srv.EnableJetStream(&cfg); err != nil {
		return fmt.Errorf("start jetstream: %w", err)
	}
	return nil
}
