package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/eventline/eventline/eventstore/partitions"
)

// takeoverRound is one kill -9 of a process under load, and its restart.
type takeoverRound struct {
	Victim, Survivor string
	// Parts is how many partitions the victim owned; Running how many of
	// their sagas were running at the kill, as the read model said.
	Parts, Running int
	// Pinned runs from the kill to the survivor's last "partition taken
	// over" of the victim's partitions; First to its first "partitions
	// taken over: their running sagas resumed" line, All to the one after
	// which every partition of the victim was resumed. Resumed sums the
	// sagas those lines counted.
	Pinned, First, All time.Duration
	Resumed            int
	// Took is the longest "took=" of those lines: from the gain of a
	// partition until its running sagas were re-issued (reading the read
	// model and the log past its checkpoint).
	Took time.Duration
	// Restart runs from the restart to the victim's listening line,
	// Rebalanced to the partitions shared out evenly again.
	Restart, Rebalanced time.Duration
	Err                 string
}

// Lines the survivor logs on a takeover (slog text, time= first).
var (
	reTime       = regexp.MustCompile(`^time=(\S+)`)
	reResumed    = regexp.MustCompile(`msg="partitions taken over: their running sagas resumed".*partitions="?\[([0-9 ]*)\]"?.*sagas=([0-9]+)(?:.*took=(\S+))?`)
	reTakenOver  = regexp.MustCompile(`msg="partition taken over".*group=sagas.*partition=([0-9]+)`)
	takeoverWait = time.Minute
)

// takeover runs the rounds: with the placer's load on, it kills (-9) one
// process, measures how long the other takes to resume its sagas, restarts
// it and waits until it has its share of partitions back.
func (e *env) takeover(ctx context.Context, rounds int, load time.Duration, kill string) []takeoverRound {
	var out []takeoverRound
	for r := range rounds {
		vi := 1
		if kill == "p1" || (kill == "alternate" && r%2 == 1) {
			vi = 0
		}
		victim, survivor := e.procs[vi], e.procs[1-vi]
		round := takeoverRound{Victim: victim.id, Survivor: survivor.id}
		if _, err := e.waitBalanced(ctx, time.Minute); err != nil {
			round.Err = err.Error()
			out = append(out, round)
			break
		}
		sleep(ctx, load) // sagas in flight, some waiting on timers
		if err := e.killAndMeasure(ctx, &round, victim, survivor); err != nil {
			round.Err = err.Error()
		}
		e.logf("takeover %d: %s killed (%d partitions, %d sagas running): pinned %.2f s, first resume %.2f s, all %.2f s, %d resumed (longest took %.2f s); restarted in %.2f s, rebalanced %.2f s %s",
			r+1, round.Victim, round.Parts, round.Running, round.Pinned.Seconds(), round.First.Seconds(), round.All.Seconds(), round.Resumed, round.Took.Seconds(),
			round.Restart.Seconds(), round.Rebalanced.Seconds(), round.Err)
		out = append(out, round)
		if !victim.up.Load() {
			break // not restarted: the next round has nobody to kill
		}
	}
	return out
}

func (e *env) killAndMeasure(ctx context.Context, round *takeoverRound, victim, survivor *proc) error {
	parts := e.ownedBy(ctx, victim.id)
	round.Parts = len(parts)
	round.Running = e.runningIn(ctx, parts)
	offset := int64(0)
	if st, err := os.Stat(survivor.logPath()); err == nil {
		offset = st.Size()
	}
	killed := time.Now()
	victim.up.Store(false)
	if err := victim.srv.Kill(); err != nil {
		return err
	}
	_ = victim.srv.Stop() // closes its log
	resumed := map[int]bool{}
	pinned := map[int]bool{}
	for deadline := time.Now().Add(takeoverWait); ; {
		b, _ := os.ReadFile(survivor.logPath())
		if int64(len(b)) > offset {
			round.Resumed = 0
			sc := bufio.NewScanner(bytes.NewReader(b[offset:]))
			sc.Buffer(make([]byte, 1<<20), 1<<20)
			for sc.Scan() {
				line := sc.Text()
				m := reTime.FindStringSubmatch(line)
				if m == nil {
					continue
				}
				at, err := time.Parse(time.RFC3339Nano, m[1])
				if err != nil {
					continue
				}
				if t := reTakenOver.FindStringSubmatch(line); t != nil {
					p, _ := strconv.Atoi(t[1])
					if parts[p] && !pinned[p] {
						pinned[p] = true
						round.Pinned = max(round.Pinned, at.Sub(killed))
					}
				}
				t := reResumed.FindStringSubmatch(line)
				if t == nil {
					continue
				}
				if round.First == 0 {
					round.First = at.Sub(killed)
				}
				n, _ := strconv.Atoi(t[2])
				round.Resumed += n
				if d, err := time.ParseDuration(t[3]); err == nil {
					round.Took = max(round.Took, d)
				}
				for _, f := range strings.Fields(t[1]) {
					p, _ := strconv.Atoi(f)
					resumed[p] = true
				}
				if round.All == 0 && covers(resumed, parts) {
					round.All = at.Sub(killed)
				}
			}
		}
		if round.All > 0 || len(parts) == 0 {
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s did not resume all of %s's partitions within %s (resumed %v)", survivor.id, victim.id, takeoverWait, resumed)
		}
		sleep(ctx, 50*time.Millisecond)
	}
	restarted := time.Now()
	if err := e.start(ctx, victim); err != nil {
		return fmt.Errorf("restart %s: %w", victim.id, err)
	}
	round.Restart = time.Since(restarted)
	if _, err := e.waitBalanced(ctx, time.Minute); err != nil {
		return fmt.Errorf("after the restart of %s: %w", victim.id, err)
	}
	round.Rebalanced = time.Since(restarted)
	return nil
}

// covers says whether got holds every partition of want.
func covers(got, want map[int]bool) bool {
	for p := range want {
		if !got[p] {
			return false
		}
	}
	return true
}

// runningIn counts the sagas of parts that the read model says are
// running or compensating.
func (e *env) runningIn(ctx context.Context, parts map[int]bool) int {
	conn, err := pgx.Connect(ctx, e.pg.URL(""))
	if err != nil {
		return -1
	}
	defer conn.Close(ctx)
	rows, err := conn.Query(ctx, `SELECT id FROM sagas WHERE status IN ('running', 'compensating')`)
	if err != nil {
		return -1
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return -1
	}
	n := 0
	for _, id := range ids {
		if parts[partitions.Of(id, partitionCount)] {
			n++
		}
	}
	return n
}

// sleep waits d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}
