package natsserver

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/eventline/eventline/eventstore"
)

// CredentialsFileName is the file in the embedded server's store directory
// that holds the user and password every client must present.
const CredentialsFileName = "credentials.json"

// ErrCredentialsExposed reports that the embedded server's credentials file
// can be read by other users than its owner.
var ErrCredentialsExposed = errors.New("natsserver: nats credentials file is readable by group or others")

// embeddedUser is the one user of the embedded server.
const embeddedUser = "eventline"

type credentialsFile struct {
	User     string `json:"user"`
	Password string `json:"password"`
}

// ReadCredentials reads the credentials of the embedded server whose
// store is storeDir, as written by Start on its first start. The
// file must be readable by its owner only (mode 0600): one that group or
// others may read is refused with ErrCredentialsExposed, since its secret
// may have leaked (delete it and restart to get new credentials).
func ReadCredentials(storeDir string) (eventstore.Credentials, error) {
	path := filepath.Join(storeDir, CredentialsFileName)
	f, err := os.Open(path)
	if err != nil {
		return eventstore.Credentials{}, fmt.Errorf("nats credentials: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return eventstore.Credentials{}, fmt.Errorf("nats credentials: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return eventstore.Credentials{}, fmt.Errorf("nats credentials: %s is not a regular file", path)
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		return eventstore.Credentials{}, fmt.Errorf("%w: %s has mode %04o (run chmod 600 on it, or delete it to generate new credentials)",
			ErrCredentialsExposed, path, perm)
	}
	var cf credentialsFile
	dec := json.NewDecoder(f)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&cf); err != nil {
		return eventstore.Credentials{}, fmt.Errorf("nats credentials: %s: %w", path, err)
	}
	if cf.User == "" || len(cf.Password) < 32 {
		return eventstore.Credentials{}, fmt.Errorf("nats credentials: %s: user or password missing or too short", path)
	}
	return eventstore.Credentials{User: cf.User, Password: cf.Password}, nil
}

// loadOrCreateCredentials returns the credentials stored in storeDir,
// generating them on the first start. The file is written whole under a
// temporary name and linked into place, so a crash never leaves half a file,
// and an existing file is never replaced.
func loadOrCreateCredentials(storeDir string) (eventstore.Credentials, error) {
	c, err := ReadCredentials(storeDir)
	if err == nil || !errors.Is(err, fs.ErrNotExist) {
		return c, err
	}
	if err := os.MkdirAll(storeDir, 0o700); err != nil {
		return eventstore.Credentials{}, fmt.Errorf("nats credentials: %w", err)
	}
	secret := make([]byte, 32)
	if _, err := rand.Read(secret); err != nil {
		return eventstore.Credentials{}, fmt.Errorf("nats credentials: %w", err)
	}
	body, err := json.Marshal(credentialsFile{User: embeddedUser, Password: hex.EncodeToString(secret)})
	if err != nil {
		return eventstore.Credentials{}, fmt.Errorf("nats credentials: %w", err)
	}
	if err := writeNewFile(filepath.Join(storeDir, CredentialsFileName), append(body, '\n')); err != nil {
		return eventstore.Credentials{}, fmt.Errorf("nats credentials: %w", err)
	}
	return ReadCredentials(storeDir)
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
