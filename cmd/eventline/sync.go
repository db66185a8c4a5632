package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/eventline/eventline/domain/workflows"
	"github.com/eventline/eventline/eventstore/aggregate"
	"github.com/eventline/eventline/handlers/workflowsync"
	"github.com/eventline/eventline/projections/syncmodel"
)

// syncPollInterval is how often sync-workflows reads sync_runs.
const syncPollInterval = 250 * time.Millisecond

// syncProgressEvery is how often sync-workflows reports syncs still running.
const syncProgressEvery = 5 * time.Second

// namesFlag collects a repeated --customer.
type namesFlag []string

func (f *namesFlag) String() string { return strings.Join(*f, ",") }

func (f *namesFlag) Set(v string) error {
	if strings.TrimSpace(v) == "" {
		return errors.New("a customer name must not be empty")
	}
	*f = append(*f, strings.TrimSpace(v))
	return nil
}

// syncOutcome is one customer's sync as sync-workflows prints it.
type syncOutcome struct {
	Customer   string   `json:"customer"`
	CustomerID string   `json:"customer_id"`
	SyncID     string   `json:"sync_id,omitempty"`
	Status     string   `json:"status"`
	Joined     bool     `json:"joined_running,omitempty"`
	Created    int      `json:"created"`
	Updated    int      `json:"updated"`
	Deleted    int      `json:"deleted"`
	Unchanged  int      `json:"unchanged"`
	Total      int      `json:"total"`
	Errors     []string `json:"errors"`
	Pages      int      `json:"pages"`
	Reason     string   `json:"reason,omitempty"`
}

func (o *syncOutcome) terminal() bool { return o.Status == "completed" || o.Status == "failed" }

// syncWorkflowsCmd is `eventline sync-workflows --customer NAME | --all
// [--allow-mass-delete] [--json]`: it starts a sync of each customer (or
// joins the one running), waits until each has finished, prints their
// stats and fails if any sync failed. The syncs themselves run in the
// processes with the sync role.
func syncWorkflowsCmd(ctx context.Context, cfg Config, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("sync-workflows", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var names namesFlag
	fs.Var(&names, "customer", "sync the customer of this name (repeatable)")
	all := fs.Bool("all", false, "sync every customer")
	allowMass := fs.Bool("allow-mass-delete", false, "apply a listing that deletes more than half of a customer's workflows")
	asJSON := fs.Bool("json", false, "print JSON ({\"syncs\":[…]}) instead of a table")
	timeout := fs.Duration("timeout", 30*time.Minute, "give up waiting after this long")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("sync-workflows: unexpected argument %q", fs.Arg(0))
	}
	if (len(names) == 0) == !*all {
		return errors.New("sync-workflows: give --customer NAME or --all (not both)")
	}
	if *timeout <= 0 {
		return errors.New("sync-workflows: --timeout must be positive")
	}
	s, err := openOps(ctx, cfg, infraNeeds{nats: true, postgres: true}, stderr)
	if err != nil {
		return err
	}
	defer s.close()
	found, err := workflowsync.LookupCustomers(ctx, s.pool, names)
	if err != nil {
		return err
	}
	if missing := missingNames(names, found); len(missing) > 0 {
		return fmt.Errorf("sync-workflows: no customer named %s", strings.Join(missing, ", "))
	}
	customers, err := workflowsync.NewCustomers(s.store, workflowsync.Registry(), nil)
	if err != nil {
		return err
	}
	outs := make([]*syncOutcome, len(found))
	for i, c := range found {
		outs[i] = startCLISync(ctx, customers, c, *allowMass, stderr)
	}
	waitCtx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	if err := waitSyncs(waitCtx, s.pool, outs, stderr); err != nil {
		if ctx.Err() != nil {
			return err
		}
		if !errors.Is(err, context.DeadlineExceeded) {
			return err
		}
		for _, o := range outs {
			if !o.terminal() {
				o.Status, o.Reason = "timeout", fmt.Sprintf("still not finished after %v", *timeout)
			}
		}
	}
	if err := printSyncs(stdout, outs, *asJSON); err != nil {
		return err
	}
	failed := 0
	for _, o := range outs {
		if o.Status != "completed" {
			failed++
		}
	}
	if failed > 0 {
		return fmt.Errorf("sync-workflows: %d of %d syncs did not complete", failed, len(outs))
	}
	return nil
}

// missingNames returns the names not found.
func missingNames(names []string, found []workflowsync.Customer) []string {
	have := map[string]bool{}
	for _, c := range found {
		have[c.Name] = true
	}
	var out []string
	for _, n := range names {
		if !have[n] {
			out = append(out, strconv.Quote(n))
		}
	}
	return out
}

// startCLISync starts a sync of c, or joins the one running.
func startCLISync(ctx context.Context, customers *aggregate.Handler[workflows.Customer, any], c workflowsync.Customer, allowMass bool, stderr io.Writer) *syncOutcome {
	o := &syncOutcome{Customer: c.Name, CustomerID: c.ID, Status: "starting", Errors: []string{}}
	syncID := uuid.NewString()
	_, err := customers.Handle(ctx, c.ID, workflows.Start{SyncID: syncID, Trigger: workflows.TriggerCLI,
		AllowMassDelete: allowMass, Now: time.Now()}, aggregate.Meta{CorrelationID: c.ID})
	switch {
	case err == nil:
		o.SyncID = syncID
		fmt.Fprintf(stderr, "sync-workflows: %s: sync %s started\n", c.Name, syncID)
	case errors.Is(err, workflows.ErrSyncRunning):
		st, _, lerr := customers.Load(ctx, c.ID)
		if lerr != nil || st.Running == nil {
			o.Status, o.Reason = "failed", "a sync was running but could not be joined: retry"
			return o
		}
		o.SyncID, o.Joined = st.Running.SyncID, true
		fmt.Fprintf(stderr, "sync-workflows: %s: sync %s already running; waiting for it\n", c.Name, o.SyncID)
		if allowMass && !st.Running.AllowMassDelete {
			fmt.Fprintf(stderr, "sync-workflows: %s: --allow-mass-delete does not apply to the running sync\n", c.Name)
		}
	case errors.Is(err, workflows.ErrNoCustomer):
		o.Status, o.Reason = "failed", "the customer's creation did not complete (no customer.created event)"
	default:
		o.Status, o.Reason = "failed", "could not start: "+err.Error()
	}
	return o
}

// waitSyncs polls sync_runs until every sync of outs is terminal, telling
// stderr when one finishes and, now and then, which are still running.
func waitSyncs(ctx context.Context, pool *pgxpool.Pool, outs []*syncOutcome, stderr io.Writer) error {
	tick := time.NewTicker(syncPollInterval)
	defer tick.Stop()
	lastProgress := time.Now()
	for {
		var ids []string
		byID := map[string]*syncOutcome{}
		for _, o := range outs {
			if o.SyncID != "" && !o.terminal() {
				ids = append(ids, o.SyncID)
				byID[o.SyncID] = o
			}
		}
		if len(ids) == 0 {
			return nil
		}
		if err := readSyncRuns(ctx, pool, byID, ids, stderr); err != nil {
			return err
		}
		if time.Since(lastProgress) >= syncProgressEvery {
			lastProgress = time.Now()
			for _, o := range outs {
				if o.SyncID != "" && !o.terminal() {
					fmt.Fprintf(stderr, "sync-workflows: %s: %s (%d pages, %d workflows so far)\n", o.Customer, o.Status, o.Pages, o.Total)
				}
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
	}
}

// readSyncRuns updates the outcomes of ids from sync_runs.
func readSyncRuns(ctx context.Context, pool *pgxpool.Pool, byID map[string]*syncOutcome, ids []string, stderr io.Writer) error {
	runs, err := syncmodel.SyncRunsByIDs(ctx, pool, ids)
	if err != nil {
		return err
	}
	for _, r := range runs {
		o := byID[r.ID]
		o.Status, o.Reason = r.Status, r.Reason
		o.Created, o.Updated, o.Deleted = int(r.Stats.Created), int(r.Stats.Updated), int(r.Stats.Deleted)
		o.Unchanged, o.Total, o.Pages = int(r.Stats.Unchanged), int(r.Stats.Total), int(r.Pages)
		o.Errors = r.Stats.Errors
		if o.terminal() {
			fmt.Fprintf(stderr, "sync-workflows: %s: sync %s %s\n", o.Customer, r.ID, r.Status)
		}
	}
	return nil
}

// printSyncs prints the outcomes as a table or JSON.
func printSyncs(w io.Writer, outs []*syncOutcome, asJSON bool) error {
	if asJSON {
		if outs == nil {
			outs = []*syncOutcome{}
		}
		return writeJSON(w, map[string]any{"syncs": outs})
	}
	rows := make([][]string, 0, len(outs))
	for _, o := range outs {
		reason := o.Reason
		if reason == "" && len(o.Errors) > 0 {
			reason = strings.Join(o.Errors, "; ")
		}
		if reason == "" {
			reason = "-"
		}
		rows = append(rows, []string{o.Customer, o.Status, strconv.Itoa(o.Created), strconv.Itoa(o.Updated),
			strconv.Itoa(o.Deleted), strconv.Itoa(o.Unchanged), strconv.Itoa(o.Total), strconv.Itoa(len(o.Errors)),
			strconv.Itoa(o.Pages), o.SyncID, reason})
	}
	return table(w, []string{"CUSTOMER", "STATUS", "CREATED", "UPDATED", "DELETED", "UNCHANGED", "TOTAL", "ERRORS",
		"PAGES", "SYNC", "REASON"}, rows)
}
