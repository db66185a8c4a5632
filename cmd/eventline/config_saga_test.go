package main

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// Saga retry delays and timeouts below one second are allowed (issue 26);
// below a millisecond, or zero, they are refused.
func TestSagaDurationsBelowOneSecond(t *testing.T) {
	env := map[string]string{"EVENTLINE_SAGA_RETRY_DELAY": "50ms", "EVENTLINE_SAGA_STEP_TIMEOUT": "800ms",
		"EVENTLINE_SAGA_COMPENSATION_TIMEOUT": "900ms"}
	c, err := loadConfig(func(k string) string { return env[k] })
	require.NoError(t, err)
	require.NoError(t, c.Validate())
	p := c.sagaPolicy()
	require.Equal(t, 50*time.Millisecond, p.FirstDelay)
	require.Equal(t, 800*time.Millisecond, p.AttemptTimeout)
	require.Equal(t, 900*time.Millisecond, p.CompensationTimeout)

	env = map[string]string{"EVENTLINE_SAGA_RETRY_DELAY": "500us", "EVENTLINE_SAGA_STEP_TIMEOUT": "0s"}
	c, err = loadConfig(func(k string) string { return env[k] })
	require.NoError(t, err)
	err = c.Validate()
	require.ErrorContains(t, err, "EVENTLINE_SAGA_RETRY_DELAY 500µs: must be 1ms..168h0m0s")
	require.ErrorContains(t, err, "EVENTLINE_SAGA_STEP_TIMEOUT 0s: must be 1ms..168h0m0s")
}
