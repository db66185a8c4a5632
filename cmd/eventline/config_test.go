package main

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestConfigDefaultsAndEnvironment(t *testing.T) {
	c, err := loadConfig(func(string) string { return "" })
	require.NoError(t, err)
	require.NoError(t, c.Validate())
	require.Equal(t, "127.0.0.1:8080", c.HTTPAddr)
	require.Equal(t, "./data", c.DataDir)
	require.Equal(t, "interval", c.NATSSync)
	require.Equal(t, knownRoles, c.Roles)
	require.Equal(t, "nats://127.0.0.1:4222", c.natsClientURL())

	env := map[string]string{"EVENTLINE_ROLES": "api, projector", "NATS_URL": "nats://a:4222,nats://b:4222", "EVENTLINE_NATS_SYNC": "always"}
	c, err = loadConfig(func(k string) string { return env[k] })
	require.NoError(t, err)
	require.NoError(t, c.Validate())
	require.Equal(t, []string{"api", "projector"}, c.Roles)
	require.Equal(t, "nats://a:4222,nats://b:4222", c.natsClientURL())
}

func TestConfigReportsEveryProblemAtOnce(t *testing.T) {
	env := map[string]string{
		"EVENTLINE_HTTP_ADDR": "nonsense", "EVENTLINE_NATS_SYNC": "sometimes", "EVENTLINE_ROLES": "api,cook",
		"EVENTLINE_PROJECTION_BATCH": "0",
	}
	c, err := loadConfig(func(k string) string { return env[k] })
	require.NoError(t, err)
	err = c.Validate()
	require.Error(t, err)
	for _, want := range []string{"EVENTLINE_HTTP_ADDR", "EVENTLINE_NATS_SYNC", `unknown role "cook"`, "EVENTLINE_PROJECTION_BATCH"} {
		require.Contains(t, err.Error(), want)
	}
	_, err = loadConfig(func(k string) string {
		return map[string]string{"EVENTLINE_PROJECTION_WAIT": "soon"}[k]
	})
	require.ErrorContains(t, err, "EVENTLINE_PROJECTION_WAIT")
}
