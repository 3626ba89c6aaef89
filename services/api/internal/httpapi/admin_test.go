package httpapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/instachat/instachat/pkg/chat"
	"github.com/instachat/instachat/pkg/queue"
	"github.com/instachat/instachat/pkg/testenv"
	"github.com/instachat/instachat/services/api/internal/chats"
)

const testAdminToken = "admin-s3cret"

// adminServer returns the api's handler over a two-partition queue on a fresh
// key prefix, both lanes. The dead-job endpoints need no chats service.
func adminServer(t *testing.T, adminToken string) (http.Handler, *queue.Queue, *redis.Client) {
	t.Helper()
	rdb, prefix := testenv.Redis(t)
	keys := queue.NewKeys(prefix, 2)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	cfg := Config{AdminToken: adminToken, Hooks: queue.NewInspector(rdb, keys.Hooks())}
	return NewServer(cfg, nil, queue.NewInspector(rdb, keys), log), queue.New(rdb, keys, queue.DefaultConfig()), rdb
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

// buryDelivery buries a webhook delivery of app's event id to endpoint hook
// on hq, a queue of the hooks lane, and returns its dead job id.
func buryDelivery(t *testing.T, hq *queue.Queue, app, id, hook string) string {
	t.Helper()
	e := queue.Envelope{ID: id, Type: queue.TypeMessageCreate, App: app, Body: "hi", Time: time.Now().UnixMicro(), Chat: 1, Message: 3,
		Ev: "1764324000123-42", Hook: hook}
	if err := hq.Bury(t.Context(), e, errors.New("HTTP 500")); err != nil {
		t.Fatalf("Bury(%s): %v", e.Ref(), err)
	}
	return e.Ref()
}

func TestAdminHooksLane(t *testing.T) {
	h, q, rdb := adminServer(t, testAdminToken)
	auth := "Bearer " + testAdminToken
	hq := queue.New(rdb, q.Keys().Hooks(), queue.DefaultConfig())
	const app = "app-digest-0001"
	p := q.Keys().Partition(app)
	ref := buryDelivery(t, hq, app, "ev-1", "wh_a")
	buryAdminJob(t, q, app, "ev-job", 1)

	list := func(query string) DeadJobList {
		t.Helper()
		rec := call(t, h, http.MethodGet, "/admin/dead"+query, auth)
		checkStatus(t, rec, "GET /admin/dead"+query, http.StatusOK)
		var l DeadJobList
		if err := json.Unmarshal(rec.Body.Bytes(), &l); err != nil {
			t.Fatalf("decode %s: %v", rec.Body.String(), err)
		}
		return l
	}
	if l := list("?lane=hooks"); l.Lane != "hooks" || l.Total != 1 || len(l.Jobs) != 1 || l.Jobs[0].ID != ref || l.Jobs[0].Hook != "wh_a" ||
		l.Jobs[0].Position != "1764324000123-42" || l.Jobs[0].Error != "HTTP 500" || l.Jobs[0].Partition != p {
		t.Errorf("GET /admin/dead?lane=hooks: got %+v, want the delivery %s with its webhook and position", l, ref)
	}
	for _, query := range []string{"", "?lane=jobs"} {
		if l := list(query); l.Lane != "jobs" || l.Total != 1 || l.Jobs[0].ID != "ev-job" || l.Jobs[0].Hook != "" {
			t.Errorf("GET /admin/dead%s: got %+v, want the jobs lane's dead job only", query, l)
		}
	}

	// A lane that is neither is refused on every dead-job route, before anything moves.
	for _, r := range [][2]string{{"GET", "/admin/dead"}, {"DELETE", "/admin/dead"}, {"POST", "/admin/dead/replay-all"},
		{"POST", "/admin/dead/" + ref + "/replay"}, {"DELETE", "/admin/dead/" + ref}} {
		for _, lane := range []string{"Hooks", "x", "jobs,hooks"} {
			rec := call(t, h, r[0], r[1]+"?lane="+lane, auth)
			checkStatus(t, rec, r[0]+" "+r[1]+"?lane="+lane, http.StatusBadRequest)
			if !strings.Contains(rec.Body.String(), `lane must be \"jobs\"`) {
				t.Errorf("%s %s?lane=%s: got %s, want it to name the lanes", r[0], r[1], lane, rec.Body.String())
			}
		}
	}
	// A delivery is not a job: the jobs lane does not know its id.
	checkStatus(t, call(t, h, http.MethodPost, "/admin/dead/"+ref+"/replay", auth), "replay a delivery on the jobs lane", http.StatusNotFound)
	checkStatus(t, call(t, h, http.MethodPost, "/admin/dead/"+ref+"/replay?lane=hooks", auth), "replay a delivery", http.StatusOK)
	raw, err := rdb.RPop(t.Context(), hq.Keys().Pending(p)).Result()
	if err != nil {
		t.Fatalf("hooks lane's pending after replay: %v", err)
	}
	if e, err := queue.Decode(raw); err != nil || e.Ref() != ref || e.Attempt != 0 || e.Error != "" {
		t.Errorf("replayed delivery: got %+v, %v; want %s with attempts reset", e, err, ref)
	}
	if n := rdb.LLen(t.Context(), q.Keys().Pending(p)).Val(); n != 0 {
		t.Errorf("jobs lane's pending after a hooks replay: got %d jobs, want 0", n)
	}
	buryDelivery(t, hq, app, "ev-1", "wh_a")
	checkStatus(t, call(t, h, http.MethodDelete, "/admin/dead/"+ref+"?lane=hooks", auth), "discard a delivery", http.StatusOK)

	buryDelivery(t, hq, app, "ev-2", "wh_a")
	buryDelivery(t, hq, app, "ev-2", "wh_b")
	rec := call(t, h, http.MethodPost, "/admin/dead/replay-all?lane=hooks", auth)
	var replayed ReplayAllResult
	if err := json.Unmarshal(rec.Body.Bytes(), &replayed); err != nil || replayed != (ReplayAllResult{Replayed: 2}) {
		t.Errorf("replay-all on the hooks lane: got %d %s, want 2 replayed", rec.Code, rec.Body.String())
	}
	buryDelivery(t, hq, app, "ev-3", "wh_a")
	rec = call(t, h, http.MethodDelete, "/admin/dead?lane=hooks", auth)
	if strings.TrimSpace(rec.Body.String()) != `{"discarded":1}` {
		t.Errorf("discard all on the hooks lane: got %s, want {\"discarded\":1}", rec.Body.String())
	}
	if l := list(""); l.Total != 1 {
		t.Errorf("the jobs lane after the hooks lane's bulk actions: got %d dead, want 1", l.Total)
	}

	// A server without the hooks lane says so.
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	bare := NewServer(Config{AdminToken: testAdminToken}, nil, queue.NewInspector(rdb, q.Keys()), log)
	checkStatus(t, call(t, bare, http.MethodGet, "/admin/dead?lane=hooks", auth), "hooks lane not configured", http.StatusServiceUnavailable)
}

func TestAdminWebhookDeliveries(t *testing.T) {
	d := newDeps(t, 2)
	h := NewServer(Config{AdminToken: testAdminToken, Hooks: queue.NewInspector(d.rdb, d.keys.Hooks())}, d.svc, d.in, d.log)
	app, _, err := d.svc.CreateApplication(t.Context(), "Hooked", chats.Write{})
	if err != nil {
		t.Fatal(err)
	}
	other, _, err := d.svc.CreateApplication(t.Context(), "Quiet", chats.Write{})
	if err != nil {
		t.Fatal(err)
	}
	hq := queue.New(d.rdb, d.keys.Hooks(), queue.DefaultConfig())
	at := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	for i := range 60 {
		rec := queue.HookDelivery{ID: fmt.Sprintf("ev-%02d.wh_a", i), Endpoint: "wh_a", Event: "message.created", Position: fmt.Sprintf("1-%d", i+1),
			Attempt: 1, Outcome: "http_error", Status: 500, DurationMS: 12, Excerpt: "down", Error: "HTTP 500", Next: "retry"}
		if err := hq.RecordHookDelivery(t.Context(), chat.TokenDigest(app.Token), rec, at.Add(time.Duration(i)*time.Second)); err != nil {
			t.Fatal(err)
		}
	}
	auth := "Bearer " + testAdminToken
	path := func(token string) string { return "/admin/applications/" + token + "/webhook-deliveries" }
	get := func(target string) WebhookDeliveryList {
		t.Helper()
		rec := call(t, h, http.MethodGet, target, auth)
		checkStatus(t, rec, "GET "+target, http.StatusOK)
		var l WebhookDeliveryList
		if err := json.Unmarshal(rec.Body.Bytes(), &l); err != nil {
			t.Fatalf("decode %s: %v", rec.Body.String(), err)
		}
		return l
	}

	l := get(path(app.Token))
	if len(l.Deliveries) != 50 {
		t.Fatalf("default limit: got %d deliveries, want 50", len(l.Deliveries))
	}
	newest := l.Deliveries[0]
	want := WebhookDelivery{ID: "ev-59.wh_a", Endpoint: "wh_a", Event: "message.created", Position: "1-60", Attempt: 1, Outcome: "http_error",
		Status: 500, DurationMS: 12, At: at.Add(59 * time.Second), Excerpt: "down", Error: "HTTP 500", Next: "retry"}
	if !newest.At.Equal(want.At) {
		t.Errorf("newest delivery at %v, want %v", newest.At, want.At)
	}
	newest.At = want.At
	if newest != want {
		t.Errorf("newest delivery: got %+v, want %+v", newest, want)
	}
	if n := len(get(path(app.Token) + "?limit=100").Deliveries); n != 60 {
		t.Errorf("limit=100: got %d deliveries, want all 60", n)
	}
	if l := get(path(app.Token) + "?limit=2"); len(l.Deliveries) != 2 || l.Deliveries[1].ID != "ev-58.wh_a" {
		t.Errorf("limit=2: got %+v, want the newest two", l.Deliveries)
	}
	if l := get(path(other.Token)); l.Deliveries == nil || len(l.Deliveries) != 0 {
		t.Errorf("an application without deliveries: got %+v, want an empty list", l)
	}

	for _, query := range []string{"limit=0", "limit=101", "limit=x", "limit=-1"} {
		checkStatus(t, call(t, h, http.MethodGet, path(app.Token)+"?"+query, auth), "GET deliveries?"+query, http.StatusBadRequest)
	}
	checkStatus(t, call(t, h, http.MethodGet, path("no-such-token-000000000000000000000"), auth), "unknown token", http.StatusNotFound)
	checkStatus(t, call(t, h, http.MethodGet, path(app.Token), ""), "no credentials", http.StatusUnauthorized)
	checkStatus(t, call(t, h, http.MethodGet, path(app.Token), app.Token), "the application's own token", http.StatusUnauthorized)
}
