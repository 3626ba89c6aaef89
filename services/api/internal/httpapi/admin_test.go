package httpapi

import (
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/instachat/instachat/pkg/queue"
	"github.com/instachat/instachat/pkg/testenv"
)

const testAdminToken = "admin-s3cret"

// adminServer returns the api's handler over a two-partition queue on a fresh
// key prefix. The admin endpoints need no chats service.
func adminServer(t *testing.T, adminToken string) (http.Handler, *queue.Queue, *redis.Client) {
	t.Helper()
	rdb, prefix := testenv.Redis(t)
	keys := queue.NewKeys(prefix, 2)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	return NewServer(Config{AdminToken: adminToken}, nil, queue.NewInspector(rdb, keys), log), queue.New(rdb, keys, queue.DefaultConfig()), rdb
}

// call sends a request with an Authorization header (none when empty).
func call(t *testing.T, h http.Handler, method, target, auth string) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(method, target, nil)
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

func basic(user, password string) string {
	req := httptest.NewRequest(http.MethodGet, "/", nil)
	req.SetBasicAuth(user, password)
	return req.Header.Get("Authorization")
}

func checkStatus(t *testing.T, rec *httptest.ResponseRecorder, what string, want int) {
	t.Helper()
	if rec.Code != want {
		t.Errorf("%s: got status %d (%s), want %d", what, rec.Code, rec.Body.String(), want)
	}
	if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("%s: got Content-Type %q, want JSON", what, ct)
	}
}

// buryAdminJob buries a message job of app with the given id.
func buryAdminJob(t *testing.T, q *queue.Queue, app, id string, n int64) {
	t.Helper()
	e := queue.Envelope{ID: id, Type: queue.TypeMessageCreate, App: app, Body: "body of " + id, Time: time.Now().UnixMicro(), Chat: 2, Message: n, Trace: "trace-" + id}
	if err := q.Bury(t.Context(), e, errors.New("chat 2 is missing")); err != nil {
		t.Fatalf("Bury(%s): %v", id, err)
	}
}

func TestAdminAuth(t *testing.T) {
	h, _, _ := adminServer(t, testAdminToken)
	tests := []struct {
		name, auth string
		want       int
	}{
		{"no credentials", "", http.StatusUnauthorized},
		{"wrong bearer", "Bearer nope", http.StatusUnauthorized},
		{"empty bearer", "Bearer ", http.StatusUnauthorized},
		{"token prefix", "Bearer " + testAdminToken[:5], http.StatusUnauthorized},
		{"token without scheme", testAdminToken, http.StatusUnauthorized},
		{"wrong basic password", basic("admin", "nope"), http.StatusUnauthorized},
		{"token as basic user", basic(testAdminToken, ""), http.StatusUnauthorized},
		{"bearer", "Bearer " + testAdminToken, http.StatusOK},
		{"bearer, lower case", "bearer " + testAdminToken, http.StatusOK},
		{"basic, any user", basic("anyone", testAdminToken), http.StatusOK},
	}
	for _, tt := range tests {
		rec := call(t, h, http.MethodGet, "/admin/dead", tt.auth)
		checkStatus(t, rec, tt.name, tt.want)
		if tt.want == http.StatusUnauthorized {
			challenges := strings.Join(rec.Header().Values("WWW-Authenticate"), ", ")
			if !strings.Contains(challenges, "Basic ") || !strings.Contains(challenges, "Bearer ") {
				t.Errorf("%s: got WWW-Authenticate %q, want Basic and Bearer challenges", tt.name, challenges)
			}
		}
	}
	// Every admin route is guarded, not only the list.
	for _, r := range [][2]string{{"POST", "/admin/dead/x/replay"}, {"DELETE", "/admin/dead/x"}, {"POST", "/admin/dead/replay-all"}, {"DELETE", "/admin/dead"}} {
		checkStatus(t, call(t, h, r[0], r[1], "Bearer nope"), r[0]+" "+r[1], http.StatusUnauthorized)
	}
}

func TestAdminDisabledWithoutToken(t *testing.T) {
	h, _, _ := adminServer(t, "")
	for _, auth := range []string{"", "Bearer ", basic("admin", "")} {
		rec := call(t, h, http.MethodGet, "/admin/dead", auth)
		checkStatus(t, rec, "admin without ADMIN_TOKEN", http.StatusForbidden)
		if !strings.Contains(rec.Body.String(), "admin endpoints are disabled: set ADMIN_TOKEN") {
			t.Errorf("admin without ADMIN_TOKEN: got %s, want it to say how to enable them", rec.Body.String())
		}
	}
}

func TestAdminListDead(t *testing.T) {
	h, q, _ := adminServer(t, testAdminToken)
	// A job from before token digests carries the token itself in app.
	const app = "legacy-application-token-0000000001"
	buryAdminJob(t, q, app, "ev-1", 1)
	const garbage = `{"app": "another-secret-token"`
	if err := q.BuryRaw(t.Context(), 1, garbage); err != nil {
		t.Fatal(err)
	}
	auth := "Bearer " + testAdminToken

	rec := call(t, h, http.MethodGet, "/admin/dead", auth)
	checkStatus(t, rec, "GET /admin/dead", http.StatusOK)
	for _, secret := range []string{app, "another-secret-token"} {
		if strings.Contains(rec.Body.String(), secret) {
			t.Errorf("GET /admin/dead shows %q: %s", secret, rec.Body.String())
		}
	}
	var list DeadJobList
	if err := json.Unmarshal(rec.Body.Bytes(), &list); err != nil {
		t.Fatalf("decode %s: %v", rec.Body.String(), err)
	}
	if list.Total != 2 || len(list.Jobs) != 2 || list.Page != 1 || list.PerPage != 20 {
		t.Fatalf("GET /admin/dead: got %+v, want 2 jobs on page 1 of 20", list)
	}
	var job, raw DeadJob
	for _, j := range list.Jobs {
		if j.Decoded {
			job = j
		} else {
			raw = j
		}
	}
	if job.ID != "ev-1" || job.Type != queue.TypeMessageCreate || job.Chat != 2 || job.Message != 1 || job.Body != "body of ev-1" ||
		job.Attempt != 1 || job.Error != "chat 2 is missing" || job.EventTime == nil || job.Trace != "trace-ev-1" || job.Partition != q.Keys().Partition(app) {
		t.Errorf("dead job: got %+v, want ev-1 with its fields", job)
	}
	if !strings.HasPrefix(raw.ID, "raw-") || raw.Partition != 1 || raw.Type != "" || raw.EventTime != nil {
		t.Errorf("undecodable dead job: got %+v, want its id and partition only", raw)
	}

	rec = call(t, h, http.MethodGet, "/admin/dead?partition=1&per_page=1&page=1", auth)
	checkStatus(t, rec, "GET /admin/dead?partition=1", http.StatusOK)
	if err := json.Unmarshal(rec.Body.Bytes(), &list); err != nil || list.Total < 1 || len(list.Jobs) != 1 || list.Jobs[0].Partition != 1 || list.PerPage != 1 {
		t.Errorf("GET /admin/dead?partition=1&per_page=1: got %s, want one job of partition 1", rec.Body.String())
	}
	rec = call(t, h, http.MethodGet, "/admin/dead?page=3&per_page=1", auth)
	if err := json.Unmarshal(rec.Body.Bytes(), &list); err != nil || rec.Code != http.StatusOK || len(list.Jobs) != 0 || list.Total != 2 {
		t.Errorf("GET /admin/dead?page=3&per_page=1: got %d %s, want no jobs of 2", rec.Code, rec.Body.String())
	}

	for _, query := range []string{"page=0", "page=x", "per_page=0", "per_page=101", "page=100001", "partition=2", "partition=-2", "partition=x"} {
		checkStatus(t, call(t, h, http.MethodGet, "/admin/dead?"+query, auth), "GET /admin/dead?"+query, http.StatusBadRequest)
	}
}

func TestAdminReplayAndDiscard(t *testing.T) {
	h, q, rdb := adminServer(t, testAdminToken)
	auth := "Bearer " + testAdminToken
	const app = "app-digest-0001"
	p := q.Keys().Partition(app)
	buryAdminJob(t, q, app, "ev-1", 1)
	buryAdminJob(t, q, app, "ev-2", 2)
	if err := q.BuryRaw(t.Context(), 0, "garbage"); err != nil {
		t.Fatal(err)
	}
	jobs, _, err := queue.NewInspector(rdb, q.Keys()).Dead(t.Context(), 0, 0, 1)
	if err != nil {
		t.Fatal(err)
	}
	garbageID := jobs[0].ID

	rec := call(t, h, http.MethodPost, "/admin/dead/ev-1/replay", auth)
	checkStatus(t, rec, "replay ev-1", http.StatusOK)
	if strings.TrimSpace(rec.Body.String()) != `{"replayed":true}` {
		t.Errorf("replay ev-1: got %s, want {\"replayed\":true}", rec.Body.String())
	}
	raw, err := rdb.RPop(t.Context(), q.Keys().Pending(p)).Result()
	if err != nil {
		t.Fatalf("pending after replay: %v", err)
	}
	if e, err := queue.Decode(raw); err != nil || e.ID != "ev-1" || e.Attempt != 0 || e.Error != "" {
		t.Errorf("replayed job: got %+v, %v; want ev-1 with attempts reset", e, err)
	}
	checkStatus(t, call(t, h, http.MethodPost, "/admin/dead/ev-1/replay", auth), "replay ev-1 again", http.StatusNotFound)
	checkStatus(t, call(t, h, http.MethodPost, "/admin/dead/nope/replay", auth), "replay unknown id", http.StatusNotFound)
	checkStatus(t, call(t, h, http.MethodPost, "/admin/dead/"+garbageID+"/replay", auth), "replay undecodable", http.StatusConflict)

	rec = call(t, h, http.MethodDelete, "/admin/dead/ev-2", auth)
	checkStatus(t, rec, "discard ev-2", http.StatusOK)
	if strings.TrimSpace(rec.Body.String()) != `{"discarded":true}` {
		t.Errorf("discard ev-2: got %s, want {\"discarded\":true}", rec.Body.String())
	}
	checkStatus(t, call(t, h, http.MethodDelete, "/admin/dead/ev-2", auth), "discard ev-2 again", http.StatusNotFound)
	checkStatus(t, call(t, h, http.MethodDelete, "/admin/dead/nope", auth), "discard unknown id", http.StatusNotFound)
	if n := rdb.LLen(t.Context(), q.Keys().Pending(p)).Val(); n != 0 {
		t.Errorf("pending after discard: got %d jobs, want 0", n)
	}
}

func TestAdminBulk(t *testing.T) {
	h, q, rdb := adminServer(t, testAdminToken)
	auth := "Bearer " + testAdminToken
	for i, app := range []string{"app-a", "app-b", "app-c", "app-d"} {
		buryAdminJob(t, q, app, "ev-"+app, int64(i+1))
	}
	if err := q.BuryRaw(t.Context(), 1, "garbage"); err != nil {
		t.Fatal(err)
	}

	checkStatus(t, call(t, h, http.MethodPost, "/admin/dead/replay-all?partition=7", auth), "replay-all bad partition", http.StatusBadRequest)
	rec := call(t, h, http.MethodPost, "/admin/dead/replay-all", auth)
	checkStatus(t, rec, "replay-all", http.StatusOK)
	var replayed ReplayAllResult
	if err := json.Unmarshal(rec.Body.Bytes(), &replayed); err != nil || replayed != (ReplayAllResult{Replayed: 4, Remaining: 1}) {
		t.Errorf("replay-all: got %s, want 4 replayed and 1 remaining", rec.Body.String())
	}
	if n := rdb.LLen(t.Context(), q.Keys().Pending(0)).Val() + rdb.LLen(t.Context(), q.Keys().Pending(1)).Val(); n != 4 {
		t.Errorf("pending after replay-all: got %d jobs, want 4", n)
	}

	rec = call(t, h, http.MethodDelete, "/admin/dead", auth)
	checkStatus(t, rec, "discard all", http.StatusOK)
	if strings.TrimSpace(rec.Body.String()) != `{"discarded":1}` {
		t.Errorf("discard all: got %s, want {\"discarded\":1}", rec.Body.String())
	}
	if _, total, _ := queue.NewInspector(rdb, q.Keys()).Dead(t.Context(), -1, 0, 1); total != 0 {
		t.Errorf("dead after discard all: got %d jobs, want 0", total)
	}
}
