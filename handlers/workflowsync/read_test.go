package workflowsync

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/eventline/eventline/domain/workflows"
	"github.com/eventline/eventline/eventstore"
	"github.com/eventline/eventline/internal/pgcluster"
	"github.com/eventline/eventline/internal/testenv"
	"github.com/eventline/eventline/platform/httpapi"
	"github.com/eventline/eventline/projections"
	"github.com/eventline/eventline/projections/syncmodel"
)

var readBase = time.Date(2026, 11, 25, 3, 0, 0, 0, time.UTC)

func readAt(minute int) time.Time { return readBase.Add(time.Duration(minute) * time.Minute) }

// readFixture writes events through the syncmodel projection.
type readFixture struct {
	pool   *pgxpool.Pool
	seq    uint64
	events []projections.Event
}

func (f *readFixture) emit(t *testing.T, c uuid.UUID, typ string, minute int, data any) {
	t.Helper()
	raw, err := json.Marshal(data)
	require.NoError(t, err)
	f.seq++
	f.events = append(f.events, projections.Event{Seq: f.seq, Subject: workflows.Subject(c.String()),
		Envelope: eventstore.Envelope{ID: uuid.New(), Type: typ, OccurredAt: readAt(minute), Data: raw}})
}

// apply applies the events emitted so far in one transaction.
func (f *readFixture) apply(t *testing.T) {
	t.Helper()
	ctx := context.Background()
	require.NoError(t, pgx.BeginFunc(ctx, f.pool, func(tx pgx.Tx) error {
		_, err := syncmodel.New(nil).Apply(ctx, tx, f.events)
		return err
	}))
	f.events = nil
}

func readWorkflow(id int64, status string) workflows.Workflow {
	return workflows.Workflow{ZuoraID: id, Name: fmt.Sprintf("Invoice run %d", id), Description: "bills 100%_of them",
		Status: status, CreatedAt: readAt(-60), UpdatedAt: readAt(-30)}
}

// readServer fills a fresh database and serves the read endpoints over it:
// acme has workflows 1..7 (odd ones Active), a completed sync s1 and a
// failed s2; globex has workflows 1..2 and a running sync g1; its client
// secret is stored as the API stores it.
func readServer(t *testing.T, cluster *pgcluster.Cluster) (srvURL string, acme, globex uuid.UUID) {
	t.Helper()
	pool := testenv.Pool(t, testenv.FreshDatabase(t, cluster))
	f := &readFixture{pool: pool}
	acme, globex = uuid.New(), uuid.New()
	f.emit(t, acme, workflows.CustomerCreatedV1, 0, workflows.CustomerCreated{CustomerID: acme.String(), Name: "acme",
		BaseURL: "https://acme.zuora.test", ClientID: "acme-client", CreatedAt: readAt(0)})
	f.emit(t, globex, workflows.CustomerCreatedV1, 0, workflows.CustomerCreated{CustomerID: globex.String(), Name: "globex",
		BaseURL: "https://globex.zuora.test", ClientID: "globex-client", CreatedAt: readAt(0)})
	f.emit(t, acme, workflows.SyncStartedV1, 1, workflows.SyncStarted{SyncID: "s1", Trigger: workflows.TriggerCreated, StartedAt: readAt(1)})
	for i := int64(1); i <= 7; i++ {
		status := "Inactive"
		if i%2 == 1 {
			status = "Active"
		}
		f.emit(t, acme, workflows.WorkflowCreatedV1, 2, workflows.WorkflowChanged{SyncID: "s1", Workflow: readWorkflow(i, status)})
	}
	f.emit(t, acme, workflows.SyncCompletedV1, 3, workflows.SyncCompleted{SyncID: "s1",
		Stats: workflows.Stats{Created: 7, Total: 7, Errors: []string{}}, Pages: 1, FinishedAt: readAt(3)})
	f.emit(t, acme, workflows.SyncStartedV1, 10, workflows.SyncStarted{SyncID: "s2", Trigger: workflows.TriggerDaily,
		Slot: "daily:2026-11-25", StartedAt: readAt(10)})
	f.emit(t, acme, workflows.SyncFailedV1, 11, workflows.SyncFailed{SyncID: "s2", Reason: "page 2: 503",
		Stats: workflows.Stats{Total: 50, Unchanged: 50, Errors: []string{"page 2: 503"}}, Pages: 1, FinishedAt: readAt(11)})
	f.emit(t, globex, workflows.SyncStartedV1, 20, workflows.SyncStarted{SyncID: "g1", Trigger: workflows.TriggerManual, StartedAt: readAt(20)})
	for i := int64(1); i <= 2; i++ {
		f.emit(t, globex, workflows.WorkflowCreatedV1, 21, workflows.WorkflowChanged{SyncID: "g1", Workflow: readWorkflow(i, "Active")})
	}
	f.apply(t)
	_, err := pool.Exec(context.Background(), `INSERT INTO customer_credentials (customer_id, name, nonce, secret)
		VALUES ($1, 'acme', 'nonce', 'SECRET-CIPHERTEXT')`, acme)
	require.NoError(t, err)

	srv := httpapi.NewServer(httpapi.ServerConfig{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	NewReads(pool).Mount(srv)
	hs := httptest.NewServer(srv)
	t.Cleanup(hs.Close)
	return hs.URL, acme, globex
}

// readGet sends a GET and decodes the JSON answer into out (when not nil).
func readGet(t *testing.T, u string, out any) (int, string) {
	t.Helper()
	resp, err := http.Get(u)
	require.NoError(t, err)
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	require.Equal(t, "application/json", resp.Header.Get("Content-Type"))
	require.NotContains(t, string(raw), "SECRET", "the client secret is never read")
	if out != nil {
		require.NoError(t, json.Unmarshal(raw, out), "body: %s", raw)
	}
	return resp.StatusCode, string(raw)
}

type readAPIError struct {
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
		Field   string `json:"field"`
	} `json:"error"`
}

// readAll follows next_cursor from first and returns each page's items,
// decoded by item.
func readAll[T any](t *testing.T, first string) [][]T {
	t.Helper()
	var pages [][]T
	next := first
	for next != "" {
		var page readPage[T]
		status, body := readGet(t, next, &page)
		require.Equal(t, http.StatusOK, status, body)
		pages = append(pages, page.Items)
		next = ""
		if page.NextCursor != "" {
			u, err := url.Parse(first)
			require.NoError(t, err)
			q := u.Query()
			q.Set("cursor", page.NextCursor)
			u.RawQuery = q.Encode()
			next = u.String()
		}
		require.Less(t, len(pages), 20, "paging ends")
	}
	return pages
}

func zuoraIDs(pages [][]syncmodel.Workflow) [][]int64 {
	out := make([][]int64, len(pages))
	for i, p := range pages {
		out[i] = []int64{}
		for _, w := range p {
			out[i] = append(out[i], w.ZuoraID)
		}
	}
	return out
}

// TestReads runs the read endpoints over one private PostgreSQL cluster (a
// cluster of its own: the package's other tests manage theirs).
func TestReads(t *testing.T) {
	cluster := testenv.NewCluster(t)
	base, acme, globex := readServer(t, cluster)
	unknown := uuid.New()

	t.Run("customers", func(t *testing.T) {
		pages := readAll[apiCustomer](t, base+"/api/customers?limit=1")
		require.Len(t, pages, 2)
		require.Equal(t, "acme", pages[0][0].Name)
		require.Equal(t, "globex", pages[1][0].Name)
		require.Equal(t, "s2", *pages[0][0].LastSyncID)
		require.Equal(t, "failed", *pages[0][0].LastSyncStatus)
		require.Nil(t, pages[1][0].LastSyncID, "globex has not finished a sync")

		var all readPage[apiCustomer]
		status, _ := readGet(t, base+"/api/customers", &all)
		require.Equal(t, http.StatusOK, status)
		require.Len(t, all.Items, 2)
		require.Empty(t, all.NextCursor)
	})

	t.Run("customer", func(t *testing.T) {
		var c apiCustomer
		status, body := readGet(t, base+"/api/customers/"+acme.String(), &c)
		require.Equal(t, http.StatusOK, status, body)
		require.Equal(t, "https://acme.zuora.test", c.BaseURL)
		require.Equal(t, "acme-client", c.ClientID)
		require.Equal(t, readAt(11), *c.LastSyncAt)
		require.Equal(t, "s2", c.LastSync.ID)
		require.Equal(t, "failed", c.LastSync.Status)
		require.Equal(t, []string{"page 2: 503"}, c.LastSync.Stats.Errors)

		status, body = readGet(t, base+"/api/customers/"+globex.String(), &c)
		require.Equal(t, http.StatusOK, status, body)
		require.Equal(t, "running", c.LastSync.Status, "the last sync is the latest started")
		require.Equal(t, int64(2), c.LastSync.Stats.Created, "a running sync counts as it goes")
		require.Nil(t, c.LastSync.FinishedAt)
	})

	t.Run("workflows", func(t *testing.T) {
		u := base + "/api/customers/" + acme.String() + "/workflows"
		require.Equal(t, [][]int64{{1, 2, 3}, {4, 5, 6}, {7}}, zuoraIDs(readAll[syncmodel.Workflow](t, u+"?limit=3")))
		require.Equal(t, [][]int64{{1, 2, 3, 4, 5, 6, 7}}, zuoraIDs(readAll[syncmodel.Workflow](t, u)))
		require.Equal(t, [][]int64{{1, 3}, {5, 7}}, zuoraIDs(readAll[syncmodel.Workflow](t, u+"?status=active&limit=2")))
		require.Equal(t, [][]int64{{2, 4, 6}}, zuoraIDs(readAll[syncmodel.Workflow](t, u+"?status=Inactive")))
		require.Equal(t, [][]int64{{6}}, zuoraIDs(readAll[syncmodel.Workflow](t, u+"?q=RUN+6")))
		require.Equal(t, [][]int64{{1, 3, 5, 7}}, zuoraIDs(readAll[syncmodel.Workflow](t, u+"?q=100%25_of&status=active")))
		require.Equal(t, [][]int64{{}}, zuoraIDs(readAll[syncmodel.Workflow](t, u+"?q=100__of")), "LIKE wildcards are literal")
		require.Equal(t, [][]int64{{1, 2}}, zuoraIDs(readAll[syncmodel.Workflow](t, base+"/api/customers/"+globex.String()+"/workflows")),
			"the same Zuora ids, another customer")

		var page readPage[syncmodel.Workflow]
		status, body := readGet(t, u+"?limit=1", &page)
		require.Equal(t, http.StatusOK, status, body)
		w := page.Items[0]
		require.Equal(t, syncmodel.WorkflowID(acme, 1), w.ID)
		require.Equal(t, syncmodel.Workflow{ID: w.ID, Workflow: workflows.Workflow{ZuoraID: 1, Name: "Invoice run 1",
			Description: "bills 100%_of them", Status: "Active", CreatedAt: readAt(-60), UpdatedAt: readAt(-30)},
			LastSyncedAt: ptrTime(readAt(3))}, w)
		var fields map[string]any
		require.NoError(t, json.Unmarshal([]byte(body), &map[string]any{}))
		require.NoError(t, json.Unmarshal(mustItem(t, body), &fields))
		require.ElementsMatch(t, []string{"id", "zuora_id", "name", "description", "status", "created_at", "updated_at",
			"last_synced_at"}, keys(fields))
	})

	t.Run("syncs", func(t *testing.T) {
		pages := readAll[syncmodel.SyncRun](t, base+"/api/customers/"+acme.String()+"/syncs?limit=1")
		require.Len(t, pages, 2)
		require.Equal(t, "s2", pages[0][0].ID, "newest first")
		require.Equal(t, "s1", pages[1][0].ID)

		var s syncmodel.SyncRun
		status, body := readGet(t, base+"/api/syncs/s1", &s)
		require.Equal(t, http.StatusOK, status, body)
		require.Equal(t, syncmodel.SyncRun{ID: "s1", CustomerID: acme, Status: "completed", Trigger: "customer_created",
			Stats: syncmodel.SyncStats{Created: 7, Total: 7, Errors: []string{}}, Pages: 1, StartedAt: readAt(1),
			FinishedAt: ptrTime(readAt(3))}, s)
		var fields map[string]any
		require.NoError(t, json.Unmarshal([]byte(body), &fields))
		require.Subset(t, keys(fields), []string{"id", "customer_id", "status", "trigger", "stats", "pages", "started_at",
			"finished_at", "reason"})
		require.Subset(t, keys(fields["stats"].(map[string]any)), []string{"created", "updated", "deleted", "total", "errors"})

		status, body = readGet(t, base+"/api/syncs/s2", &s)
		require.Equal(t, http.StatusOK, status, body)
		require.Equal(t, "failed", s.Status)
		require.Equal(t, "page 2: 503", s.Reason)
		require.Equal(t, "daily:2026-11-25", s.Slot)
	})

	t.Run("errors", func(t *testing.T) {
		for _, tc := range []struct {
			path   string
			status int
			code   string
			field  string
		}{
			{"/api/customers/" + unknown.String(), http.StatusNotFound, "not_found", ""},
			{"/api/customers/" + unknown.String() + "/workflows", http.StatusNotFound, "not_found", ""},
			{"/api/customers/" + unknown.String() + "/syncs", http.StatusNotFound, "not_found", ""},
			{"/api/syncs/nope", http.StatusNotFound, "not_found", ""},
			{"/api/customers/not-a-uuid", http.StatusBadRequest, "invalid_field", "id"},
			{"/api/customers/not-a-uuid/workflows", http.StatusBadRequest, "invalid_field", "id"},
			{"/api/customers/not-a-uuid/syncs", http.StatusBadRequest, "invalid_field", "id"},
			{"/api/syncs/%00", http.StatusBadRequest, "invalid_field", "id"},
			{"/api/syncs/%ff", http.StatusBadRequest, "invalid_field", "id"},
			{"/api/customers?limit=0", http.StatusBadRequest, "invalid_field", "limit"},
			{"/api/customers?limit=501", http.StatusBadRequest, "invalid_field", "limit"},
			{"/api/customers?limit=x", http.StatusBadRequest, "invalid_field", "limit"},
			{"/api/customers?cursor=nope", http.StatusBadRequest, "invalid_field", "cursor"},
			{"/api/customers?cursor=" + readCursor{Name: "a"}.encode(), http.StatusBadRequest, "invalid_field", "cursor"},
			{"/api/customers?cursor=" + readCursor{Name: "a\u0000", ID: uuid.NewString()}.encode(), http.StatusBadRequest, "invalid_field", "cursor"},
			{"/api/customers?min_seq=-1", http.StatusBadRequest, "invalid_field", "min_seq"},
			{"/api/customers/" + acme.String() + "/workflows?status=paused", http.StatusBadRequest, "invalid_field", "status"},
			{"/api/customers/" + acme.String() + "/workflows?q=%00", http.StatusBadRequest, "invalid_field", "q"},
			{"/api/customers/" + acme.String() + "/workflows?q=%ff", http.StatusBadRequest, "invalid_field", "q"},
			{"/api/customers/" + acme.String() + "/workflows?q=" + strings.Repeat("a", 1025), http.StatusBadRequest, "invalid_field", "q"},
			{"/api/customers/" + acme.String() + "/workflows?cursor=e30", http.StatusOK, "", ""},
			{"/api/customers/" + acme.String() + "/workflows?cursor=!!", http.StatusBadRequest, "invalid_field", "cursor"},
			{"/api/customers/" + acme.String() + "/syncs?cursor=e30", http.StatusBadRequest, "invalid_field", "cursor"},
			{"/api/customers/" + unknown.String() + "/workflows?status=paused", http.StatusBadRequest, "invalid_field", "status"},
		} {
			t.Run(tc.path, func(t *testing.T) {
				var e readAPIError
				status, body := readGet(t, base+tc.path, &e)
				require.Equal(t, tc.status, status, body)
				require.Equal(t, tc.code, e.Error.Code, body)
				require.Equal(t, tc.field, e.Error.Field, body)
				if tc.code != "" {
					require.NotEmpty(t, e.Error.Message)
				}
			})
		}
	})
}

func ptrTime(t time.Time) *time.Time { return &t }

func keys(m map[string]any) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}

// mustItem returns the first item of a page's JSON body.
func mustItem(t *testing.T, body string) []byte {
	t.Helper()
	var page struct {
		Items []json.RawMessage `json:"items"`
	}
	require.NoError(t, json.Unmarshal([]byte(body), &page))
	require.NotEmpty(t, page.Items)
	return page.Items[0]
}

func TestReadWorkflowSQLBindsEveryValue(t *testing.T) {
	c := uuid.New()
	wq := readWorkflowQuery{readList: readList{limit: 10, cursor: &readCursor{ZuoraID: 42}}, status: "Active",
		q: "'; DROP TABLE workflows; --"}
	sql, args := wq.filter().SQL(c)
	require.NotContains(t, sql, "DROP")
	require.Contains(t, sql, `WHERE customer_id = $1 AND status = $2 AND (name ILIKE $3 OR description ILIKE $3) AND zuora_id > $4 ORDER BY zuora_id LIMIT $5`)
	require.Equal(t, []any{c, "Active", "%'; DROP TABLE workflows; --%", int64(42), 11}, args)
}
