package main

import (
	"flag"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestProcessIDDefaultsToHostAndPid(t *testing.T) {
	c := defaultConfig()
	require.NoError(t, c.Validate())
	require.True(t, strings.HasSuffix(c.ProcessID, "-"+strconv.Itoa(os.Getpid())), c.ProcessID)
	require.NotContains(t, c.ProcessID, ".", "the short hostname")
	require.LessOrEqual(t, len(c.ProcessID), 64)
}

func TestProcessIDFromEnvironmentAndFlag(t *testing.T) {
	tests := []struct {
		name    string
		env     string
		args    []string
		want    string
		wantErr bool
	}{
		{name: "environment", env: "api-1", want: "api-1"},
		{name: "flag wins", env: "api-1", args: []string{"--process-id", "saga_2"}, want: "saga_2"},
		{name: "64 characters", env: strings.Repeat("a", 64), want: strings.Repeat("a", 64)},
		{name: "too long", env: strings.Repeat("a", 65), want: strings.Repeat("a", 65), wantErr: true},
		{name: "dot", env: "host.example", want: "host.example", wantErr: true},
		{name: "wildcard", env: "p*", want: "p*", wantErr: true},
		{name: "space", args: []string{"--process-id", "a b"}, want: "a b", wantErr: true},
		{name: "empty flag", args: []string{"--process-id="}, want: "", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := loadConfig(func(k string) string {
				return map[string]string{"EVENTLINE_PROCESS_ID": tt.env}[k]
			})
			require.NoError(t, err)
			fs := flag.NewFlagSet("serve", flag.ContinueOnError)
			c.bindFlags(fs)
			require.NoError(t, fs.Parse(tt.args))
			require.Equal(t, tt.want, c.ProcessID)
			if tt.wantErr {
				require.ErrorContains(t, c.Validate(), "EVENTLINE_PROCESS_ID")
			} else {
				require.NoError(t, c.Validate())
			}
		})
	}
}
