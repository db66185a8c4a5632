package main

import (
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// make run's demo profile (the Makefile's demo-profile target) makes
// tok_flaky and tok_slow finish in seconds: with the contract's defaults
// (300 s step timeout, 60 s retry delay) tok_slow takes six minutes.
func TestDemoProfileFinishesSlowAndFlakyInSeconds(t *testing.T) {
	out, err := exec.Command("make", "-s", "-C", "../..", "demo-profile").Output()
	require.NoError(t, err)
	env := map[string]string{}
	for _, line := range strings.Fields(string(out)) {
		k, v, ok := strings.Cut(line, "=")
		require.True(t, ok, line)
		env[k] = v
	}
	require.Contains(t, env, "EVENTLINE_SAGA_STEP_TIMEOUT")
	require.Contains(t, env, "EVENTLINE_SAGA_RETRY_DELAY")
	s := startServe(t, env)
	c := newSagaClient(s.URL)
	user := c.user(t, "Ada", "ada@example.com")
	product := c.product(t, "Lamp", 10)
	slow := c.mustOrder(t, orderBody(user, "tok_slow", orderItem{ProductID: product, Quantity: 1}))
	flaky := c.mustOrder(t, orderBody(user, "tok_flaky", orderItem{ProductID: product, Quantity: 1}))
	for _, id := range []string{slow.SagaID, flaky.SagaID} {
		v, err := c.waitSaga(id, 20*time.Second)
		require.NoError(t, err)
		require.Equal(t, "completed", v.Status, id)
	}
}
