package natsserver_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/nats-io/nats.go"
	"github.com/stretchr/testify/require"

	"github.com/eventline/eventline/eventstore/natsserver"
)

// TestStartRefusesUnauthenticatedClients: a local process without the
// server's credentials cannot connect at all, so it can neither read the log
// nor publish into it nor delete a stream.
func TestStartRefusesUnauthenticatedClients(t *testing.T) {
	srv, err := natsserver.Start(natsserver.Config{StoreDir: t.TempDir(), Listen: "127.0.0.1:0"})
	require.NoError(t, err)
	t.Cleanup(srv.Shutdown)
	bare := "nats://" + srv.Addr()
	for name, opts := range map[string][]nats.Option{
		"no credentials":    nil,
		"wrong password":    {nats.UserInfo("eventline", "not-the-password")},
		"token":             {nats.Token("guess")},
		"no_auth_user none": {nats.UserInfo("", "")},
	} {
		t.Run(name, func(t *testing.T) {
			nc, err := nats.Connect(bare, append(opts, nats.Timeout(3e9))...)
			if nc != nil {
				nc.Close()
			}
			require.ErrorIs(t, err, nats.ErrAuthorization)
		})
	}
}

// TestCredentialsFile: the first start writes the credentials file
// (0600, whole), later starts reuse it, and a file others could read is
// refused rather than trusted.
func TestCredentialsFile(t *testing.T) {
	dir := t.TempDir()
	srv, err := natsserver.Start(natsserver.Config{StoreDir: dir, Listen: "127.0.0.1:0"})
	require.NoError(t, err)
	first := srv.Credentials()
	srv.Shutdown()

	path := filepath.Join(dir, natsserver.CredentialsFileName)
	fi, err := os.Stat(path)
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o600), fi.Mode().Perm())
	require.NotEmpty(t, first.User)
	require.GreaterOrEqual(t, len(first.Password), 32)
	leftovers, err := filepath.Glob(filepath.Join(dir, ".credentials-*"))
	require.NoError(t, err)
	require.Empty(t, leftovers, "no temporary file left behind")

	read, err := natsserver.ReadCredentials(dir)
	require.NoError(t, err)
	require.Equal(t, first, read)

	srv, err = natsserver.Start(natsserver.Config{StoreDir: dir, Listen: "127.0.0.1:0"})
	require.NoError(t, err)
	require.Equal(t, first, srv.Credentials(), "a restart reuses the credentials")
	nc, err := nats.Connect("nats://"+srv.Addr(), nats.UserInfo(first.User, first.Password))
	require.NoError(t, err)
	nc.Close()
	srv.Shutdown()

	require.NoError(t, os.Chmod(path, 0o640))
	_, err = natsserver.Start(natsserver.Config{StoreDir: dir, Listen: "127.0.0.1:0"})
	require.ErrorIs(t, err, natsserver.ErrCredentialsExposed)
	require.ErrorContains(t, err, "chmod 600")
	_, err = natsserver.ReadCredentials(dir)
	require.ErrorIs(t, err, natsserver.ErrCredentialsExposed)

	// A damaged file is reported, never silently replaced.
	require.NoError(t, os.WriteFile(path, []byte(`{"user":"eventline"`), 0o600))
	require.NoError(t, os.Chmod(path, 0o600))
	_, err = natsserver.Start(natsserver.Config{StoreDir: dir, Listen: "127.0.0.1:0"})
	require.ErrorContains(t, err, path)
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	require.Equal(t, `{"user":"eventline"`, string(b))
}
