package workflowsync

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"
)

func TestParseKey(t *testing.T) {
	key := bytes.Repeat([]byte{0xfb}, KeySize)
	tests := []struct {
		name, in string
		ok       bool
	}{
		{"standard", base64.StdEncoding.EncodeToString(key), true},
		{"url alphabet", base64.URLEncoding.EncodeToString(key), true},
		{"unpadded with a newline", base64.RawStdEncoding.EncodeToString(key) + "\n", true},
		{"16 bytes", base64.StdEncoding.EncodeToString(key[:16]), false},
		{"not base64", "this is not a key", false},
		{"empty", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k, err := ParseKey(tt.in)
			if !tt.ok {
				require.ErrorIs(t, err, ErrBadKey)
				return
			}
			require.NoError(t, err)
			require.Equal(t, key, k)
		})
	}
}

func TestLoadKeyGeneratesOnceIntoTheDataDir(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	k1, err := LoadKey("", dir)
	require.NoError(t, err)
	require.Len(t, k1, KeySize)
	fi, err := os.Stat(filepath.Join(dir, KeyFileName))
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o600), fi.Mode().Perm())

	k2, err := LoadKey("", dir)
	require.NoError(t, err)
	require.Equal(t, k1, k2, "the generated key is kept, never regenerated")

	env := base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{1}, KeySize))
	k3, err := LoadKey(env, dir)
	require.NoError(t, err)
	require.Equal(t, bytes.Repeat([]byte{1}, KeySize), k3, "EVENTLINE_SECRET_KEY wins over the file")

	_, err = LoadKey("short", dir)
	require.ErrorIs(t, err, ErrBadKey)
	require.NotContains(t, err.Error(), "short", "the value is never shown")

	_, err = LoadKey("", "")
	require.ErrorContains(t, err, "EVENTLINE_SECRET_KEY")
}

func TestLoadKeyRefusesADamagedKeyFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, KeyFileName)
	require.NoError(t, os.WriteFile(path, []byte("garbage"), 0o600))
	_, err := LoadKey("", dir)
	require.ErrorIs(t, err, ErrBadKey)
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	require.Equal(t, "garbage", string(b), "a damaged key file is never replaced")
}

func TestSecretsRoundTripAndWrongKey(t *testing.T) {
	ctx := context.Background()
	pool := newPool(t)
	s, err := NewSecrets(pool, testKey)
	require.NoError(t, err)
	id, other := uuid.NewString(), uuid.NewString()
	const secret = "s3cr3t-RoundTrip-0bb1"

	require.NoError(t, s.Check(ctx), "nothing stored: nothing to check")
	inserted, err := s.Store(ctx, id, "acme", secret)
	require.NoError(t, err)
	require.True(t, inserted)
	got, err := s.Load(ctx, id)
	require.NoError(t, err)
	require.Equal(t, secret, got)
	require.NoError(t, s.Check(ctx))

	var stored []byte
	require.NoError(t, pool.QueryRow(ctx, `SELECT secret FROM customer_credentials WHERE customer_id = $1`, id).Scan(&stored))
	require.NotContains(t, string(stored), secret, "encrypted at rest")

	inserted, err = s.Store(ctx, id, "acme", secret)
	require.NoError(t, err, "a retry with the same customer id")
	require.False(t, inserted)
	_, err = s.Store(ctx, other, "acme", secret)
	require.ErrorIs(t, err, ErrNameTaken)

	_, err = s.Load(ctx, other)
	require.ErrorIs(t, err, ErrNoCredentials)
	_, err = s.Load(ctx, "not-a-uuid")
	require.ErrorIs(t, err, ErrNoCredentials)

	wrong, err := NewSecrets(pool, bytes.Repeat([]byte{8}, KeySize))
	require.NoError(t, err)
	_, err = wrong.Load(ctx, id)
	require.ErrorIs(t, err, ErrWrongKey)
	require.ErrorContains(t, err, "secret key does not match the one the secrets were stored with")
	require.NotContains(t, err.Error(), secret)
	require.ErrorIs(t, wrong.Check(ctx), ErrWrongKey)

	// A row moved onto another customer does not open: the id is bound in.
	_, err = pool.Exec(ctx, `UPDATE customer_credentials SET customer_id = $1 WHERE customer_id = $2`, other, id)
	require.NoError(t, err)
	_, err = s.Load(ctx, other)
	require.ErrorIs(t, err, ErrWrongKey)

	require.NoError(t, s.Delete(ctx, other))
	_, err = s.Load(ctx, other)
	require.ErrorIs(t, err, ErrNoCredentials)
}

func TestLookupCustomers(t *testing.T) {
	ctx := context.Background()
	pool := newPool(t)
	s, err := NewSecrets(pool, testKey)
	require.NoError(t, err)
	ids := map[string]string{}
	for _, name := range []string{"globex", "acme", "initech"} {
		ids[name] = uuid.NewString()
		_, err := s.Store(ctx, ids[name], name, "x")
		require.NoError(t, err)
	}
	all, err := LookupCustomers(ctx, pool, nil)
	require.NoError(t, err)
	require.Equal(t, []Customer{{ids["acme"], "acme"}, {ids["globex"], "globex"}, {ids["initech"], "initech"}}, all)
	some, err := LookupCustomers(ctx, pool, []string{"initech", "nobody"})
	require.NoError(t, err)
	require.Equal(t, []Customer{{ids["initech"], "initech"}}, some)
}

func TestNewCustomerRedactsTheSecret(t *testing.T) {
	c, err := decodeCustomer([]byte(customerBody("acme", "hunter2-secret")))
	require.NoError(t, err)
	var buf bytes.Buffer
	slog.New(slog.NewTextHandler(&buf, nil)).Info("creating", "customer", c)
	for _, s := range []string{buf.String(), fmt.Sprint(c), fmt.Sprintf("%v %+v %s", c, c, c)} {
		require.NotContains(t, s, "hunter2-secret")
		require.Contains(t, s, "acme")
	}
}
