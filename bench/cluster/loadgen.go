package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"

	"github.com/eventline/eventline/bench/internal/benchserve"
	"github.com/eventline/eventline/eventstore"
)

// The measured loads run in a child process of their own (this binary with
// the argument "loadgen" and a job in JSON): the nats-servers of the
// cluster run in the bench process, whose CPU time then counts the servers
// (and the bench's idle bookkeeping), not the clients.

// job is one load the child runs.
type job struct {
	// Kind is "saga" (POST /api/orders, then wait until terminal), "logs"
	// (POST /api/logs, one entry) or "raw" (PerOp awaited JetStream
	// publishes per operation on a replicas-3 stream of its own).
	Kind     string        `json:"kind"`
	URLs     []string      `json:"urls,omitempty"` // worker w uses URLs[w % len]
	InFlight int           `json:"in_flight"`
	Duration time.Duration `json:"duration"`
	Users    []string      `json:"users,omitempty"`
	Products []string      `json:"products,omitempty"`
	Token    string        `json:"token,omitempty"`
	// Raw baseline: the cluster's URL, the stream (created replicas 3 with
	// the event streams' settings, deleted after), its subject prefix, and
	// whether each operation publishes on a subject of its own (a saga)
	// or all on one (log entries).
	NATSURL      string `json:"nats_url,omitempty"`
	Stream       string `json:"stream,omitempty"`
	Subject      string `json:"subject,omitempty"`
	PerOp        int    `json:"per_op,omitempty"`
	PerSubject   bool   `json:"per_subject,omitempty"`
	PayloadBytes int    `json:"payload_bytes,omitempty"`
}

// jobResult is what the child prints: the run and its own CPU time.
type jobResult struct {
	Run runResult     `json:"run"`
	CPU time.Duration `json:"cpu"`
}

// runLoadgen is the child's body: it runs the job in arg and prints its
// result as JSON.
func runLoadgen(ctx context.Context, arg string, stdout io.Writer) error {
	var j job
	if err := json.Unmarshal([]byte(arg), &j); err != nil {
		return fmt.Errorf("loadgen: %w", err)
	}
	fn, done, err := j.op(ctx)
	if err != nil {
		return err
	}
	run := drive(ctx, j.InFlight, j.Duration, fn)
	done()
	cpu, _ := cpuSelf()
	return json.NewEncoder(stdout).Encode(jobResult{Run: run, CPU: cpu})
}

// op returns the job's operation and what to do once the load is over.
func (j job) op(ctx context.Context) (opFunc, func(), error) {
	switch j.Kind {
	case "saga":
		a := newAPI(j.InFlight)
		return func(ctx context.Context, w, n int) (string, error) {
			base := j.URLs[w%len(j.URLs)]
			id, err := a.PlaceOrder(ctx, base, j.Users[n%len(j.Users)], j.Products[(n+w)%len(j.Products)], j.Token)
			if err != nil {
				return "", err
			}
			return a.AwaitSaga(ctx, base, id, sagaTimeout)
		}, func() {}, nil
	case "logs":
		a := newAPI(j.InFlight)
		return func(ctx context.Context, w, n int) (string, error) {
			body := map[string]any{"level": "info", "message": "bench/cluster entry " + strconv.Itoa(n) + " " + strings.Repeat("x", 100),
				"source": "bench-cluster", "context": map[string]any{"worker": w, "n": n}}
			if err := a.Do(ctx, http.MethodPost, j.URLs[w%len(j.URLs)]+"/api/logs", body, http.StatusAccepted, nil); err != nil {
				return "", err
			}
			return "completed", nil
		}, func() {}, nil
	case "raw":
		store, err := eventstore.Connect(ctx, eventstore.Options{URL: j.NATSURL, Name: "bench-cluster-raw", Replicas: 3,
			FailFast: true, Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			return nil, nil, fmt.Errorf("connect to the cluster: %w", err)
		}
		if err := store.EnsureStreams(ctx, []eventstore.StreamSpec{{Name: j.Stream, Subjects: []string{j.Subject + ">"},
			Description: "bench/cluster raw baseline", MediumBlocks: true}}); err != nil {
			store.Close()
			return nil, nil, fmt.Errorf("create stream %s: %w", j.Stream, err)
		}
		payload := bytes.Repeat([]byte("x"), j.PayloadBytes)
		js := store.JetStream()
		return func(ctx context.Context, _, n int) (string, error) {
				subject := j.Subject + "all"
				if j.PerSubject {
					subject = j.Subject + strconv.Itoa(n)
				}
				for range j.PerOp {
					if _, err := js.Publish(ctx, subject, payload); err != nil {
						return "", fmt.Errorf("raw publish: %w", err)
					}
				}
				return "completed", nil
			}, func() {
				_ = js.DeleteStream(context.WithoutCancel(ctx), j.Stream)
				store.Close()
			}, nil
	}
	return nil, nil, fmt.Errorf("loadgen: unknown kind %q", j.Kind)
}

// cpuSelf is this process's CPU time so far.
func cpuSelf() (time.Duration, error) { return benchserve.CPUTime(os.Getpid()) }

// spawn runs j in a child process and returns its result; the child's
// stderr goes to stderr.
func spawn(ctx context.Context, j job, stderr io.Writer) (jobResult, error) {
	var res jobResult
	self, err := os.Executable()
	if err != nil {
		return res, err
	}
	arg, err := json.Marshal(j)
	if err != nil {
		return res, err
	}
	cmd := exec.CommandContext(ctx, self, "loadgen", string(arg))
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, stderr
	if err := cmd.Run(); err != nil {
		return res, fmt.Errorf("load generator (%s): %w", j.Kind, err)
	}
	if err := json.Unmarshal(out.Bytes(), &res); err != nil {
		return res, fmt.Errorf("load generator (%s): %w: %.200s", j.Kind, err, out.String())
	}
	return res, nil
}
