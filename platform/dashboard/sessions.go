package dashboard

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/eventline/eventline/eventstore"
)

// SessionStore keeps the dashboard's sessions: one per sign-in, under a
// key derived from the session's random id (never the cookie itself).
type SessionStore interface {
	// Put stores a session's record until it expires.
	Put(ctx context.Context, key string, rec []byte, ttl time.Duration) error
	// Get returns a session's record, or ErrNoSession.
	Get(ctx context.Context, key string) ([]byte, error)
	// Delete ends a session.
	Delete(ctx context.Context, key string) error
}

// ErrNoSession reports a session that does not exist (or no longer does).
var ErrNoSession = errors.New("no such session")

// sessionRecord is what the store holds for a session: when it ends, and
// a MAC of its id under the token, so that a new token ends every session
// made with the old one.
type sessionRecord struct {
	Expires time.Time `json:"expires"`
	MAC     string    `json:"mac"`
}

// newSessionID returns a random session id (the cookie's value).
func newSessionID() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("session id: %w", err)
	}
	return hex.EncodeToString(b), nil
}

// sessionKey is the store's key of a session id: a hash, so that whoever
// reads the store learns no cookie.
func sessionKey(id string) string {
	sum := sha256.Sum256([]byte("eventline session " + id))
	return hex.EncodeToString(sum[:])
}

func (d *Dashboard) sessionMAC(id string) string {
	m := hmac.New(sha256.New, []byte(d.cfg.Token))
	m.Write([]byte("eventline dashboard session v2 " + id))
	return hex.EncodeToString(m.Sum(nil))
}

// startSession stores a new session and returns its id.
func (d *Dashboard) startSession(ctx context.Context) (string, error) {
	id, err := newSessionID()
	if err != nil {
		return "", err
	}
	rec, _ := json.Marshal(sessionRecord{Expires: time.Now().Add(d.cfg.SessionTTL), MAC: d.sessionMAC(id)})
	if err := d.sessions.Put(ctx, sessionKey(id), rec, d.cfg.SessionTTL); err != nil {
		return "", fmt.Errorf("store session: %w", err)
	}
	return id, nil
}

// validSession reports whether id names a live session made with the
// current token.
func (d *Dashboard) validSession(ctx context.Context, id string) bool {
	if len(id) != 64 {
		return false
	}
	b, err := d.sessions.Get(ctx, sessionKey(id))
	if err != nil {
		if !errors.Is(err, ErrNoSession) {
			d.cfg.Log.Warn("read dashboard session", "err", err)
		}
		return false
	}
	var rec sessionRecord
	if json.Unmarshal(b, &rec) != nil || !time.Now().Before(rec.Expires) {
		return false
	}
	return hmac.Equal([]byte(rec.MAC), []byte(d.sessionMAC(id)))
}

// memorySessions is a SessionStore in this process's memory: sessions end
// with the process and are not seen by other processes. It keeps at most
// maxMemorySessions, dropping expired ones first, then the oldest.
type memorySessions struct {
	mu sync.Mutex
	m  map[string]memorySession
}

type memorySession struct {
	rec     []byte
	expires time.Time
}

const maxMemorySessions = 10000

// NewMemorySessions returns a SessionStore in memory, for a single process
// and for tests.
func NewMemorySessions() SessionStore { return &memorySessions{m: map[string]memorySession{}} }

func (s *memorySessions) Put(_ context.Context, key string, rec []byte, ttl time.Duration) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := time.Now()
	if len(s.m) >= maxMemorySessions {
		var oldestKey string
		var oldest time.Time
		for k, v := range s.m {
			if !now.Before(v.expires) {
				delete(s.m, k)
				continue
			}
			if oldestKey == "" || v.expires.Before(oldest) {
				oldestKey, oldest = k, v.expires
			}
		}
		if len(s.m) >= maxMemorySessions {
			delete(s.m, oldestKey)
		}
	}
	s.m[key] = memorySession{rec: rec, expires: now.Add(ttl)}
	return nil
}

func (s *memorySessions) Get(_ context.Context, key string) ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	v, ok := s.m[key]
	if !ok || !time.Now().Before(v.expires) {
		delete(s.m, key)
		return nil, ErrNoSession
	}
	return v.rec, nil
}

func (s *memorySessions) Delete(_ context.Context, key string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.m, key)
	return nil
}

// SessionsBucket is the JetStream key-value bucket of the dashboard's
// sessions, shared by every process of a deployment.
const SessionsBucket = "eventline_sessions"

// kvSessions is a SessionStore in a JetStream key-value bucket: a session
// made on one process is valid on every other, and a sign-out anywhere
// ends it everywhere.
type kvSessions struct{ kv jetstream.KeyValue }

// NewKVSessions opens (creating when needed) the sessions bucket with
// replicas copies; entries expire with the sessions (the bucket's TTL).
// Like the idempotency bucket, a replicated one is read from its leader,
// so that a session is found on the request right after the sign-in.
func NewKVSessions(ctx context.Context, js jetstream.JetStream, replicas int) (SessionStore, error) {
	if replicas == 0 {
		replicas = 1
	}
	stream := "KV_" + SessionsBucket
	if err := eventstore.CheckReplicas(ctx, js, stream, replicas); err != nil {
		return nil, fmt.Errorf("sessions bucket: %w", err)
	}
	if _, err := js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket: SessionsBucket, Description: "dashboard sessions (hashed ids)",
		History: 1, TTL: sessionTTL, Storage: jetstream.FileStorage, Replicas: replicas,
		MaxBytes: 64 << 20,
	}); err != nil {
		return nil, fmt.Errorf("sessions bucket: %w", err)
	}
	st, err := js.Stream(ctx, stream)
	if err != nil {
		return nil, fmt.Errorf("sessions bucket stream: %w", err)
	}
	cfg := st.CachedInfo().Config
	direct := replicas == 1
	if cfg.MaxMsgs != 100000 || cfg.Discard != jetstream.DiscardOld || cfg.AllowDirect != direct {
		cfg.MaxMsgs, cfg.Discard, cfg.AllowDirect = 100000, jetstream.DiscardOld, direct
		if _, err := js.UpdateStream(ctx, cfg); err != nil {
			return nil, fmt.Errorf("bound sessions bucket: %w", err)
		}
	}
	kv, err := js.KeyValue(ctx, SessionsBucket)
	if err != nil {
		return nil, fmt.Errorf("sessions bucket: %w", err)
	}
	return &kvSessions{kv: kv}, nil
}

func (s *kvSessions) Put(ctx context.Context, key string, rec []byte, _ time.Duration) error {
	_, err := s.kv.Put(ctx, key, rec)
	return err
}

func (s *kvSessions) Get(ctx context.Context, key string) ([]byte, error) {
	e, err := s.kv.Get(ctx, key)
	if errors.Is(err, jetstream.ErrKeyNotFound) || errors.Is(err, jetstream.ErrKeyDeleted) {
		return nil, ErrNoSession
	}
	if err != nil {
		return nil, err
	}
	return e.Value(), nil
}

func (s *kvSessions) Delete(ctx context.Context, key string) error {
	err := s.kv.Purge(ctx, key)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return nil
	}
	return err
}
