package workflowsync

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// KeySize is the length of the secret key: AES-256.
const KeySize = 32

// KeyFileName is the file in the data dir that holds the generated key
// when EVENTLINE_SECRET_KEY is not set.
const KeyFileName = "secret.key"

// Errors of the credentials store.
var (
	// ErrWrongKey reports a key that cannot open the stored secrets.
	ErrWrongKey = errors.New("secret key does not match the one the secrets were stored with")
	// ErrNameTaken reports a customer name another customer has.
	ErrNameTaken = errors.New("customer name already taken")
	// ErrNoCredentials reports a customer without stored credentials.
	ErrNoCredentials = errors.New("no credentials stored for this customer")
	// ErrBadKey reports a malformed key.
	ErrBadKey = errors.New("secret key must be 32 bytes, base64-encoded")
)

// ParseKey decodes a base64 (standard or URL alphabet, padded or not)
// 32-byte key.
func ParseKey(s string) ([]byte, error) {
	s = strings.TrimSpace(s)
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if k, err := enc.DecodeString(s); err == nil && len(k) == KeySize {
			return k, nil
		}
	}
	return nil, ErrBadKey
}

// LoadKey returns the key: b64 when set, else the one in dataDir's
// KeyFileName, generated there (mode 0600) on first use and never again.
func LoadKey(b64, dataDir string) ([]byte, error) {
	if b64 != "" {
		k, err := ParseKey(b64)
		if err != nil {
			return nil, fmt.Errorf("EVENTLINE_SECRET_KEY: %w", err)
		}
		return k, nil
	}
	if dataDir == "" {
		return nil, errors.New("EVENTLINE_SECRET_KEY is needed when there is no data dir to keep a generated key in")
	}
	path := filepath.Join(dataDir, KeyFileName)
	if k, err := readKeyFile(path); !errors.Is(err, fs.ErrNotExist) {
		return k, err
	}
	if err := os.MkdirAll(dataDir, 0o755); err != nil {
		return nil, fmt.Errorf("secret key: %w", err)
	}
	k := make([]byte, KeySize)
	if _, err := rand.Read(k); err != nil {
		return nil, fmt.Errorf("secret key: %w", err)
	}
	// O_EXCL: two processes starting at once keep one key, the first.
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return readKeyFile(path)
	}
	if err != nil {
		return nil, fmt.Errorf("secret key: %w", err)
	}
	_, werr := f.WriteString(base64.StdEncoding.EncodeToString(k) + "\n")
	if err := errors.Join(werr, f.Sync(), f.Close()); err != nil {
		return nil, fmt.Errorf("secret key %s: %w", path, err)
	}
	return k, nil
}

func readKeyFile(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	k, err := ParseKey(string(b))
	if err != nil {
		// Never regenerated: the stored secrets need this key.
		return nil, fmt.Errorf("secret key file %s: %w", path, err)
	}
	return k, nil
}

// Secrets keeps each customer's Zuora client secret encrypted with
// AES-256-GCM in customer_credentials (a table no projection owns, so a
// rebuild never touches it). The customer id is the additional data: a
// row copied onto another customer does not open.
type Secrets struct {
	pool *pgxpool.Pool
	aead cipher.AEAD
}

// NewSecrets returns the credentials store over pool with key.
func NewSecrets(pool *pgxpool.Pool, key []byte) (*Secrets, error) {
	if len(key) != KeySize {
		return nil, ErrBadKey
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("secret key: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("secret key: %w", err)
	}
	return &Secrets{pool: pool, aead: aead}, nil
}

// Store records customerID's name and secret. It reports whether it
// inserted the row: false when customerID already had one with this name
// (a retried request). ErrNameTaken when another customer has the name.
func (s *Secrets) Store(ctx context.Context, customerID, name, secret string) (bool, error) {
	nonce := make([]byte, s.aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return false, fmt.Errorf("store credentials: %w", err)
	}
	sealed := s.aead.Seal(nil, nonce, []byte(secret), []byte(customerID))
	tag, err := s.pool.Exec(ctx, `INSERT INTO customer_credentials (customer_id, name, nonce, secret, created_at)
		VALUES ($1, $2, $3, $4, now()) ON CONFLICT DO NOTHING`, customerID, name, nonce, sealed)
	if err != nil {
		return false, fmt.Errorf("store credentials: %w", err)
	}
	if tag.RowsAffected() == 1 {
		return true, nil
	}
	var owner string
	err = s.pool.QueryRow(ctx, `SELECT customer_id::text FROM customer_credentials WHERE name = $1`, name).Scan(&owner)
	if errors.Is(err, pgx.ErrNoRows) {
		// The customer id is taken under another name.
		return false, ErrNameTaken
	}
	if err != nil {
		return false, fmt.Errorf("store credentials: %w", err)
	}
	if owner != customerID {
		return false, ErrNameTaken
	}
	return false, nil
}

// Load returns customerID's client secret.
func (s *Secrets) Load(ctx context.Context, customerID string) (string, error) {
	var nonce, sealed []byte
	err := s.pool.QueryRow(ctx, `SELECT nonce, secret FROM customer_credentials WHERE customer_id = $1`, customerID).Scan(&nonce, &sealed)
	if errors.Is(err, pgx.ErrNoRows) || isInvalidUUID(err) {
		return "", ErrNoCredentials
	}
	if err != nil {
		return "", fmt.Errorf("load credentials of %s: %w", customerID, err)
	}
	return s.open(customerID, nonce, sealed)
}

func (s *Secrets) open(customerID string, nonce, sealed []byte) (string, error) {
	if len(nonce) != s.aead.NonceSize() {
		return "", fmt.Errorf("credentials of %s: %w", customerID, ErrWrongKey)
	}
	plain, err := s.aead.Open(nil, nonce, sealed, []byte(customerID))
	if err != nil {
		return "", fmt.Errorf("credentials of %s: %w", customerID, ErrWrongKey)
	}
	return string(plain), nil
}

// Update changes customerID's name (when name is not empty) and secret
// (when secret is not empty). ErrNameTaken when another customer has the
// name; ErrNoCredentials when customerID has no row.
func (s *Secrets) Update(ctx context.Context, customerID, name, secret string) error {
	var nonce, sealed []byte
	if secret != "" {
		nonce = make([]byte, s.aead.NonceSize())
		if _, err := rand.Read(nonce); err != nil {
			return fmt.Errorf("update credentials: %w", err)
		}
		sealed = s.aead.Seal(nil, nonce, []byte(secret), []byte(customerID))
	}
	tag, err := s.pool.Exec(ctx, `UPDATE customer_credentials SET name = coalesce(nullif($2, ''), name),
		nonce = coalesce($3, nonce), secret = coalesce($4, secret) WHERE customer_id = $1`, customerID, name, nonce, sealed)
	var pgErr *pgconn.PgError
	switch {
	case errors.As(err, &pgErr) && pgErr.Code == "23505":
		return ErrNameTaken
	case isInvalidUUID(err):
		return ErrNoCredentials
	case err != nil:
		return fmt.Errorf("update credentials of %s: %w", customerID, err)
	case tag.RowsAffected() == 0:
		return ErrNoCredentials
	}
	return nil
}

// Delete removes customerID's credentials (a creation whose event could
// not be stored, a deleted customer).
func (s *Secrets) Delete(ctx context.Context, customerID string) error {
	if _, err := s.pool.Exec(ctx, `DELETE FROM customer_credentials WHERE customer_id = $1`, customerID); err != nil {
		return fmt.Errorf("delete credentials of %s: %w", customerID, err)
	}
	return nil
}

// Check opens the most recently stored secret, so that a process started
// with another key fails at once with ErrWrongKey rather than at its first
// sync. No secret stored yet: nil.
func (s *Secrets) Check(ctx context.Context) error {
	var id string
	var nonce, sealed []byte
	err := s.pool.QueryRow(ctx, `SELECT customer_id::text, nonce, secret FROM customer_credentials
		ORDER BY created_at DESC LIMIT 1`).Scan(&id, &nonce, &sealed)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("check secret key: %w", err)
	}
	_, err = s.open(id, nonce, sealed)
	return err
}

// Customer is a customer's id and name as the credentials table has them.
type Customer struct {
	ID   string
	Name string
}

// LookupCustomers returns the customers named names (all of them when
// names is empty), ordered by name, from the credentials table; unknown
// names are missing from the result.
func LookupCustomers(ctx context.Context, pool *pgxpool.Pool, names []string) ([]Customer, error) {
	q := `SELECT customer_id::text, name FROM customer_credentials WHERE name = ANY($1) ORDER BY name`
	args := []any{names}
	if len(names) == 0 {
		q, args = `SELECT customer_id::text, name FROM customer_credentials ORDER BY name`, nil
	}
	rows, err := pool.Query(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("look up customers: %w", err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowToStructByPos[Customer])
	if err != nil {
		return nil, fmt.Errorf("look up customers: %w", err)
	}
	return out, nil
}

// isInvalidUUID recognises a customer id PostgreSQL cannot read as a uuid.
func isInvalidUUID(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == "22P02"
}
