package main

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/eventline/eventline/platform/opsapi"
)

func TestPrintStreams(t *testing.T) {
	last := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	single := opsapi.StreamView{Name: "LOGS", Subjects: []string{"logs.>"}, Messages: 12, Bytes: 2048, FirstSeq: 1,
		LastSeq: 12, Consumers: 1, LastTime: &last, Replicas: 1, Leader: "srv",
		Peers: []opsapi.ReplicaView{{Name: "srv", Leader: true, Current: true}}}
	replicated := opsapi.StreamView{Name: "SAGAS", Subjects: []string{"saga.*"}, Messages: 3, Bytes: 300, FirstSeq: 1,
		LastSeq: 3, Replicas: 3, Cluster: "c", Leader: "n2", Peers: []opsapi.ReplicaView{
			{Name: "n2", Leader: true, Current: true},
			{Name: "n1", Current: true, ActiveSeconds: 0.25},
			{Name: "n3", Offline: true, ActiveSeconds: 12.34, Lag: 7},
		}}
	behind := opsapi.StreamView{Name: "ORDERS", Subjects: []string{"order.*"}, Replicas: 3, Leader: "n1",
		Peers: []opsapi.ReplicaView{{Name: "n1", Leader: true, Current: true}, {Name: "n2", ActiveSeconds: 1.5, Lag: 40}}}
	leaderless := opsapi.StreamView{Name: "TIMERS", Subjects: []string{}, Peers: []opsapi.ReplicaView{},
		Unavailable: "no leader answered: quorum lost or an election under way"}

	tests := []struct {
		name    string
		streams []opsapi.StreamView
		want    string
	}{
		{
			name:    "single server: one replica, the server leads, no replica table",
			streams: []opsapi.StreamView{single},
			want: `
STREAM  SUBJECTS  MESSAGES  BYTES    FIRST SEQ  LAST SEQ  DELETED  CONSUMERS  LAST MESSAGE          REPLICAS  LEADER
LOGS    logs.>    12        2.0 KiB  1          12        0        1          2026-03-01 12:00:00Z  1         srv
`,
		},
		{
			name:    "cluster: leader, followers current, catching up, offline; a stream without a leader",
			streams: []opsapi.StreamView{behind, replicated, leaderless},
			want: `
STREAM  SUBJECTS  MESSAGES  BYTES  FIRST SEQ  LAST SEQ  DELETED  CONSUMERS  LAST MESSAGE  REPLICAS  LEADER
ORDERS  order.*   0         0 B    0          0         0        0          -             3         n1
SAGAS   saga.*    3         300 B  1          3         0        0          -             3         n2
TIMERS  -         -         -      -          -         -        -          -             -         (none)

STREAM  REPLICA  ROLE      STATE        LAST SEEN  LAG
ORDERS  n1       leader    current      -          -
ORDERS  n2       follower  catching up  1.5s ago   40
SAGAS   n2       leader    current      -          -
SAGAS   n1       follower  current      250ms ago  0
SAGAS   n3       follower  offline      12.3s ago  7
TIMERS  -        -         no leader    -          -
`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b strings.Builder
			require.NoError(t, printStreams(&b, tt.streams))
			require.Equal(t, strings.TrimPrefix(tt.want, "\n"), b.String())
		})
	}
}
