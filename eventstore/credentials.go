package eventstore

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"github.com/nats-io/nats.go"
)

// Credentials authenticate a client to NATS. A credentials file (File)
// and a user with a password are the two forms; a user and password or a
// token written into the URL work too, without either.
type Credentials struct {
	// File is a NATS credentials file (a user JWT and its nkey seed).
	File string
	// User and Password are a NATS user's name and password (the embedded
	// server's are of this form).
	User     string
	Password string
}

// natsOptions are the nats.go options for c.
func (c Credentials) natsOptions() []nats.Option {
	var opts []nats.Option
	if c.File != "" {
		opts = append(opts, nats.UserCredentials(c.File))
	}
	if c.User != "" {
		opts = append(opts, nats.UserInfo(c.User, c.Password))
	}
	return opts
}

// CredentialsFileName is the file in the embedded server's store directory
// that holds the user and password every client must present.
const CredentialsFileName = "credentials.json"

// ErrCredentialsExposed reports that the embedded server's credentials file
// can be read by other users than its owner.
var ErrCredentialsExposed = errors.New("eventstore: nats credentials file is readable by group or others")

// embeddedUser is the one user of the embedded server.
const embeddedUser = "eventline"

type credentialsFile struct {
	User     string `json:"user"`
	Password string `json:"password"`
}

// EmbeddedCredentials reads the credentials of the embedded server whose
// store is storeDir, as written by StartEmbedded on its first start. The
// file must be readable by its owner only (mode 0600): one that group or
// others may read is refused with ErrCredentialsExposed, since its secret
// may have leaked (delete it and restart to get new credentials).
func EmbeddedCredentials(storeDir string) (Credentials, error) {
	path := filepath.Join(storeDir, CredentialsFileName)
	f, err := os.Open(path)
	if err != nil {
		return Credentials{}, fmt.Errorf("nats credentials: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return Credentials{}, fmt.Errorf("nats credentials: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return Credentials{}, fmt.Errorf("nats credentials: %s is not a regular file", path)
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		return Credentials{}, fmt.Errorf("%w: %s has mode %04o (run chmod 600 on it, or delete it to generate new credentials)",
			ErrCredentialsExposed, path, perm)
	}
	var cf credentialsFile
	dec := json.NewDecoder(f)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&cf); err != nil {
		return Credentials{}, fmt.Errorf("nats credentials: %s: %w", path, err)
	}
	if cf.User == "" || len(cf.Password) < 32 {
		return Credentials{}, fmt.Errorf("nats credentials: %s: user or password missing or too short", path)
	}
	return Credentials{User: cf.User, Password: cf.Password}, nil
}

// loadOrCreateCredentials returns the credentials stored in storeDir,
// generating them on the first start. The file is written whole under a
// temporary name and linked into place, so a crash never leaves half a file,
// and an existing file is never replaced.
func loadOrCreateCredentials(storeDir string) (Credentials, error) {
	c, err := EmbeddedCredentials(storeDir)
	if err == nil || !errors.Is(err, fs.ErrNotExist) {
		return c, err
	}
	if err := os.MkdirAll(storeDir, 0o700); err != nil {
		return Credentials{}, fmt.Errorf("nats credentials: %w", err)
	}
	secret := make([]byte, 32)
	if _, err := rand.Read(secret); err != nil {
		return Credentials{}, fmt.Errorf("nats credentials: %w", err)
	}
	body, err := json.Marshal(credentialsFile{User: embeddedUser, Password: hex.EncodeToString(secret)})
	if err != nil {
		return Credentials{}, fmt.Errorf("nats credentials: %w", err)
	}
	if err := writeNewFile(filepath.Join(storeDir, CredentialsFileName), append(body, '\n')); err != nil {
		return Credentials{}, fmt.Errorf("nats credentials: %w", err)
	}
	return EmbeddedCredentials(storeDir)
}

// writeNewFile creates path with body, mode 0600, atomically: complete and
// synced, or absent. When path already exists it is left alone (no error):
// the caller reads what is there.
func writeNewFile(path string, body []byte) error {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, ".credentials-*.tmp")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return err
	}
	if _, err := tmp.Write(body); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Link(tmp.Name(), path); err != nil && !errors.Is(err, fs.ErrExist) {
		return err
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// RedactURL hides the secrets of a NATS URL or comma-separated URL list: a
// password becomes "xxxxx", and so does a user name alone (a token). Use it
// for anything logged or returned in an error.
func RedactURL(s string) string {
	parts := strings.Split(s, ",")
	for i, p := range parts {
		parts[i] = redactOne(strings.TrimSpace(p))
	}
	return strings.Join(parts, ",")
}

func redactOne(s string) string {
	if !strings.Contains(s, "@") {
		return s
	}
	u, err := url.Parse(s)
	if err != nil || u.User == nil {
		// Unparseable: keep only what follows the last '@' (the host).
		return "xxxxx@" + s[strings.LastIndex(s, "@")+1:]
	}
	if _, ok := u.User.Password(); ok {
		u.User = url.UserPassword(u.User.Username(), "xxxxx")
	} else {
		u.User = url.User("xxxxx")
	}
	return u.String()
}
