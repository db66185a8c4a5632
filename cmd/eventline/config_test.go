package main

import (
	"flag"
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
	require.Equal(t, 1, c.StreamReplicas)
	require.Equal(t, knownRoles, c.Roles)
	require.Equal(t, "nats://127.0.0.1:4222", c.natsClientURL())

	env := map[string]string{"EVENTLINE_ROLES": "api, projector", "NATS_URL": "nats://a:4222,nats://b:4222", "EVENTLINE_NATS_SYNC": "always", "EVENTLINE_STREAM_REPLICAS": "3"}
	c, err = loadConfig(func(k string) string { return env[k] })
	require.NoError(t, err)
	require.NoError(t, c.Validate())
	require.Equal(t, []string{"api", "projector"}, c.Roles)
	require.Equal(t, 3, c.StreamReplicas)
	require.Equal(t, "nats://a:4222,nats://b:4222", c.natsClientURL())
}

func TestConfigReportsEveryProblemAtOnce(t *testing.T) {
	env := map[string]string{
		"EVENTLINE_HTTP_ADDR": "nonsense", "EVENTLINE_NATS_SYNC": "sometimes", "EVENTLINE_ROLES": "api,cook",
		"EVENTLINE_PROJECTION_BATCH": "0", "EVENTLINE_STREAM_REPLICAS": "7",
	}
	c, err := loadConfig(func(k string) string { return env[k] })
	require.NoError(t, err)
	err = c.Validate()
	require.Error(t, err)
	for _, want := range []string{"EVENTLINE_HTTP_ADDR", "EVENTLINE_NATS_SYNC", `unknown role "cook"`, "EVENTLINE_PROJECTION_BATCH", "EVENTLINE_STREAM_REPLICAS 7: must be 1..5"} {
		require.Contains(t, err.Error(), want)
	}
	_, err = loadConfig(func(k string) string {
		return map[string]string{"EVENTLINE_PROJECTION_WAIT": "soon"}[k]
	})
	require.ErrorContains(t, err, "EVENTLINE_PROJECTION_WAIT")
	c, err = loadConfig(func(k string) string {
		return map[string]string{"EVENTLINE_PROJECTION_WAIT_IN_PLACE": "-1s"}[k]
	})
	require.NoError(t, err)
	require.ErrorContains(t, c.Validate(), "EVENTLINE_PROJECTION_WAIT_IN_PLACE -1s: must be positive")
	_, err = loadConfig(func(k string) string {
		return map[string]string{"EVENTLINE_STREAM_REPLICAS": "three"}[k]
	})
	require.ErrorContains(t, err, "EVENTLINE_STREAM_REPLICAS")
}

func TestStreamReplicasFlag(t *testing.T) {
	tests := []struct {
		args    []string
		want    int
		wantErr bool
	}{
		{nil, 1, false},
		{[]string{"--stream-replicas", "3"}, 3, false},
		{[]string{"--stream-replicas", "0"}, 0, true},
		{[]string{"--stream-replicas=6"}, 6, true},
	}
	for _, tt := range tests {
		c := defaultConfig()
		fs := flag.NewFlagSet("serve", flag.ContinueOnError)
		c.bindFlags(fs)
		require.NoError(t, fs.Parse(tt.args))
		require.Equal(t, tt.want, c.StreamReplicas)
		if tt.wantErr {
			require.ErrorContains(t, c.Validate(), "EVENTLINE_STREAM_REPLICAS")
		} else {
			require.NoError(t, c.Validate())
		}
	}
}
