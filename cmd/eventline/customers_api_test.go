package main

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/eventline/eventline/handlers/workflowsync"
	"github.com/eventline/eventline/internal/testenv"
)

// TestServeCustomersAPIAndSecretKey: serve mounts the customers writes,
// generates the secret key into the data dir (0600) on first start, and
// refuses to start with a key that does not open the stored secrets.
func TestServeCustomersAPIAndSecretKey(t *testing.T) {
	db := testenv.Postgres(t)
	dataDir := t.TempDir()
	env := map[string]string{"DATABASE_URL": db, "EVENTLINE_DATA_DIR": dataDir}
	s := startServe(t, env)

	const secret = "serve-secret-7d1e"
	body, _ := json.Marshal(map[string]any{"name": "acme", "zuora": map[string]string{
		"base_url": "http://127.0.0.1:1", "client_id": "acme-client", "client_secret": secret}})
	var created struct {
		ID string `json:"id"`
	}
	resp := call(t, http.MethodPost, s.URL+"/api/customers", "application/json", body, nil, &created)
	require.Equal(t, http.StatusCreated, resp.StatusCode)
	require.NotEmpty(t, resp.Header.Get("X-Eventline-Seq"))
	var conflict apiError
	resp = call(t, http.MethodPost, s.URL+"/api/customers", "application/json", body, nil, &conflict)
	require.Equal(t, http.StatusConflict, resp.StatusCode)
	require.Equal(t, "customer_exists", conflict.Error.Code)

	fi, err := os.Stat(filepath.Join(dataDir, workflowsync.KeyFileName))
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o600), fi.Mode().Perm())
	s.stop(t)
	require.NotContains(t, s.stderr.String(), secret)

	env["EVENTLINE_SECRET_KEY"] = base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{5}, workflowsync.KeySize))
	env["EVENTLINE_HTTP_ADDR"], env["EVENTLINE_NATS_LISTEN"] = "127.0.0.1:0", "127.0.0.1:0"
	_, errOut, err := runCLI(t, env, "serve")
	require.ErrorContains(t, err, "secret key does not match the one the secrets were stored with")
	require.NotContains(t, errOut, secret)
}
