package eventstore_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/eventline/eventline/eventstore"
	"github.com/eventline/eventline/eventstore/natsserver"
)

// Environment of the child process of TestGroupCommitSurvivesKill9.
const (
	killChildDir = "EVENTLINE_GC_KILL_DIR"
	killWriters  = 64
)

// TestGroupCommitSurvivesKill9 kills a process with an embedded server
// (sync always) and group commit, appending from 64 aggregates at once,
// with kill -9 while its batches are being stored, then restarts a server
// on its store and checks: every append the process acknowledged is
// there at its sequence, no batch is there in part, and no event is there
// twice (each aggregate's events are 0, 1, 2, … with no gap).
func TestGroupCommitSurvivesKill9(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a child process")
	}
	dir := t.TempDir()
	for round := range 3 {
		acked := runKillChild(t, dir, 300+round*200)
		t.Logf("round %d: %d appends acknowledged before kill -9", round, len(acked))
		checkAfterKill(t, dir, acked)
	}
}

type ackedAppend struct {
	subject string
	seq     uint64
	i       int
}

// runKillChild starts the child on dir, reads its acknowledged appends
// until it reported at least n, kills it with SIGKILL and returns them all.
func runKillChild(t *testing.T, dir string, n int) []ackedAppend {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestGroupCommitKillChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), killChildDir+"="+dir)
	out, err := cmd.StdoutPipe()
	require.NoError(t, err)
	cmd.Stderr = os.Stderr
	require.NoError(t, cmd.Start())
	var acked []ackedAppend
	killed := false
	sc := bufio.NewScanner(out)
	deadline := time.AfterFunc(2*time.Minute, func() { _ = cmd.Process.Kill() })
	defer deadline.Stop()
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) != 4 || f[0] != "ACK" {
			continue
		}
		seq, err1 := strconv.ParseUint(f[2], 10, 64)
		i, err2 := strconv.Atoi(f[3])
		require.NoError(t, err1)
		require.NoError(t, err2)
		acked = append(acked, ackedAppend{subject: f[1], seq: seq, i: i})
		if !killed && len(acked) >= n {
			require.NoError(t, cmd.Process.Signal(syscall.SIGKILL))
			killed = true
		}
	}
	err = cmd.Wait()
	require.True(t, killed, "the child ended before it was killed: %v", err)
	return acked
}

// TestGroupCommitKillChild is the child of TestGroupCommitSurvivesKill9:
// it appends until killed, printing each acknowledged append.
func TestGroupCommitKillChild(t *testing.T) {
	dir := os.Getenv(killChildDir)
	if dir == "" {
		t.Skip("run by TestGroupCommitSurvivesKill9")
	}
	srv, err := natsserver.Start(natsserver.Config{StoreDir: dir, Listen: "127.0.0.1:0", SyncAlways: true})
	require.NoError(t, err)
	ctx := context.Background()
	st, err := eventstore.Connect(ctx, eventstore.Options{URL: srv.ClientURL(), Credentials: srv.Credentials(),
		InProcess: srv.InProcess(), GroupCommit: eventstore.GroupCommit{Enabled: true, MaxInFlight: 1, MinBatch: 2}})
	require.NoError(t, err)
	require.NoError(t, st.EnsureStreams(ctx, []eventstore.StreamSpec{groupStream}))
	var mu sync.Mutex
	w := bufio.NewWriter(os.Stdout)
	var wg sync.WaitGroup
	for g := range killWriters {
		wg.Go(func() {
			subject := fmt.Sprintf("group.kill-%d", g)
			stored, last, err := st.Load(ctx, groupStream.Name, subject)
			if err != nil {
				panic(err)
			}
			for i := len(stored); ; i++ {
				env, err := eventstore.NewEnvelope("counter.incremented.v1", map[string]int{"i": i})
				if err != nil {
					panic(err)
				}
				ack, err := st.Append(ctx, subject, last, env)
				if err != nil {
					panic(err)
				}
				last = int64(ack.Seq)
				mu.Lock()
				fmt.Fprintf(w, "ACK %s %d %d\n", subject, ack.Seq, i)
				_ = w.Flush()
				mu.Unlock()
			}
		})
	}
	wg.Wait()
}

// checkAfterKill restarts a server on dir and checks what it stored.
func checkAfterKill(t *testing.T, dir string, acked []ackedAppend) {
	t.Helper()
	srv, err := natsserver.Start(natsserver.Config{StoreDir: dir, Listen: "127.0.0.1:0", SyncAlways: true})
	require.NoError(t, err)
	defer srv.Shutdown()
	ctx := context.Background()
	st, err := eventstore.Connect(ctx, eventstore.Options{URL: srv.ClientURL(), Credentials: srv.Credentials()})
	require.NoError(t, err)
	defer st.Close()
	type stored struct {
		subject string
		i       int
	}
	bySeq := map[uint64]stored{}
	perSubject := map[string][]int{}
	batches := map[string]map[int]bool{} // batch id → its sequences in the batch
	committed := map[string]int{}        // batch id → its size, from the commit
	err = st.Read(ctx, groupStream.Name, eventstore.ReadOptions{FromSeq: 1}, func(ev eventstore.RawEvent) error {
		env, err := eventstore.UnmarshalEnvelope(ev.Data)
		if err != nil {
			return err
		}
		var p struct{ I int }
		if err := json.Unmarshal(env.Data, &p); err != nil {
			return err
		}
		bySeq[ev.Seq] = stored{subject: ev.Subject, i: p.I}
		perSubject[ev.Subject] = append(perSubject[ev.Subject], p.I)
		if id := ev.Header.Get("Nats-Batch-Id"); id != "" {
			bs, err := strconv.Atoi(ev.Header.Get("Nats-Batch-Sequence"))
			if err != nil {
				return err
			}
			if batches[id] == nil {
				batches[id] = map[int]bool{}
			}
			if batches[id][bs] {
				return fmt.Errorf("batch %s message %d stored twice", id, bs)
			}
			batches[id][bs] = true
			if ev.Header.Get("Nats-Batch-Commit") != "" {
				committed[id] = bs
			}
		}
		return nil
	})
	require.NoError(t, err)
	for _, a := range acked {
		got, ok := bySeq[a.seq]
		require.True(t, ok, "acknowledged append %s #%d (event %d) lost", a.subject, a.seq, a.i)
		require.Equal(t, stored{a.subject, a.i}, got, "acknowledged append at #%d", a.seq)
	}
	for subject, is := range perSubject {
		for k, i := range is {
			require.Equal(t, k, i, "%s: events %v: one missing or twice", subject, is)
		}
	}
	for id, seqs := range batches {
		n, ok := committed[id]
		require.True(t, ok, "batch %s stored without its commit (%d messages)", id, len(seqs))
		require.Len(t, seqs, n, "batch %s stored in part", id)
	}
	t.Logf("after restart: %d events on %d subjects, %d batches, all whole", len(bySeq), len(perSubject), len(batches))
}
