package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/eventline/eventline/bench/internal/benchcmd"
	"github.com/eventline/eventline/bench/internal/benchserve"
)

// targetRSS is issue 25 item 5's bound of serve's RSS with four hostile
// tenants syncing at once.
const targetRSS = 300 << 20

type options struct {
	Bin           string
	Tenants       int
	OrdinaryPages int
	BigBytes      int64
	JSON, Keep    bool
}

// phase is one measured phase.
type phase struct {
	Name      string        `json:"name"`
	PeakRSS   int64         `json:"peak_rss_bytes"`
	DiskGrow  int64         `json:"data_dir_growth_bytes"`
	Took      time.Duration `json:"took_ns"`
	Statuses  []string      `json:"statuses"`
	Reasons   []string      `json:"reasons"`
	Pages     int64         `json:"pages_served"`
	PageBytes int64         `json:"page_bytes_served"`
}

func main() { benchcmd.Main("bench/synchostile", run) }

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var o options
	c := benchcmd.New("synchostile", stderr, benchcmd.Shared{Bin: &o.Bin, JSON: &o.JSON, Keep: &o.Keep})
	c.IntVar(&o.Tenants, "tenants", 4, "tenants syncing at once in each phase")
	c.IntVar(&o.OrdinaryPages, "ordinary-pages", 40, "pages of an ordinary tenant")
	c.Int64Var(&o.BigBytes, "big-bytes", 48<<20, "max_bytes of the customers whose 15 KB descriptions are stored")
	if err := c.Parse(args, nil); err != nil {
		return err
	}
	logf := c.Logf
	root, bin, cleanup, err := c.Workdir(ctx)
	if err != nil {
		return err
	}
	defer cleanup()

	z := &tenants{ordinaryPages: o.OrdinaryPages}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	zsrv := &http.Server{Handler: z, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = zsrv.Serve(ln) }()
	defer zsrv.Close()
	zuoraURL := "http://" + ln.Addr().String()

	s, err := benchserve.StartReady(ctx, benchserve.Config{Bin: bin, Name: "serve", DataDir: filepath.Join(root, "serve"),
		Env: []string{"EVENTLINE_ROLES=all", "EVENTLINE_SYNC_DAILY_AT=-", "EVENTLINE_SYNC_INTERVAL=24h"}})
	if err != nil {
		return err
	}
	defer s.StopLogged(logf)
	api := &client{base: s.BaseURL(), http: benchserve.NewClient(8, time.Minute)}
	idle, _ := s.RSS()
	logf("serve ready, RSS %.0f MiB", mib(idle))

	var phases []phase
	measure := func(name, kind string, syncs func() ([]string, error)) error {
		logf("phase %s: %d tenants at once", name, o.Tenants)
		z.reset(kind)
		before := dirSize(s.DataDir())
		s.ResetPeakRSS()
		began := time.Now()
		ids, err := syncs()
		if err != nil {
			return err
		}
		p := phase{Name: name}
		for _, id := range ids {
			st, reason, err := api.waitSync(ctx, id)
			if err != nil {
				return fmt.Errorf("%s: %w", name, err)
			}
			p.Statuses, p.Reasons = append(p.Statuses, st), append(p.Reasons, reason)
		}
		p.Took = time.Since(began)
		if p.PeakRSS, err = s.PeakRSS(); err != nil {
			return err
		}
		p.DiskGrow = dirSize(s.DataDir()) - before
		p.Pages, p.PageBytes = z.served()
		logf("phase %s: peak RSS %.0f MiB, %d pages (%.0f MiB) served in %s", name, mib(p.PeakRSS), p.Pages,
			mib(p.PageBytes), p.Took.Round(time.Millisecond))
		phases = append(phases, p)
		return nil
	}
	create := func(kind string, limits map[string]any) func() ([]string, error) {
		return func() ([]string, error) {
			var syncs []string
			for i := range o.Tenants {
				id, syncID, err := api.createCustomer(ctx, fmt.Sprintf("%s-%d", kind, i), zuoraURL, limits)
				if err != nil {
					return nil, err
				}
				z.customers = append(z.customers, id)
				syncs = append(syncs, syncID)
			}
			return syncs, nil
		}
	}
	if err := measure("baseline: ordinary tenants", "ordinary", create("ordinary", nil)); err != nil {
		return err
	}
	if err := measure("hostile: 150 KB descriptions, endless", "hostile", create("hostile", nil)); err != nil {
		return err
	}
	var big []string
	if err := measure("stored: 15 KB descriptions, first sync", "big", func() ([]string, error) {
		z.customers = nil
		ids, err := create("big", map[string]any{"max_bytes": o.BigBytes})()
		big = z.customers
		return ids, err
	}); err != nil {
		return err
	}
	if err := measure("stored: 15 KB descriptions, second sync (compares with the stored)", "big", func() ([]string, error) {
		var syncs []string
		for _, id := range big {
			syncID, err := api.startSync(ctx, id)
			if err != nil {
				return nil, err
			}
			syncs = append(syncs, syncID)
		}
		return syncs, nil
	}); err != nil {
		return err
	}
	return report(stdout, o, idle, phases)
}

func report(w io.Writer, o options, idle int64, phases []phase) error {
	if o.JSON {
		return json.NewEncoder(w).Encode(map[string]any{"idle_rss_bytes": idle, "target_rss_bytes": targetRSS, "phases": phases})
	}
	fmt.Fprintf(w, "bench/synchostile: one eventline serve (every role, embedded NATS and PostgreSQL), %d tenants syncing at once per phase\n", o.Tenants)
	fmt.Fprintf(w, "  serve idle                                                      RSS %6.0f MiB\n", mib(idle))
	peakHostile := int64(0)
	for i, p := range phases {
		fmt.Fprintf(w, "  %-62s peak %6.0f MiB  data dir %+7.0f MiB  %5d pages (%6.0f MiB) in %6.1f s  %s\n", p.Name, mib(p.PeakRSS),
			mib(p.DiskGrow), p.Pages, mib(p.PageBytes), p.Took.Seconds(), summarize(p))
		if i > 0 {
			peakHostile = max(peakHostile, p.PeakRSS)
		}
	}
	verdict := "met"
	if peakHostile > targetRSS {
		verdict = "MISSED"
	}
	fmt.Fprintf(w, "  hostile phases' peak %.0f MiB beside the baseline's %.0f MiB (target <= %d MiB: %s)\n", mib(peakHostile),
		mib(phases[0].PeakRSS), targetRSS>>20, verdict)
	return nil
}

// summarize counts the phase's outcomes and quotes one failure reason.
func summarize(p phase) string {
	n := map[string]int{}
	reason := ""
	for i, st := range p.Statuses {
		n[st]++
		if st == "failed" && reason == "" {
			reason = p.Reasons[i]
		}
	}
	out := fmt.Sprintf("completed %d, failed %d", n["completed"], n["failed"])
	if reason != "" {
		if len(reason) > 110 {
			reason = reason[:110] + "…"
		}
		out += ": " + reason
	}
	return out
}

func mib(b int64) float64 { return float64(b) / (1 << 20) }

// dirSize sums the sizes of the files under dir.
func dirSize(dir string) int64 {
	var n int64
	_ = filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			if info, err := d.Info(); err == nil {
				n += info.Size()
			}
		}
		return nil
	})
	return n
}

// tenants is a stand-in Zuora serving generated tenants by client id:
// "ordinary-N" ends after ordinaryPages pages of short workflows;
// "hostile-N" serves 150 KB descriptions and "big-N" 15 KB ones, both
// with new ids on every page, without end.
// Only the tenants of the phase's kind sign in: the customers of earlier
// phases, which the scheduler syncs again (their first sync failed), are
// refused at once.
type tenants struct {
	ordinaryPages int
	customers     []string
	mu            sync.Mutex
	kind          string
	pages, bytes  int64
}

func (z *tenants) reset(kind string) {
	z.mu.Lock()
	defer z.mu.Unlock()
	z.pages, z.bytes, z.kind = 0, 0, kind
}

func (z *tenants) active(client string) bool {
	z.mu.Lock()
	defer z.mu.Unlock()
	return strings.HasPrefix(client, z.kind+"-")
}

func (z *tenants) served() (int64, int64) {
	z.mu.Lock()
	defer z.mu.Unlock()
	return z.pages, z.bytes
}

func (z *tenants) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch r.URL.Path {
	case "/oauth/token":
		_ = r.ParseForm()
		if !z.active(r.PostForm.Get("client_id")) {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusUnauthorized)
			_, _ = w.Write([]byte(`{"error":"invalid_client"}`))
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"access_token": "tok." + r.PostForm.Get("client_id"),
			"token_type": "bearer", "expires_in": 3599})
	case "/workflows":
		client, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer tok.")
		if !ok {
			http.Error(w, `{"message":"no token"}`, http.StatusUnauthorized)
			return
		}
		page, _ := strconv.Atoi(r.URL.Query().Get("page"))
		body := z.page(client, max(page, 1))
		z.mu.Lock()
		z.pages++
		z.bytes += int64(len(body))
		z.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(body)
	default:
		http.NotFound(w, r)
	}
}

// page is page n of tenant client's listing.
func (z *tenants) page(client string, n int) []byte {
	kind, _, _ := strings.Cut(client, "-")
	desc, last := "An ordinary workflow", z.ordinaryPages
	switch kind {
	case "hostile":
		desc, last = strings.Repeat("h", 150<<10), 0
	case "big":
		desc, last = strings.Repeat("b", 15<<10), 0
	}
	var b bytes.Buffer
	b.WriteString(`{"data":[`)
	for i := range 50 {
		if i > 0 {
			b.WriteByte(',')
		}
		id := n*50 + i
		fmt.Fprintf(&b, `{"id":%d,"name":"Workflow %d","description":%q,"status":"Active","createdAt":"2025-06-01T00:00:00Z","updatedAt":"2025-06-01T00:00:00Z"}`,
			id, id, desc)
	}
	b.WriteString(`],"pagination":{`)
	if last == 0 || n < last {
		fmt.Fprintf(&b, `"next_page":"/workflows?page=%d&page_length=50",`, n+1)
	}
	fmt.Fprintf(&b, `"page":%d,"page_length":50}}`, n)
	return b.Bytes()
}

// client calls serve's API.
type client struct {
	base string
	http *http.Client
}

func (c *client) do(ctx context.Context, method, path string, body any, out any) (int, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return 0, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return 0, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode >= 300 {
		return resp.StatusCode, fmt.Errorf("%s %s: %d %s", method, path, resp.StatusCode, b)
	}
	if out != nil {
		return resp.StatusCode, json.Unmarshal(b, out)
	}
	return resp.StatusCode, nil
}

func (c *client) createCustomer(ctx context.Context, name, zuoraURL string, limits map[string]any) (string, string, error) {
	body := map[string]any{"name": name, "zuora": map[string]any{"base_url": zuoraURL, "client_id": name,
		"client_secret": "bench-secret-" + name}}
	if limits != nil {
		body["limits"] = limits
	}
	var out struct{ ID, SyncID string }
	_, err := c.do(ctx, "POST", "/api/customers", body, &struct {
		ID     *string `json:"id"`
		SyncID *string `json:"sync_id"`
	}{&out.ID, &out.SyncID})
	if err == nil && out.SyncID == "" {
		err = fmt.Errorf("customer %s: no first sync started", name)
	}
	return out.ID, out.SyncID, err
}

func (c *client) startSync(ctx context.Context, customer string) (string, error) {
	var out struct {
		SyncID string `json:"sync_id"`
	}
	_, err := c.do(ctx, "POST", "/api/customers/"+customer+"/sync", nil, &out)
	return out.SyncID, err
}

// waitSync polls GET /api/syncs/{id} until the sync has finished (at most
// 10 minutes) and returns its status and reason.
func (c *client) waitSync(ctx context.Context, id string) (string, string, error) {
	deadline := time.Now().Add(10 * time.Minute)
	for time.Now().Before(deadline) {
		var s struct {
			Status string `json:"status"`
			Reason string `json:"reason"`
		}
		code, err := c.do(ctx, "GET", "/api/syncs/"+id, nil, &s)
		if err == nil && s.Status != "running" {
			return s.Status, s.Reason, nil
		}
		if err != nil && code != http.StatusNotFound {
			return "", "", err
		}
		select {
		case <-ctx.Done():
			return "", "", ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
	return "", "", errors.New("sync " + id + " not finished in 10 minutes")
}
