package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/eventline/eventline/internal/testenv"
	"github.com/eventline/eventline/platform/dashboard"
	"github.com/eventline/eventline/platform/httpapi"
	"github.com/eventline/eventline/platform/opsapi"
	"github.com/eventline/eventline/platform/opsdash"
	"github.com/eventline/eventline/projections"
)

// TestStreamsShowReplicasLeaderAndLagOnACluster runs `eventline streams`
// against a 3-node cluster: each stream's replica count and leader, and
// each replica's state, before and after a follower's server is killed.
func TestStreamsShowReplicasLeaderAndLagOnACluster(t *testing.T) {
	c := testenv.StartCluster(t, 3)
	nc, err := nats.Connect(c.URL())
	require.NoError(t, err)
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for _, cfg := range []jetstream.StreamConfig{
		{Name: "R3TEST", Subjects: []string{"r3.>"}, Replicas: 3},
		{Name: "R1TEST", Subjects: []string{"r1.>"}, Replicas: 1},
	} {
		_, err := js.CreateStream(ctx, cfg)
		require.NoError(t, err)
	}
	for i := range 5 {
		_, err := js.Publish(ctx, fmt.Sprintf("r3.%d", i), []byte("x"))
		require.NoError(t, err)
	}
	vars := map[string]string{"NATS_URL": c.URL(), "EVENTLINE_DATA_DIR": t.TempDir()}

	// streams reads `eventline streams --json`, by name.
	streams := func() (map[string]opsapi.StreamView, error) {
		out, errOut, err := runCLI(t, vars, "streams", "--json")
		if err != nil {
			return nil, fmt.Errorf("%w: %s", err, errOut)
		}
		var got struct {
			Streams []opsapi.StreamView `json:"streams"`
		}
		if err := json.Unmarshal([]byte(out), &got); err != nil {
			return nil, fmt.Errorf("%w: %s", err, out)
		}
		byName := map[string]opsapi.StreamView{}
		for _, s := range got.Streams {
			byName[s.Name] = s
		}
		return byName, nil
	}
	peer := func(s opsapi.StreamView, name string) (opsapi.ReplicaView, bool) {
		for _, p := range s.Peers {
			if p.Name == name {
				return p, true
			}
		}
		return opsapi.ReplicaView{}, false
	}

	var (
		r3      opsapi.StreamView
		lastErr error
	)
	leader := -1
	require.Eventually(t, func() bool {
		all, err := streams()
		if lastErr = err; err != nil {
			return false
		}
		r3, leader = all["R3TEST"], c.StreamLeader("R3TEST")
		if leader < 0 || r3.Leader != c.Name(leader) || len(r3.Peers) != 3 {
			return false
		}
		for _, p := range r3.Peers {
			if !p.Current || p.Offline {
				return false
			}
		}
		return true
	}, 30*time.Second, 100*time.Millisecond, "R3TEST: a leader and three current replicas")
	require.NoError(t, lastErr)
	require.Equal(t, 3, r3.Replicas)
	require.Equal(t, testenv.ClusterName, r3.Cluster)
	require.NotNil(t, r3.LeaderSince)
	require.True(t, r3.Peers[0].Leader, "the leader comes first")
	require.Equal(t, r3.Leader, r3.Peers[0].Name)
	require.Equal(t, uint64(5), r3.LastSeq)
	for i := range c.Size() {
		_, ok := peer(r3, c.Name(i))
		require.True(t, ok, "every server holds a replica: %s", c.Name(i))
	}
	all, err := streams()
	require.NoError(t, err)
	r1 := all["R1TEST"]
	require.Equal(t, 1, r1.Replicas)
	require.Len(t, r1.Peers, 1)
	require.NotEmpty(t, r1.Leader)
	require.Equal(t, r1.Leader, r1.Peers[0].Name)

	out, errOut, err := runCLI(t, vars, "streams")
	require.NoError(t, err, errOut)
	require.Contains(t, out, "REPLICAS  LEADER")
	require.Regexp(t, `(?m)^R3TEST\s.*\s3\s+n\d$`, out)
	require.Regexp(t, `(?m)^STREAM\s+REPLICA\s+ROLE\s+STATE\s+LAST SEEN\s+LAG$`, out)
	require.Regexp(t, `(?m)^R3TEST\s+`+r3.Leader+`\s+leader\s+current\s+-\s+-$`, out)
	require.Equal(t, 2, strings.Count(out, "follower  current"), out)

	// A follower's server goes away: the leader reports its replica offline.
	follower, other := (leader+1)%c.Size(), (leader+2)%c.Size()
	c.Kill(follower)
	// Only the live servers: another test may take the killed one's port.
	vars["NATS_URL"] = c.NodeURL(leader) + "," + c.NodeURL(other)
	require.NoError(t, c.WaitReady(ctx), "the two others go on as a cluster")
	require.Eventually(t, func() bool {
		all, err := streams()
		if lastErr = err; err != nil {
			return false // an election under way after the kill
		}
		r3 = all["R3TEST"]
		p, ok := peer(r3, c.Name(follower))
		return ok && p.Offline && r3.Leader != "" && r3.Leader != c.Name(follower)
	}, 30*time.Second, 100*time.Millisecond, "the killed follower %s shown offline", c.Name(follower))
	require.Len(t, r3.Peers, 3)
	out, errOut, err = runCLI(t, vars, "streams")
	require.NoError(t, err, errOut)
	require.Regexp(t, `(?m)^R3TEST\s+`+c.Name(follower)+`\s+follower\s+offline\s+\S+ ago\s+\d+$`, out)

	// The dashboard's /streams page shows the same.
	lnc, err := nats.Connect(vars["NATS_URL"])
	require.NoError(t, err)
	t.Cleanup(lnc.Close)
	ljs, err := jetstream.New(lnc)
	require.NoError(t, err)
	d, err := dashboard.New(dashboard.Config{})
	require.NoError(t, err)
	opsdash.Mount(d, opsapi.NewInspector(ljs, nil, projections.NewRegistry()))
	srv := httpapi.NewServer(httpapi.ServerConfig{})
	d.Mount(srv)
	ts := httptest.NewServer(srv)
	t.Cleanup(ts.Close)
	resp, err := http.Get(ts.URL + opsdash.StreamsPath)
	require.NoError(t, err)
	page := readAll(resp)
	resp.Body.Close()
	require.Contains(t, page, "3 · leader <code>"+r3.Leader+"</code>")
	require.Regexp(t, `<code>`+c.Name(follower)+`</code> <span class="badge error">offline</span>`, page)
}
