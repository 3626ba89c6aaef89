package dashboard_test

import (
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/instachat/instachat/pkg/queue"
	"github.com/instachat/instachat/pkg/testenv"
	"github.com/instachat/instachat/services/api/internal/dashboard"
)

// app is an application digest as jobs carry it; the page may show only its start.
const app = "0123456789abcdef01234567"

// lanes are the two pages the api mounts.
var lanes = []dashboard.Lane{{Name: "Jobs", Path: "/admin/queues"}, {Name: "Webhook deliveries", Path: "/admin/queues/hooks"}}

// server mounts the jobs lane's dashboard the way the api's routes do.
func server(q *queue.Inspector) http.Handler {
	mux := http.NewServeMux()
	mount(mux, q, "/admin/queues")
	return mux
}

// lanesServer mounts both lanes' pages, each over its inspector.
func lanesServer(jobs, hooks *queue.Inspector) http.Handler {
	mux := http.NewServeMux()
	mount(mux, jobs, "/admin/queues")
	mount(mux, hooks, "/admin/queues/hooks")
	return mux
}

func mount(mux *http.ServeMux, q *queue.Inspector, path string) {
	d := dashboard.New(dashboard.Config{Path: path, AdminToken: "s3cret", StalledAfter: time.Hour, Lanes: lanes}, q, slog.New(slog.NewTextHandler(io.Discard, nil)))
	mux.Handle("GET "+path, d.Page())
	mux.Handle("GET "+path+"/assets/", d.Assets())
	mux.Handle("POST "+path+"/dead/retry", d.Retry())
	mux.Handle("POST "+path+"/dead/discard", d.Discard())
	mux.Handle("POST "+path+"/dead/retry-all", d.RetryAll())
	mux.Handle("POST "+path+"/dead/discard-all", d.DiscardAll())
}

func envelope(id string, chat, message int64, age time.Duration) queue.Envelope {
	return queue.Envelope{ID: id, Type: queue.TypeMessageCreate, App: app, Chat: chat, Message: message,
		Body: "hello   world\nfrom " + id, Time: time.Now().Add(-age).UnixMicro()}
}

// seed fills every state of a one-partition queue: 2 pending, 1 processing
// (its consumer gone), 1 retry, 1 parked, 2 dead (one that does not decode),
// and 3 completed jobs.
func seed(t *testing.T) (*queue.Queue, *queue.Inspector) {
	t.Helper()
	ctx := t.Context()
	rdb, prefix := testenv.Redis(t)
	q := queue.New(rdb, queue.NewKeys(prefix, 1), queue.DefaultConfig())
	for i, e := range []queue.Envelope{envelope("proc-1", 1, 1, time.Minute), envelope("pend-1", 1, 2, time.Minute), envelope("pend-2", 1, 3, 0)} {
		if err := q.Push(ctx, e); err != nil {
			t.Fatalf("push %d: %v", i, err)
		}
	}
	c := q.NewConsumer(0, "writer-1")
	if got, err := c.Fetch(ctx, 1, 0); err != nil || len(got) != 1 {
		t.Fatalf("fetch: got %d, %v; want 1 job", len(got), err)
	}
	if err := rdb.Del(ctx, q.Keys().Heartbeat(0, "writer-1")).Err(); err != nil {
		t.Fatal(err)
	}
	if _, err := q.Retry(ctx, envelope("retry-1", 2, 1, time.Minute), errors.New("deadlock found"), time.Now()); err != nil {
		t.Fatal(err)
	}
	if _, err := q.Park(ctx, envelope("park-1", 3, 1, time.Minute), queue.ParentChat(app, 3), time.Now()); err != nil {
		t.Fatal(err)
	}
	if err := q.Bury(ctx, envelope("dead-1", 4, 1, time.Hour), errors.New("chat 4 is <missing>")); err != nil {
		t.Fatal(err)
	}
	if err := q.BuryRaw(ctx, 0, "not a job"); err != nil {
		t.Fatal(err)
	}
	done := []queue.Completed{
		queue.CompletedFrom(envelope("done-1", 1, 7, time.Second), "applied"),
		queue.CompletedFrom(envelope("done-2", 1, 8, time.Second), "duplicate"),
	}
	if err := q.RecordCompleted(ctx, 0, done, 1, time.Now()); err != nil {
		t.Fatal(err)
	}
	return q, queue.NewInspector(rdb, q.Keys())
}

func get(t *testing.T, h http.Handler, target string) *httptest.ResponseRecorder {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, target, nil))
	return rec
}

func post(t *testing.T, h http.Handler, target string, form url.Values, header map[string]string) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(http.MethodPost, target, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for k, v := range header {
		req.Header.Set(k, v)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

var csrfField = regexp.MustCompile(`name="csrf" value="([0-9a-f]+)"`)

// csrf reads the forms' token from a rendered page, as a browser would post it.
func csrf(t *testing.T, page string) string {
	t.Helper()
	m := csrfField.FindStringSubmatch(page)
	if m == nil {
		t.Fatal("no csrf field on the page")
	}
	return m[1]
}

func contains(t *testing.T, what, page string, want ...string) {
	t.Helper()
	for _, w := range want {
		if !strings.Contains(page, w) {
			t.Errorf("%s: page lacks %q", what, w)
		}
	}
}

func TestPageShowsEveryState(t *testing.T) {
	q, in := seed(t)
	if err := q.BuryConflict(t.Context(), envelope("conflict-1", 4, 2, time.Hour), errors.New("number taken")); err != nil {
		t.Fatal(err)
	}
	h := server(in)
	rec := get(t, h, "/admin/queues?state=dead")
	if rec.Code != http.StatusOK || !strings.HasPrefix(rec.Header().Get("Content-Type"), "text/html") {
		t.Fatalf("GET dead: got %d %q, want 200 HTML", rec.Code, rec.Header().Get("Content-Type"))
	}
	if csp := rec.Header().Get("Content-Security-Policy"); !strings.Contains(csp, "frame-ancestors 'none'") || !strings.Contains(csp, "script-src 'self'") {
		t.Errorf("Content-Security-Policy: got %q, want self-only scripts and no framing", csp)
	}
	page := rec.Body.String()
	contains(t, "dead", page,
		`id="total-pending">2<`, `id="total-processing">1<`, `id="total-retry">1<`, `id="total-parked">1<`, `id="total-dead">3<`,
		`id="sum-dead">3<`, `id="stalled-count">1 stalled<`,
		"chat 4 is &lt;missing&gt;", // escaped
		"01234567…", "does not decode as a job",
		">number conflict</span>", ">Renumber</button>", // a number conflict's retry renumbers it
		`action="/admin/queues/dead/retry"`, `action="/admin/queues/dead/discard"`, "Retry all",
		"done-2", "duplicate", // recently completed
		"2 processed", "1 failed", "<svg", // the chart
	)
	if strings.Contains(page, app) {
		t.Error("the page shows an application digest in full; want it abbreviated")
	}

	tests := []struct {
		state string
		want  []string
	}{
		{"pending", []string{"pend-1", "pend-2", "hello world from pend-1"}},
		{"processing", []string{"proc-1", "writer-1", "consumer heartbeat expired", `class="stalled"`}},
		{"retry", []string{"retry-1", "deadlock found", "due in "}},
		{"parked", []string{"park-1", "waits for 01234567… chat 3; due in "}},
		{"nonsense", []string{"pend-1"}}, // falls back to pending
	}
	for _, tt := range tests {
		rec := get(t, h, "/admin/queues?state="+tt.state)
		if rec.Code != http.StatusOK {
			t.Errorf("GET %s: got %d, want 200", tt.state, rec.Code)
		}
		contains(t, tt.state, rec.Body.String(), tt.want...)
	}
	if rec := get(t, h, "/admin/queues?state=dead&partition=7&page=-3"); rec.Code != http.StatusOK {
		t.Errorf("GET with a bad partition and page: got %d, want 200 (all partitions, page 1)", rec.Code)
	}
}

func TestRetryAndDiscardForms(t *testing.T) {
	q, in := seed(t)
	h := server(in)
	token := csrf(t, get(t, h, "/admin/queues?state=dead").Body.String())
	form := func(id, csrf string) url.Values {
		return url.Values{"id": {id}, "csrf": {csrf}, "state": {"dead"}, "partition": {"-1"}, "page": {"1"}}
	}
	depth := func() queue.Depth {
		t.Helper()
		d, err := in.Depths(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		return d[0]
	}

	for _, tt := range []struct {
		name   string
		form   url.Values
		header map[string]string
	}{
		{"no token", form("dead-1", ""), nil},
		{"wrong token", form("dead-1", strings.Repeat("0", 64)), nil},
		{"cross-site", form("dead-1", token), map[string]string{"Sec-Fetch-Site": "cross-site"}},
	} {
		if rec := post(t, h, "/admin/queues/dead/retry", tt.form, tt.header); rec.Code != http.StatusForbidden {
			t.Errorf("retry with %s: got %d, want 403", tt.name, rec.Code)
		}
	}
	if d := depth(); d.Dead != 2 || d.Pending != 2 {
		t.Fatalf("after refused forms: got %+v, want 2 dead and 2 pending", d)
	}

	rec := post(t, h, "/admin/queues/dead/retry", form("dead-1", token), map[string]string{"Sec-Fetch-Site": "same-origin"})
	loc := rec.Header().Get("Location")
	if rec.Code != http.StatusSeeOther || !strings.HasPrefix(loc, "/admin/queues?") || !strings.Contains(loc, "done=replayed") {
		t.Fatalf("retry: got %d to %q, want 303 back to the dashboard with done=replayed", rec.Code, loc)
	}
	if d := depth(); d.Dead != 1 || d.Pending != 3 {
		t.Errorf("after retry: got %+v, want 1 dead and 3 pending", d)
	}
	contains(t, "after retry", get(t, h, loc).Body.String(), "Dead job dead-1 is queued again", `id="total-dead">1<`, `id="total-pending">3<`)

	// The same form again finds nothing; the undecodable job can only be discarded.
	rec = post(t, h, "/admin/queues/dead/retry", form("dead-1", token), nil)
	contains(t, "retry again", get(t, h, rec.Header().Get("Location")).Body.String(), "No dead job dead-1 any more")
	dead, _, err := in.Dead(t.Context(), -1, 0, 10)
	if err != nil || len(dead) != 1 {
		t.Fatalf("dead jobs: got %d, %v; want the undecodable one", len(dead), err)
	}
	rec = post(t, h, "/admin/queues/dead/retry", form(dead[0].ID, token), nil)
	contains(t, "retry undecodable", get(t, h, rec.Header().Get("Location")).Body.String(), "cannot be retried; discard it")
	rec = post(t, h, "/admin/queues/dead/discard", form(dead[0].ID, token), nil)
	if !strings.Contains(rec.Header().Get("Location"), "done=discarded") {
		t.Errorf("discard: got Location %q, want done=discarded", rec.Header().Get("Location"))
	}
	if d := depth(); d.Dead != 0 || d.Pending != 3 {
		t.Errorf("after discard: got %+v, want 0 dead and 3 pending", d)
	}

	// Bulk forms, and a redirect that cannot be steered elsewhere.
	if err := q.Bury(t.Context(), envelope("dead-2", 5, 1, 0), errors.New("x")); err != nil {
		t.Fatal(err)
	}
	bulk := url.Values{"csrf": {token}, "state": {"https://evil.example/"}, "partition": {"0"}}
	rec = post(t, h, "/admin/queues/dead/retry-all", bulk, nil)
	loc = rec.Header().Get("Location")
	if !strings.HasPrefix(loc, "/admin/queues?") || !strings.Contains(loc, "done=replayed-all") || !strings.Contains(loc, "n=1") {
		t.Errorf("retry all: got Location %q, want the dashboard with done=replayed-all&n=1", loc)
	}
	if err := q.Bury(t.Context(), envelope("dead-3", 5, 2, 0), errors.New("x")); err != nil {
		t.Fatal(err)
	}
	rec = post(t, h, "/admin/queues/dead/discard-all", bulk, nil)
	if loc := rec.Header().Get("Location"); !strings.Contains(loc, "done=discarded-all") || !strings.Contains(loc, "n=1") {
		t.Errorf("discard all: got Location %q, want done=discarded-all&n=1", loc)
	}
	if d := depth(); d.Dead != 0 || d.Pending != 4 {
		t.Errorf("after bulk forms: got %+v, want 0 dead and 4 pending", d)
	}
}

func TestAssets(t *testing.T) {
	h := server(queue.NewInspector(nil, queue.NewKeys("unused:", 1)))
	for _, tt := range []struct{ path, contentType string }{
		{"/admin/queues/assets/style.css", "text/css"},
		{"/admin/queues/assets/app.js", "javascript"},
	} {
		rec := get(t, h, tt.path)
		if rec.Code != http.StatusOK || !strings.Contains(rec.Header().Get("Content-Type"), tt.contentType) || rec.Body.Len() == 0 {
			t.Errorf("GET %s: got %d %q (%d bytes), want 200 %s", tt.path, rec.Code, rec.Header().Get("Content-Type"), rec.Body.Len(), tt.contentType)
		}
	}
	if rec := get(t, h, "/admin/queues/assets/nope.css"); rec.Code != http.StatusNotFound {
		t.Errorf("GET a missing asset: got %d, want 404", rec.Code)
	}
}

func TestPageWithRedisDown(t *testing.T) {
	rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", MaxRetries: -1, DialTimeout: 200 * time.Millisecond})
	t.Cleanup(func() { rdb.Close() })
	h := server(queue.NewInspector(rdb, queue.NewKeys("down:", 1)))
	rec := get(t, h, "/admin/queues")
	if rec.Code != http.StatusServiceUnavailable {
		t.Errorf("GET with Redis down: got %d, want 503", rec.Code)
	}
	contains(t, "Redis down", rec.Body.String(), "Redis is unavailable", `<a href="/admin/queues/hooks">Webhook deliveries</a>`)
}

// delivery is a webhook delivery job of event id to endpoint hook.
func delivery(id, hook string, age time.Duration) queue.Envelope {
	e := envelope(id, 7, 3, age)
	e.Ev, e.Hook = "1764324000123-9", hook
	return e
}

func TestHooksLanePage(t *testing.T) {
	ctx := t.Context()
	rdb, prefix := testenv.Redis(t)
	keys := queue.NewKeys(prefix, 1)
	jq := queue.New(rdb, keys, queue.DefaultConfig())
	hq := queue.New(rdb, keys.Hooks(), queue.DefaultConfig())
	if err := jq.Bury(ctx, envelope("job-dead", 4, 1, time.Hour), errors.New("chat 4 is missing")); err != nil {
		t.Fatal(err)
	}
	for _, hook := range []string{"wh_alpha", "wh_beta"} {
		if err := hq.Bury(ctx, delivery("ev-dead", hook, time.Hour), errors.New("HTTP 503 <busy>")); err != nil {
			t.Fatal(err)
		}
	}
	// A delivery accepted two hours ago, taken by a live consumer: a
	// retried delivery, not a stalled one.
	if err := hq.Push(ctx, delivery("ev-late", "wh_alpha", 2*time.Hour)); err != nil {
		t.Fatal(err)
	}
	if got, err := hq.NewConsumer(0, "writer-1").Fetch(ctx, 1, 0); err != nil || len(got) != 1 {
		t.Fatalf("fetch: got %d, %v; want 1 delivery", len(got), err)
	}
	done := queue.CompletedFrom(delivery("ev-ok", "wh_alpha", time.Second), "ok")
	done.ID = "ev-ok.wh_alpha"
	if err := hq.RecordCompleted(ctx, 0, []queue.Completed{done}, 0, time.Now()); err != nil {
		t.Fatal(err)
	}
	jobs, hooks := queue.NewInspector(rdb, keys), queue.NewInspector(rdb, keys.Hooks())
	h := lanesServer(jobs, hooks)

	rec := get(t, h, "/admin/queues/hooks?state=dead")
	if rec.Code != http.StatusOK {
		t.Fatalf("GET the hooks lane: got %d, want 200", rec.Code)
	}
	if csp := rec.Header().Get("Content-Security-Policy"); !strings.Contains(csp, "frame-ancestors 'none'") || !strings.Contains(csp, "form-action 'self'") {
		t.Errorf("hooks lane's Content-Security-Policy: got %q, want the dashboard's", csp)
	}
	page := rec.Body.String()
	contains(t, "hooks lane, dead", page,
		`<title>Webhook deliveries · InstaChat</title>`,
		`<a href="/admin/queues">Jobs</a>`, `<a href="/admin/queues/hooks" class="current" aria-current="page">Webhook deliveries</a>`,
		`id="total-dead">2<`, `id="total-processing">1<`,
		"<th>Endpoint</th><th>Position</th>", "<code>wh_alpha</code>", "<code>wh_beta</code>", "<code>1764324000123-9</code>",
		`data-id="ev-dead.wh_alpha"`, "ev-dead.wh_beta", "HTTP 503 &lt;busy&gt;",
		`action="/admin/queues/hooks/dead/retry"`, `action="/admin/queues/hooks/dead/discard"`, `action="/admin/queues/hooks/dead/retry-all"`,
		"ev-ok.wh_alpha", "outcome-ok", // recently completed
		`href="/admin/queues/hooks/assets/style.css"`,
	)
	if strings.Contains(page, "job-dead") || strings.Contains(page, "stalled-count") {
		t.Error("the hooks lane's page shows the jobs lane's dead job, or flags a live delivery as stalled")
	}
	rec = get(t, h, "/admin/queues/hooks?state=processing")
	contains(t, "hooks lane, processing", rec.Body.String(), "ev-late.wh_alpha", "writer-1")
	if strings.Contains(rec.Body.String(), `class="stalled"`) {
		t.Error("hooks lane: a delivery taken by a live consumer is flagged stalled for its age")
	}
	jobsPage := get(t, h, "/admin/queues?state=dead").Body.String()
	contains(t, "jobs lane", jobsPage, `<a href="/admin/queues" class="current" aria-current="page">Jobs</a>`,
		`<a href="/admin/queues/hooks">Webhook deliveries</a>`, "job-dead", `id="total-dead">1<`)
	if strings.Contains(jobsPage, "ev-dead") || strings.Contains(jobsPage, "<th>Endpoint</th>") {
		t.Error("the jobs lane's page shows webhook deliveries")
	}
	if rec := get(t, h, "/admin/queues/hooks/assets/app.js"); rec.Code != http.StatusOK {
		t.Errorf("GET the hooks lane's script: got %d, want 200", rec.Code)
	}

	// The forms act on the hooks lane and lead back to its page.
	token := csrf(t, page)
	form := func(id string) url.Values {
		return url.Values{"id": {id}, "csrf": {token}, "state": {"dead"}, "partition": {"-1"}, "page": {"1"}}
	}
	if rec := post(t, h, "/admin/queues/hooks/dead/retry", form("ev-dead.wh_alpha"), map[string]string{"Sec-Fetch-Site": "cross-site"}); rec.Code != http.StatusForbidden {
		t.Errorf("cross-site retry on the hooks lane: got %d, want 403", rec.Code)
	}
	bad := form("ev-dead.wh_alpha")
	bad.Set("csrf", strings.Repeat("0", 64))
	if rec := post(t, h, "/admin/queues/hooks/dead/retry", bad, nil); rec.Code != http.StatusForbidden {
		t.Errorf("retry on the hooks lane with a wrong token: got %d, want 403", rec.Code)
	}
	rec = post(t, h, "/admin/queues/hooks/dead/retry", form("ev-dead.wh_alpha"), map[string]string{"Sec-Fetch-Site": "same-origin"})
	loc := rec.Header().Get("Location")
	if rec.Code != http.StatusSeeOther || !strings.HasPrefix(loc, "/admin/queues/hooks?") || !strings.Contains(loc, "done=replayed") {
		t.Fatalf("retry a delivery: got %d to %q, want 303 back to the hooks lane's page", rec.Code, loc)
	}
	depth := func(in *queue.Inspector) queue.Depth {
		t.Helper()
		d, err := in.Depths(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return d[0]
	}
	if d := depth(hooks); d.Dead != 1 || d.Pending != 1 {
		t.Errorf("hooks lane after retry: got %+v, want 1 dead and 1 pending", d)
	}
	if d := depth(jobs); d.Dead != 1 || d.Pending != 0 {
		t.Errorf("jobs lane after a hooks retry: got %+v, want it untouched", d)
	}
	contains(t, "after retry", get(t, h, loc).Body.String(), "Dead job ev-dead.wh_alpha is queued again", `id="total-dead">1<`)
	// The jobs lane's forms do not reach deliveries.
	rec = post(t, h, "/admin/queues/dead/discard", form("ev-dead.wh_beta"), nil)
	if loc := rec.Header().Get("Location"); !strings.HasPrefix(loc, "/admin/queues?") || !strings.Contains(loc, "done=gone") {
		t.Errorf("discard a delivery through the jobs lane: got Location %q, want done=gone on the jobs page", loc)
	}
	rec = post(t, h, "/admin/queues/hooks/dead/discard-all", url.Values{"csrf": {token}}, nil)
	if loc := rec.Header().Get("Location"); !strings.Contains(loc, "done=discarded-all") || !strings.Contains(loc, "n=1") {
		t.Errorf("discard all on the hooks lane: got Location %q, want done=discarded-all&n=1", loc)
	}
	if d := depth(jobs); d.Dead != 1 {
		t.Errorf("jobs lane after the hooks lane's discard all: got %+v, want its dead job kept", d)
	}
}
