package httpapi

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	_ "github.com/go-sql-driver/mysql" // counts rows to prove refused writes stored nothing
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/instachat/instachat/pkg/queue"
	"github.com/instachat/instachat/services/api/internal/index"
)

const testInternalToken = "internal-s3cret-0123456789"

// liveAPI is the whole api (router, service, MySQL, Redis, bleve) behind a
// real listener configured as main configures it, with one application whose
// chat 1 holds a message (both still queued: no writer runs).
type liveAPI struct {
	url   string
	token string // the application's
	db    *sql.DB
	rdb   *redis.Client
	q     *queue.Queue
	in    *queue.Inspector
}

func newLiveAPI(t *testing.T) *liveAPI {
	t.Helper()
	d := newDeps(t, 2)
	h := NewServer(Config{InternalToken: testInternalToken, Index: index.New(d.st, d.eng, d.log), AdminToken: testAdminToken, Metrics: prometheus.NewRegistry()}, d.svc, d.in, d.log)
	srv := httptest.NewUnstartedServer(h)
	srv.Config.MaxHeaderBytes = MaxHeaderBytes // as main sets it
	srv.Start()
	t.Cleanup(srv.Close)

	a := &liveAPI{url: srv.URL, db: d.db, rdb: d.rdb, q: d.q, in: d.in}
	r := a.do(t, "POST", "/api/v1/applications", nil, `{"name": "Hostile"}`)
	if r.status != http.StatusCreated {
		t.Fatalf("create application: got %d %s", r.status, r.raw)
	}
	a.token = r.body["token"].(string)
	if r := a.do(t, "POST", a.app("/chats"), nil, ""); r.status != http.StatusCreated {
		t.Fatalf("create chat: got %d %s", r.status, r.raw)
	}
	if r := a.do(t, "POST", a.app("/chats/1/messages"), nil, `{"body": "hello"}`); r.status != http.StatusCreated {
		t.Fatalf("create message: got %d %s", r.status, r.raw)
	}
	return a
}

// app is a path under the application.
func (a *liveAPI) app(path string) string { return "/api/v1/applications/" + a.token + path }

type answer struct {
	status int
	header http.Header
	raw    string
	body   map[string]any // nil unless the answer is a JSON object
}

// do sends a request; a JSON Content-Type goes with a body unless headers set one.
func (a *liveAPI) do(t *testing.T, method, path string, headers map[string]string, body string) answer {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, a.url+path, strings.NewReader(body))
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	out := answer{status: res.StatusCode, header: res.Header, raw: string(raw)}
	_ = json.Unmarshal(raw, &out.body)
	return out
}

// writes is what a refused request must not change: queued jobs, dead jobs,
// numbers handed out and rows in MySQL.
type writes struct {
	pending, dead, apps   int64
	name                  string
	chatStatus, msgStatus int // of reads of the next chat and message number
}

func (a *liveAPI) writes(t *testing.T) writes {
	t.Helper()
	ctx := t.Context()
	var w writes
	for p := range a.q.Keys().Partitions() {
		w.pending += a.rdb.LLen(ctx, a.q.Keys().Pending(p)).Val()
	}
	if _, total, err := a.in.Dead(ctx, -1, 0, 0); err != nil {
		t.Fatal(err)
	} else {
		w.dead = total
	}
	if err := a.db.QueryRowContext(ctx, "SELECT COUNT(*) FROM applications").Scan(&w.apps); err != nil {
		t.Fatal(err)
	}
	if err := a.db.QueryRowContext(ctx, "SELECT name FROM applications").Scan(&w.name); err != nil {
		t.Fatal(err)
	}
	// A number handed out reads as pending (200), so these show that no
	// refused create took one.
	w.chatStatus = a.do(t, "GET", a.app("/chats/2"), nil, "").status
	w.msgStatus = a.do(t, "GET", a.app("/chats/1/messages/2"), nil, "").status
	return w
}

// TestHostileInput sends every hostile input of issue 10 (findings 5–9 and
// 13) to the real api and checks its 4xx and JSON error, then that none of
// them queued, stored or replayed anything.
func TestHostileInput(t *testing.T) {
	a := newLiveAPI(t)
	if err := a.q.Bury(t.Context(), queue.Envelope{ID: "ev-dead", Type: queue.TypeMessageCreate, App: "app-digest", Body: "x",
		Time: time.Now().UnixMicro(), Chat: 1, Message: 9}, errors.New("for the admin cases")); err != nil {
		t.Fatal(err)
	}
	before := a.writes(t)
	admin := basic("admin", testAdminToken)
	msgs := a.app("/chats/1/messages")
	deep := strings.Repeat(`{"a":`, 40) + `1` + strings.Repeat(`}`, 40)

	type hostile struct {
		name, method, path string
		headers            map[string]string
		body               string
		want               int
		error              string // a part of the JSON error; "" for net/http's own plain-text answers
	}
	cases := []hostile{
		// 5. Made-up methods and oversized headers.
		{"made-up method", "BREW", "/api/v1/applications", nil, "", 405, "method not allowed"},
		{"made-up method on an unknown route", "PROPFIND", "/nothing", nil, "", 404, "no such route"},
		{"header beyond MaxHeaderBytes", "GET", "/healthz", map[string]string{"X-Padding": strings.Repeat("p", 2*MaxHeaderBytes)}, "", 431, ""},
		{"500 KB method", strings.Repeat("M", 500<<10), "/healthz", nil, "", 431, ""},

		// 6. Cross-site state changes on /admin, with valid Basic credentials.
		{"admin replay-all, foreign Origin", "POST", "/admin/dead/replay-all", map[string]string{"Authorization": admin, "Origin": "https://evil.example"}, "", 403, "cross-origin request refused"},
		{"admin replay-all, Sec-Fetch-Site cross-site", "POST", "/admin/dead/replay-all", map[string]string{"Authorization": admin, "Sec-Fetch-Site": "cross-site"}, "", 403, "cross-origin request refused"},
		{"admin replay-all, Sec-Fetch-Site same-site", "POST", "/admin/dead/replay-all", map[string]string{"Authorization": admin, "Sec-Fetch-Site": "same-site"}, "", 403, "cross-origin request refused"},
		{"admin replay one, cross-site", "POST", "/admin/dead/ev-dead/replay", map[string]string{"Authorization": admin, "Sec-Fetch-Site": "cross-site"}, "", 403, "cross-origin request refused"},
		{"admin discard all, foreign Origin", "DELETE", "/admin/dead", map[string]string{"Authorization": admin, "Origin": "https://evil.example"}, "", 403, "cross-origin request refused"},
		{"admin discard one, Origin null", "DELETE", "/admin/dead/ev-dead", map[string]string{"Authorization": admin, "Origin": "null"}, "", 403, "cross-origin request refused"},
		{"dashboard form, cross-site", "POST", "/admin/queues/dead/discard-all", map[string]string{"Authorization": admin, "Sec-Fetch-Site": "cross-site", "Content-Type": "application/x-www-form-urlencoded"}, "csrf=x", 403, "cross-origin request refused"},
		{"admin, cross-site without credentials", "POST", "/admin/dead/replay-all", map[string]string{"Origin": "https://evil.example"}, "", 403, "cross-origin request refused"},

		// 7. /internal/reindex wants exactly "Bearer <token>".
		{"internal, bare token", "POST", "/internal/reindex", map[string]string{"Authorization": testInternalToken}, `{"docs":[]}`, 401, "missing or wrong credentials"},
		{"internal, two spaces", "POST", "/internal/reindex", map[string]string{"Authorization": "Bearer  " + testInternalToken}, `{"docs":[]}`, 401, "missing or wrong credentials"},
		{"internal, tab", "POST", "/internal/reindex", map[string]string{"Authorization": "Bearer\t" + testInternalToken}, `{"docs":[]}`, 401, "missing or wrong credentials"},
		{"internal, other scheme", "POST", "/internal/reindex", map[string]string{"Authorization": "Token " + testInternalToken}, `{"docs":[]}`, 401, "missing or wrong credentials"},
		{"internal, Basic", "POST", "/internal/reindex", map[string]string{"Authorization": basic("writer", testInternalToken)}, `{"docs":[]}`, 401, "missing or wrong credentials"},
		{"internal, token with a suffix", "POST", "/internal/reindex", map[string]string{"Authorization": "Bearer " + testInternalToken + " x"}, `{"docs":[]}`, 401, "missing or wrong credentials"},
		{"internal, scheme only", "POST", "/internal/reindex", map[string]string{"Authorization": "Bearer"}, `{"docs":[]}`, 401, "missing or wrong credentials"},

		// 8. Path numbers have one spelling.
		{"chat +1", "GET", a.app("/chats/+1"), nil, "", 400, `path parameter "number"`},
		{"chat %2B1", "GET", a.app("/chats/%2B1"), nil, "", 400, `path parameter "number"`},
		{"chat 01", "GET", a.app("/chats/01"), nil, "", 400, `path parameter "number"`},
		{"chat 01, post", "POST", a.app("/chats/01/messages"), nil, `{"body": "x"}`, 400, `path parameter "number"`},
		{"chat 01, delete", "DELETE", a.app("/chats/01"), nil, "", 400, `path parameter "number"`},
		{"chat 01, list", "GET", a.app("/chats/01/messages"), nil, "", 400, `path parameter "number"`},
		{"chat 01, search", "GET", a.app("/chats/01/messages/search?q=hello"), nil, "", 400, `path parameter "number"`},
		{"message 002", "GET", a.app("/chats/1/messages/002"), nil, "", 400, `path parameter "message"`},
		{"message +1, update", "PATCH", a.app("/chats/1/messages/+1"), nil, `{"body": "x"}`, 400, `path parameter "message"`},
		{"message 01, delete", "DELETE", a.app("/chats/1/messages/01"), nil, "", 400, `path parameter "message"`},
		{"chat 0", "GET", a.app("/chats/0"), nil, "", 400, `path parameter "number"`},
		{"chat beyond int64", "GET", a.app("/chats/9223372036854775808"), nil, "", 400, `path parameter "number"`},
		{"chat 1e3", "GET", a.app("/chats/1e3"), nil, "", 400, `path parameter "number"`},

		// 9. Bodies: invalid UTF-8, invisible-only text, keys encoding/json would merge.
		{"message, invalid UTF-8", "POST", msgs, nil, "{\"body\": \"bad \xff byte\"}", 400, "valid UTF-8"},
		{"message, invalid UTF-8 wrapped", "POST", msgs, nil, "{\"message\": {\"body\": \"\xc3\x28\"}}", 400, "valid UTF-8"},
		{"message, unpaired surrogate escape", "POST", msgs, nil, `{"body": "x\ud800y"}`, 400, "unpaired surrogate"},
		{"message, lone low surrogate escape", "POST", msgs, nil, `{"body": "\udc00"}`, 400, "unpaired surrogate"},
		{"update, invalid UTF-8", "PUT", a.app("/chats/1/messages/1"), nil, "{\"body\": \"\xed\xa0\x80\"}", 400, "valid UTF-8"},
		{"application, invalid UTF-8", "POST", "/api/v1/applications", nil, "{\"name\": \"\xff\"}", 400, "valid UTF-8"},
		{"rename, invalid UTF-8", "PATCH", a.app(""), nil, "{\"application\": {\"name\": \"a\xfe\"}}", 400, "valid UTF-8"},
		{"message, zero-width space", "POST", msgs, nil, `{"body": "\u200b"}`, 400, "must not be blank"},
		{"message, raw zero-width characters", "POST", msgs, nil, "{\"body\": \"\u200b\u200c\u200d\u2060\ufeff\"}", 400, "must not be blank"},
		{"message, spaces and a BOM", "POST", msgs, nil, `{"message": {"text": " \t\ufeff\u00a0\u3000 "}}`, 400, "must not be blank"},
		{"update, invisible body", "PATCH", a.app("/chats/1/messages/1"), nil, `{"body": "\u2060"}`, 400, "must not be blank"},
		{"application, invisible name", "POST", "/api/v1/applications", nil, `{"name": "\u200b\u200d"}`, 400, "must not be blank"},
		{"rename, invisible name", "PUT", a.app(""), nil, `{"name": "\u3164"}`, 400, "must not be blank"},
		{"application, name and NAME", "POST", "/api/v1/applications", nil, `{"name":"a","NAME":"b"}`, 400, "duplicate key"},
		{"application, name twice", "POST", "/api/v1/applications", nil, `{"name":"a","name":"b"}`, 400, "duplicate key"},
		{"application, wrapped name and Name", "POST", "/api/v1/applications", nil, `{"application":{"name":"a","Name":"b"}}`, 400, "duplicate key"},
		{"application, application twice", "POST", "/api/v1/applications", nil, `{"application":{"name":"a"},"APPLICATION":{"name":"b"}}`, 400, "duplicate key"},
		{"rename, escaped duplicate", "PATCH", a.app(""), nil, `{"name":"a","n\u0061me":"b"}`, 400, "duplicate key"},
		{"message, body and BODY", "POST", msgs, nil, `{"body":"a","BODY":"b"}`, 400, "duplicate key"},
		{"message, wrapped body twice", "POST", msgs, nil, `{"message":{"body":"a","body":"b"}}`, 400, "duplicate key"},
		{"message, wrapped text and Text", "POST", msgs, nil, `{"message":{"text":"a","Text":"b"}}`, 400, "duplicate key"},
		{"message, message and Message", "POST", msgs, nil, `{"message":{"body":"a"},"Message":{"body":"b"}}`, 400, "duplicate key"},
		{"update, duplicate in an ignored field", "PUT", a.app("/chats/1/messages/1"), nil, `{"body":"a","x":{"k":1,"K":2}}`, 400, "duplicate key"},
		{"message, Kelvin sign folds to k", "POST", msgs, nil, `{"message":{"body":"a"},"\u212a":1,"k":2}`, 400, "duplicate key"},
		{"message, nested too deep", "POST", msgs, nil, `{"body":"x","a":` + deep + `}`, 400, "nests deeper"},

		// 13. Search: an unknown chat, a page beyond the engine's window.
		{"search, unknown chat", "GET", a.app("/chats/999/messages/search?q=hello"), nil, "", 404, "chat not found"},
		{"keyword search, unknown chat", "GET", a.app("/chats/999/messages?keyword=hello"), nil, "", 404, "chat not found"},
		{"search, page beyond the window", "GET", a.app("/chats/1/messages/search?q=hello&page=101&per_page=100"), nil, "", 400, "at most 10000"},
		{"search, one past the window", "GET", a.app("/chats/1/messages/search?q=hello&page=10001&per_page=1"), nil, "", 400, "at most 10000"},
		{"keyword search, beyond the window", "GET", a.app("/chats/1/messages?keyword=hello&page=100000&per_page=100"), nil, "", 400, "at most 10000"},
	}
	for _, c := range cases {
		r := a.do(t, c.method, c.path, c.headers, c.body)
		name := c.name
		if r.status != c.want {
			t.Errorf("%s: got %d %.300s, want %d", name, r.status, r.raw, c.want)
			continue
		}
		if c.error == "" {
			continue
		}
		if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
			t.Errorf("%s: got Content-Type %q, want JSON", name, ct)
		}
		msg, _ := r.body["error"].(string)
		if len(r.body) != 1 || !strings.Contains(msg, c.error) {
			t.Errorf("%s: got %s, want {\"error\": \"…%s…\"}", name, r.raw, c.error)
		}
		if r.header.Get("Retry-After") != "" {
			t.Errorf("%s: got Retry-After %q on a client error", name, r.header.Get("Retry-After"))
		}
	}

	if after := a.writes(t); after != before {
		t.Errorf("refused requests changed something: got %+v, want %+v", after, before)
	}
	if before.pending != 2 || before.dead != 1 || before.apps != 1 || before.name != "Hostile" || before.chatStatus != 404 || before.msgStatus != 404 {
		t.Errorf("the baseline is not what the test set up: %+v", before)
	}

	// 5. The made-up methods above reached /metrics only as "other".
	m := a.do(t, "GET", "/metrics", nil, "").raw
	if strings.Contains(m, "BREW") || strings.Contains(m, "PROPFIND") || strings.Contains(m, "MMMM") {
		t.Errorf("/metrics shows a made-up method")
	}
	for _, line := range strings.Split(m, "\n") {
		if strings.HasPrefix(line, "instachat_http_requests_total{") && !strings.Contains(line, `method="GET"`) &&
			!strings.Contains(line, `method="POST"`) && !strings.Contains(line, `method="PUT"`) && !strings.Contains(line, `method="PATCH"`) &&
			!strings.Contains(line, `method="DELETE"`) && !strings.Contains(line, `method="other"`) {
			t.Errorf("/metrics: unexpected method label in %s", line)
		}
	}
	if !strings.Contains(grepLines(m, `instachat_http_requests_total{method="other"`), `status="405"} 1`) {
		t.Errorf("/metrics: want the made-up method counted as other, got\n%s", grepLines(m, "instachat_http_requests_total"))
	}
}

func grepLines(text, prefix string) string {
	var out []string
	for _, l := range strings.Split(text, "\n") {
		if strings.HasPrefix(l, prefix) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// TestHostileInputNeighbours checks what the hostile cases must not catch:
// the canonical spellings, same-origin and non-browser admin requests, a
// lower-case Bearer scheme, a header under the limit, a search inside the
// window and a search of a chat that is only queued.
func TestHostileInputNeighbours(t *testing.T) {
	a := newLiveAPI(t)
	admin := basic("admin", testAdminToken)
	cases := []struct {
		name, method, path string
		headers            map[string]string
		body               string
		want               int
	}{
		{"chat 1", "GET", a.app("/chats/1"), nil, "", 200},
		{"message 1", "GET", a.app("/chats/1/messages/1"), nil, "", 200},
		{"chat 10 is not handed out", "GET", a.app("/chats/10"), nil, "", 404},
		{"header under the limit", "GET", "/healthz", map[string]string{"X-Padding": strings.Repeat("p", MaxHeaderBytes-2<<10)}, "", 200},
		{"admin, same-origin browser", "POST", "/admin/dead/replay-all", map[string]string{"Authorization": admin, "Sec-Fetch-Site": "same-origin"}, "", 200},
		{"admin, Origin of the api itself", "POST", "/admin/dead/replay-all", map[string]string{"Authorization": admin, "Origin": a.url}, "", 200},
		{"admin, typed into the address bar", "DELETE", "/admin/dead", map[string]string{"Authorization": admin, "Sec-Fetch-Site": "none"}, "", 200},
		{"admin, curl", "POST", "/admin/dead/replay-all", map[string]string{"Authorization": "Bearer " + testAdminToken}, "", 200},
		{"admin read, cross-site", "GET", "/admin/dead", map[string]string{"Authorization": admin, "Sec-Fetch-Site": "cross-site"}, "", 200},
		{"admin, Bearer with two spaces", "GET", "/admin/dead", map[string]string{"Authorization": "Bearer  " + testAdminToken}, "", 401},
		{"internal, Bearer", "POST", "/internal/reindex", map[string]string{"Authorization": "Bearer " + testInternalToken}, `{"docs":[]}`, 200},
		{"internal, bearer in lower case", "POST", "/internal/reindex", map[string]string{"Authorization": "bearer " + testInternalToken}, `{"docs":[]}`, 200},
		{"internal, BEARER", "POST", "/internal/reindex", map[string]string{"Authorization": "BEARER " + testInternalToken}, `{"docs":[]}`, 200},
		{"search a queued chat", "GET", a.app("/chats/1/messages/search?q=hello"), nil, "", 200},
		{"search the window's last page", "GET", a.app("/chats/1/messages/search?q=hello&page=100&per_page=100"), nil, "", 200},
		{"message with invisible characters around text", "POST", a.app("/chats/1/messages"), nil, `{"body": "\u200bhi\u200d"}`, 201},
		{"message with an escaped surrogate pair", "POST", a.app("/chats/1/messages"), nil, `{"body": "\ud83d\ude00"}`, 201},
		{"message with distinct keys", "POST", a.app("/chats/1/messages"), nil, `{"body": "a", "message": {"text": "b"}, "x": {"body": 1}}`, 201},
		{"rename with a different-case single key", "PATCH", a.app(""), nil, `{"Name": "Renamed"}`, 200},
	}
	for _, c := range cases {
		if r := a.do(t, c.method, c.path, c.headers, c.body); r.status != c.want {
			t.Errorf("%s: got %d %.300s, want %d", c.name, r.status, r.raw, c.want)
		}
	}
	r := a.do(t, "GET", a.app("/chats/1/messages/3"), nil, "")
	if r.status != 200 || r.body["status"] != "pending" {
		t.Errorf("the message with an escaped surrogate pair: got %d %s, want it queued", r.status, r.raw)
	}
}

// TestHeaderLimitOnARealListener shows that net/http itself answers 431 once
// the request line and headers pass MaxHeaderBytes, before any handler runs.
// It reads up to 4 KiB beyond the limit on a new connection (more on one
// kept alive, whose buffer may hold some already), so the cases stay clear of
// the edge: a header well under it, and one twice as large.
func TestHeaderLimitOnARealListener(t *testing.T) {
	var reached atomic.Bool
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { reached.Store(true) }))
	srv.Config.MaxHeaderBytes = MaxHeaderBytes
	srv.Start()
	defer srv.Close()
	for _, tt := range []struct {
		size int
		want int
	}{
		{MaxHeaderBytes - 1<<10, http.StatusOK},
		{2 * MaxHeaderBytes, http.StatusRequestHeaderFieldsTooLarge},
		{900 << 10, http.StatusRequestHeaderFieldsTooLarge},
	} {
		reached.Store(false)
		req, _ := http.NewRequestWithContext(context.Background(), "GET", srv.URL, nil)
		req.Header.Set("X-Padding", strings.Repeat("p", tt.size))
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("%d bytes of header: %v", tt.size, err)
		}
		res.Body.Close()
		if res.StatusCode != tt.want || reached.Load() != (tt.want == http.StatusOK) {
			t.Errorf("%d bytes of header: got %d (handler reached: %v), want %d", tt.size, res.StatusCode, reached.Load(), tt.want)
		}
	}
}
