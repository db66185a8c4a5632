package workflowsync

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/eventline/eventline/domain/workflows"
	"github.com/eventline/eventline/platform/httpapi"
	"github.com/eventline/eventline/projections"
	"github.com/eventline/eventline/projections/syncmodel"
)

// send sends method path with body to base.
func send(t *testing.T, method, url, body string) response {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	require.NoError(t, err)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return response{Status: resp.StatusCode, Header: resp.Header, Body: string(b)}
}

// Issue 26, "Operators act — Customers": PATCH changes the name, base URL,
// client id, secret (write-only: stored encrypted, only "secret_rotated"
// in the log) and limits; DELETE fails the running sync first and deletes
// the customer and its workflows, as events; reads then answer 404.
func TestPatchAndDeleteACustomer(t *testing.T) {
	e := newAPIEnv(t)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	t.Cleanup(func() { cancel(); wg.Wait() })
	wg.Go(func() {
		_ = projections.NewRunner(syncmodel.Spec().Live(), e.store.JetStream(), e.pool,
			projections.Config{BatchWait: 5 * time.Millisecond}, nil, nil).Run(ctx)
	})
	hs := httpapi.NewServer(httpapi.ServerConfig{})
	NewReads(e.pool).WithLog(e.store).WithSchedule(Schedule{Interval: time.Hour, DailyAt: "02:00"}).Mount(hs)
	reads := httptest.NewServer(hs)
	t.Cleanup(reads.Close)

	id := e.createCustomer(t, "acme", "first-secret")
	e.createCustomer(t, "globex", "other-secret")
	r := send(t, "PATCH", e.URL+"/api/customers/"+id,
		`{"name":"Acme Corp","zuora":{"base_url":"https://eu.zuora.test","client_secret":"rotated-secret-42"},"limits":{"max_workflows":5000}}`)
	require.Equal(t, http.StatusOK, r.Status, r.Body)
	require.NotEmpty(t, r.Header.Get("X-Eventline-Seq"))
	var prof customerProfile
	require.NoError(t, json.Unmarshal([]byte(r.Body), &prof))
	require.Equal(t, "Acme Corp", prof.Name)
	require.Equal(t, "https://eu.zuora.test", prof.BaseURL)
	require.Equal(t, "client-acme", prof.ClientID, "unchanged")
	require.Equal(t, int64(5000), *prof.Limits.MaxWorkflows)
	require.Nil(t, prof.Limits.MaxBytes)
	secret, err := e.secrets.Load(ctx, id)
	require.NoError(t, err)
	require.Equal(t, "rotated-secret-42", secret)
	stream := e.streamBytes(t)
	require.NotContains(t, stream, "rotated-secret-42", "the secret is never in the log")
	require.Contains(t, stream, `"secret_rotated":true`)
	require.NotContains(t, r.Body, "rotated-secret-42")

	for _, c := range []struct {
		body, code, field string
		status            int
	}{
		{`{}`, "invalid_field", "body", http.StatusBadRequest},
		{`{"colour":"red"}`, "invalid_field", "colour", http.StatusBadRequest},
		{`{"zuora":{"base_url":"ftp://x"}}`, "invalid_field", "zuora.base_url", http.StatusBadRequest},
		{`{"zuora":{"client_secret":"short"}}`, "invalid_field", "zuora.client_secret", http.StatusBadRequest},
		{`{"limits":{"max_bytes":5}}`, "invalid_field", "limits.max_bytes", http.StatusBadRequest},
		{`{"name":"globex"}`, "customer_exists", "name", http.StatusConflict},
	} {
		r := send(t, "PATCH", e.URL+"/api/customers/"+id, c.body)
		require.Equal(t, c.status, r.Status, "%s: %s", c.body, r.Body)
		code, field := r.errorCode(t)
		require.Equal(t, c.field, field, c.body)
		if c.code != "invalid_field" {
			require.Equal(t, c.code, code, c.body)
		}
	}
	require.Equal(t, http.StatusNotFound, send(t, "PATCH", e.URL+"/api/customers/"+"0190c7e2-0000-7000-8000-000000000000", `{"name":"x"}`).Status)

	var got apiCustomer
	require.Eventually(t, func() bool {
		r := send(t, "GET", reads.URL+"/api/customers/"+id, "")
		return r.Status == http.StatusOK && json.Unmarshal([]byte(r.Body), &got) == nil && got.Name == "Acme Corp"
	}, 10*time.Second, 10*time.Millisecond)
	require.Equal(t, "1h0m0s", got.Schedule.Interval)
	require.NotNil(t, got.Schedule.NextSyncAt)
	require.True(t, got.Schedule.NextSyncAt.After(time.Now()) && got.Schedule.NextSyncAt.Before(time.Now().Add(time.Hour+time.Second)))
	require.Nil(t, got.CredentialsError)

	// Its first sync is still running (no worker here): the deletion fails it first.
	state, _, err := e.customers.Load(ctx, id)
	require.NoError(t, err)
	require.NotNil(t, state.Running)
	first := state.Running.SyncID
	r = send(t, "DELETE", e.URL+"/api/customers/"+id, "")
	require.Equal(t, http.StatusOK, r.Status, r.Body)
	require.JSONEq(t, `{"id":"`+id+`","deleted":true,"cancelled_sync":"`+first+`"}`, r.Body)
	_, err = e.secrets.Load(ctx, id)
	require.ErrorIs(t, err, ErrNoCredentials)
	require.Equal(t, http.StatusNotFound, send(t, "DELETE", e.URL+"/api/customers/"+id, "").Status, "gone")
	require.Eventually(t, func() bool {
		return send(t, "GET", reads.URL+"/api/customers/"+id, "").Status == http.StatusNotFound
	}, 10*time.Second, 10*time.Millisecond)
	r = send(t, "GET", reads.URL+"/api/syncs/"+first, "")
	require.Equal(t, http.StatusOK, r.Status, r.Body)
	require.Contains(t, r.Body, workflows.ReasonCustomerDeleted)
	r = send(t, "GET", reads.URL+"/api/customers", "")
	require.NotContains(t, r.Body, id)
	require.Contains(t, r.Body, "globex")
	require.Equal(t, http.StatusCreated, e.post(t, "/api/customers", customerBody("Acme Corp", "another-secret")).Status,
		"the name is free again")
}
