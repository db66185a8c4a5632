package eventstore_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/nats-io/jwt/v2"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nkeys"
	"github.com/stretchr/testify/require"

	"github.com/eventline/eventline/eventstore"
	"github.com/eventline/eventline/internal/testenv"
)

// TestConnectAuthenticated: Connect reaches servers that need a user and
// password or a token in the URL, or a credentials file, and its errors
// never show the secret.
func TestConnectAuthenticated(t *testing.T) {
	userSrv := testenv.PlainNATS(t, &server.Options{Username: "app", Password: "s3cret-pass"})
	tokenSrv := testenv.PlainNATS(t, &server.Options{Authorization: "s3cret-token"})
	embedded := testenv.NATS(t)
	creds := embedded.Credentials()
	credsURL, credsFile := operatorServer(t)
	tests := []struct {
		name    string
		opts    eventstore.Options
		wantErr bool
	}{
		{"user and password in the URL", eventstore.Options{URL: "nats://app:s3cret-pass@" + userSrv}, false},
		{"token in the URL", eventstore.Options{URL: "nats://s3cret-token@" + tokenSrv}, false},
		{"credentials file", eventstore.Options{URL: credsURL, Credentials: eventstore.Credentials{File: credsFile}}, false},
		{"embedded user and password", eventstore.Options{URL: "nats://" + embedded.Addr(), Credentials: creds}, false},
		{"embedded client URL", eventstore.Options{URL: embedded.ClientURL()}, false},
		{"wrong password", eventstore.Options{URL: "nats://app:s3cret-wrong@" + userSrv}, true},
		{"wrong token", eventstore.Options{URL: "nats://s3cret-wrong@" + tokenSrv}, true},
		{"no credentials", eventstore.Options{URL: "nats://" + userSrv}, true},
		{"no credentials file", eventstore.Options{URL: credsURL}, true},
		{"wrong embedded password", eventstore.Options{URL: "nats://" + embedded.Addr(), Credentials: eventstore.Credentials{User: creds.User, Password: "s3cret-wrong"}}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.opts.FailFast = true
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			st, err := eventstore.Connect(ctx, tt.opts)
			if tt.wantErr {
				require.ErrorIs(t, err, nats.ErrAuthorization)
				require.NotContains(t, err.Error(), "s3cret")
				return
			}
			require.NoError(t, err)
			defer st.Close()
			require.NoError(t, st.EnsureStreams(ctx, testenv.Streams))
			require.NoError(t, st.Ping(ctx))
		})
	}
}

// TestConnectErrorsHideSecrets: a URL nats.go cannot parse is reported
// without the password in it.
func TestConnectErrorsHideSecrets(t *testing.T) {
	for _, u := range []string{"nats://app:s3cr%zzet@127.0.0.1:1", "nats://app:s3cret@127.0.0.1:1,nats://s3cret@[::1"} {
		_, err := eventstore.Connect(context.Background(), eventstore.Options{URL: u, FailFast: true})
		require.Error(t, err)
		require.NotContains(t, err.Error(), "s3cr")
	}
}

func TestRedactURL(t *testing.T) {
	for in, want := range map[string]string{
		"nats://127.0.0.1:4222":                       "nats://127.0.0.1:4222",
		"nats://app:s3cret@h:4222":                    "nats://app:xxxxx@h:4222",
		"nats://s3cret@h:4222":                        "nats://xxxxx@h:4222",
		"nats://a:s3cret@h1:4222, nats://s3cret@h2:1": "nats://a:xxxxx@h1:4222,nats://xxxxx@h2:1",
		"app:s3cret@h:4222":                           "xxxxx@h:4222",
		"nats://app:s3cr%zzet@h:4222":                 "xxxxx@h:4222",
		"tls://app:p%40ss@h:4222":                     "tls://app:xxxxx@h:4222",
	} {
		require.Equal(t, want, eventstore.RedactURL(in), in)
	}
}

// operatorServer starts a nats-server in operator (JWT) mode with one
// JetStream-enabled account, and returns its URL and a standard credentials
// file (user JWT and nkey seed) for a user of that account.
func operatorServer(t *testing.T) (string, string) {
	t.Helper()
	okp, err := nkeys.CreateOperator()
	require.NoError(t, err)
	opub, err := okp.PublicKey()
	require.NoError(t, err)
	account := func(name string, js bool) (nkeys.KeyPair, string, string) {
		kp, err := nkeys.CreateAccount()
		require.NoError(t, err)
		pub, err := kp.PublicKey()
		require.NoError(t, err)
		ac := jwt.NewAccountClaims(pub)
		ac.Name = name
		if js {
			ac.Limits.JetStreamLimits = jwt.JetStreamLimits{MemoryStorage: -1, DiskStorage: -1, Streams: -1, Consumer: -1}
		}
		token, err := ac.Encode(okp)
		require.NoError(t, err)
		return kp, pub, token
	}
	_, sysPub, sysJWT := account("SYS", false)
	appKP, appPub, appJWT := account("APP", true)
	oc := jwt.NewOperatorClaims(opub)
	oc.Name = "test"
	oc.SystemAccount = sysPub
	_, err = oc.Encode(okp)
	require.NoError(t, err)

	ukp, err := nkeys.CreateUser()
	require.NoError(t, err)
	upub, err := ukp.PublicKey()
	require.NoError(t, err)
	uc := jwt.NewUserClaims(upub)
	uc.Name = "app"
	ujwt, err := uc.Encode(appKP)
	require.NoError(t, err)
	seed, err := ukp.Seed()
	require.NoError(t, err)
	creds, err := jwt.FormatUserConfig(ujwt, seed)
	require.NoError(t, err)
	file := filepath.Join(t.TempDir(), "app.creds")
	require.NoError(t, os.WriteFile(file, creds, 0o600))

	resolver := &server.MemAccResolver{}
	require.NoError(t, resolver.Store(sysPub, sysJWT))
	require.NoError(t, resolver.Store(appPub, appJWT))
	addr := testenv.PlainNATS(t, &server.Options{
		TrustedOperators: []*jwt.OperatorClaims{oc}, AccountResolver: resolver, SystemAccount: sysPub,
	})
	return "nats://" + addr, file
}
