package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/eventline/eventline/domain/saga"
	"github.com/eventline/eventline/projections/sagamodel"
)

// nodeFault is a NATS node (the leader of the SAGAS stream) killed under
// the placer's load, then started again.
type nodeFault struct {
	Node string
	// Elected runs from the kill until another server leads SAGAS.
	Elected time.Duration
	// Posts, Failed: orders posted from the kill until 3 s after the
	// node rejoined, and how many failed; MaxPost is the slowest answer
	// among them, FirstErr the first failure.
	Posts, Failed int
	MaxPost       time.Duration
	FirstErr      string
	// Rejoined runs from the restart until the cluster has formed again.
	Rejoined time.Duration
	Err      string
}

// pgFault is PostgreSQL stopped under the placer's load, then started.
type pgFault struct {
	Down time.Duration
	// Posts, Failed, MaxPost, FirstErr: the orders posted from the stop
	// until a second after the read model caught up.
	Posts, Failed int
	MaxPost       time.Duration
	FirstErr      string
	// Ready runs from PostgreSQL's start until p1's /readyz says "ok"
	// again; CaughtUp until the sagas read model has every SAGAS event
	// appended before the start.
	Ready, CaughtUp time.Duration
	Err             string
}

// killNode kills the server that leads SAGAS for down, then restarts it.
func (e *env) killNode(ctx context.Context, pl *placer, down time.Duration) nodeFault {
	var f nodeFault
	i := e.cluster.StreamLeader(saga.Stream)
	if i < 0 {
		f.Err = "no leader of SAGAS"
		return f
	}
	f.Node = e.cluster.Name(i)
	killed := time.Now()
	e.cluster.Kill(i)
	for time.Since(killed) < 30*time.Second {
		if j := e.cluster.StreamLeader(saga.Stream); j >= 0 {
			f.Elected = time.Since(killed)
			break
		}
		sleep(ctx, 20*time.Millisecond)
	}
	sleep(ctx, down-time.Since(killed))
	restarted := time.Now()
	if err := e.cluster.Restart(ctx, i); err != nil {
		f.Err = err.Error()
	} else {
		f.Rejoined = time.Since(restarted)
	}
	sleep(ctx, 3*time.Second)
	f.Posts, f.Failed, f.MaxPost, f.FirstErr = summarizePosts(pl.postsBetween(killed, time.Now()))
	return f
}

// summarizePosts counts posts and failures and finds the slowest answer.
func summarizePosts(posts []post) (n, failed int, slowest time.Duration, firstErr string) {
	for _, p := range posts {
		n++
		slowest = max(slowest, p.took)
		if p.failed {
			failed++
			if firstErr == "" {
				firstErr = p.err
			}
		}
	}
	return n, failed, slowest, firstErr
}

// stopPostgres stops PostgreSQL for down under the placer's load, starts
// it again and measures how long p1 and the sagas read model take to
// recover.
func (e *env) stopPostgres(ctx context.Context, pl *placer, down time.Duration) (f pgFault) {
	f = pgFault{Down: down}
	stopped := time.Now()
	if err := e.pg.Stop(); err != nil {
		f.Err = err.Error()
		return f
	}
	sleep(ctx, down-time.Since(stopped))
	defer func() {
		sleep(ctx, time.Second)
		f.Posts, f.Failed, f.MaxPost, f.FirstErr = summarizePosts(pl.postsBetween(stopped, time.Now()))
	}()
	if err := e.pg.StartAgain(ctx); err != nil {
		f.Err = err.Error()
		return f
	}
	started := time.Now()
	info, err := e.js.Stream(ctx, saga.Stream)
	if err != nil {
		f.Err = err.Error()
		return f
	}
	last := info.CachedInfo().State.LastSeq
	for f.Ready == 0 || f.CaughtUp == 0 {
		if time.Since(started) > time.Minute {
			f.Err = "not recovered within a minute"
			break
		}
		if f.Ready == 0 && e.readyOK(ctx) {
			f.Ready = time.Since(started)
		}
		if f.CaughtUp == 0 {
			if seq, err := e.checkpoint(ctx); err == nil && seq >= last {
				f.CaughtUp = time.Since(started)
			}
		}
		sleep(ctx, 50*time.Millisecond)
	}
	return f
}

// readyOK says whether p1's /readyz answers status ok (not degraded).
func (e *env) readyOK(ctx context.Context) bool {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, e.procs[0].base+"/readyz", nil)
	resp, err := e.api.HTTP.Do(req)
	if err != nil {
		return false
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode == http.StatusOK && strings.Contains(string(b), `"status":"ok"`)
}

// checkpoint is the sagas read model's last applied SAGAS sequence.
func (e *env) checkpoint(ctx context.Context) (uint64, error) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, e.pg.URL(""))
	if err != nil {
		return 0, err
	}
	defer conn.Close(ctx)
	var seq uint64
	err = conn.QueryRow(ctx, `SELECT last_seq FROM projection_checkpoints WHERE name = $1`, sagamodel.SagasName).Scan(&seq)
	return seq, err
}

// finalCheck is every saga of the fault phases awaited to its end, and
// the read model's sagas by status.
type finalCheck struct {
	// Posts and Failed count every order the placer posted and those
	// that failed (the killed process's API refusing included).
	Posts, Failed int
	FirstPostErr  string
	// Sweeps and Swept: the safety-net sweep's firings in the serve logs
	// from the start of the steady load, and the sagas they re-issued.
	Sweeps, Swept int
	Placed        int
	ByStatus      map[string]int
	AwaitErrors   int
	FirstErr      string
	// ReadModel counts the read model's sagas (the whole run's) by status
	// once none is running; Settled says how long that took after the
	// load stopped.
	ReadModel map[string]int
	Settled   time.Duration
	Err       string
}

// check awaits every saga pl placed (through p1) and reads the read
// model's counts once nothing runs.
func (e *env) check(ctx context.Context, pl *placer, sizes map[string]int64) (c finalCheck) {
	stopped := time.Now()
	c = finalCheck{ByStatus: map[string]int{}, ReadModel: map[string]int{}}
	c.Posts, c.Failed, _, c.FirstPostErr = summarizePosts(pl.postsBetween(time.Time{}, stopped.Add(time.Hour)))
	defer func() { c.Sweeps, c.Swept = e.sweepsSince(sizes) }()
	sagas := pl.placedSagas()
	c.Placed = len(sagas)
	type answer struct {
		status string
		err    error
	}
	answers := make(chan answer)
	work := make(chan placed)
	for range 16 {
		go func() {
			for s := range work {
				st, err := e.api.AwaitSaga(ctx, e.procs[0].base, s.id, 2*time.Minute)
				answers <- answer{st, err}
			}
		}()
	}
	go func() {
		for _, s := range sagas {
			work <- s
		}
		close(work)
	}()
	for range sagas {
		a := <-answers
		if a.err != nil {
			c.AwaitErrors++
			if c.FirstErr == "" {
				c.FirstErr = a.err.Error()
			}
			continue
		}
		c.ByStatus[a.status]++
	}
	for {
		counts, err := e.sagaCounts(ctx)
		if err == nil && counts["running"]+counts["compensating"] == 0 {
			c.ReadModel, c.Settled = counts, time.Since(stopped)
			return c
		}
		if time.Since(stopped) > 3*time.Minute {
			c.ReadModel, c.Err = counts, errors.Join(err, fmt.Errorf("the read model still has running sagas 3 min after the load")).Error()
			return c
		}
		sleep(ctx, 200*time.Millisecond)
	}
}

// sagaCounts counts the read model's sagas by status.
func (e *env) sagaCounts(ctx context.Context) (map[string]int, error) {
	conn, err := pgx.Connect(ctx, e.pg.URL(""))
	if err != nil {
		return nil, err
	}
	defer conn.Close(ctx)
	rows, err := conn.Query(ctx, `SELECT status, count(*) FROM sagas GROUP BY status`)
	if err != nil {
		return nil, err
	}
	out := map[string]int{}
	for rows.Next() {
		var s string
		var n int
		if err := rows.Scan(&s, &n); err != nil {
			return nil, err
		}
		out[s] = n
	}
	return out, rows.Err()
}
