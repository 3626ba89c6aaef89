// Package e2e starts the three built binaries (api, writer, cron) against the
// real MariaDB and Redis and drives them over HTTP.
package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/instachat/instachat/pkg/testenv"
)

var fruits = []string{"apple", "banana", "cherry"}

func messageBody(client, j int) string {
	return fmt.Sprintf("Client%02d says %s number %d", client, fruits[j%3], j)
}

func TestEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end test: skipped with -short")
	}
	endToEnd(t, newSystem(t))
}

// TestEndToEndOnCluster runs the same suite with Redis as a Cluster of three
// primaries that the test starts: every atomic step must touch one slot.
func TestEndToEndOnCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end test: skipped with -short")
	}
	nodes := testenv.StartCluster(t, 3)
	addrs := make([]string, len(nodes))
	for i, n := range nodes {
		addrs[i] = n.Addr
	}
	rdb := redis.NewClusterClient(&redis.ClusterOptions{Addrs: addrs})
	t.Cleanup(func() { rdb.Close() })
	s := newSystemOn(t, rdb, "ic:", "REDIS_ADDR="+strings.Join(addrs, ","), "REDIS_CLUSTER=true")
	// The keys spread over all three primaries.
	var mu sync.Mutex
	perNode := map[string]int{}
	endToEnd(t, s)
	err := rdb.ForEachMaster(t.Context(), func(ctx context.Context, c *redis.Client) error {
		n, err := c.DBSize(ctx).Result()
		mu.Lock()
		perNode[c.Options().Addr] = int(n)
		mu.Unlock()
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	for addr, n := range perNode {
		if n == 0 {
			t.Errorf("primary %s holds no key: got %v, want keys on every primary", addr, perNode)
		}
	}
}

// endToEnd is the end-to-end suite, on whatever Redis s runs on. The subtests
// run in order and build on each other's state (counts, chat numbers, restarts).
func endToEnd(t *testing.T, s *system) {
	f := newE2EFixture(t, s)
	t.Run("50 clients x 100 messages get exactly 1..5000", f.numbersAreUnique)
	t.Run("all 5000 rows persist", f.rowsPersist)
	t.Run("partial keywords find the right messages", f.partialKeywordsMatch)
	t.Run("counts are exact after one sync", f.countsAfterSync)
	t.Run("one trace id follows a message through api, writer and index", f.traceIDFollowsMessage)
	t.Run("text round-trips intact", f.textRoundTrips)
	t.Run("updates apply, newest wins", f.newestUpdateWins)
	t.Run("handed-out numbers never answer 404 while the writer is down", f.writerDown)
	t.Run("a lost search index is rebuilt from MySQL", f.indexRebuilt)
	t.Run("bad input gets a clear 4xx and writes nothing", f.badInput)
	t.Run("deletes remove messages and chats for good", f.deletes)
	t.Run("health, readiness, metrics and Swagger", f.healthAndMetrics)
}

// e2eFixture is the state the end-to-end steps share: the running system and
// one application with chats 1 and 2.
type e2eFixture struct {
	s     *system
	token string
	base  string // "/api/v1/applications/<token>"
}

// newE2EFixture creates the application and its first two chats.
func newE2EFixture(t *testing.T, s *system) *e2eFixture {
	t.Helper()
	app := s.postJSON("/api/v1/applications", map[string]any{"application": map[string]string{"name": "End to end"}})
	if app.status != http.StatusCreated {
		t.Fatalf("create application: got %d %s, want 201", app.status, app.raw)
	}
	token, _ := app.body["token"].(string)
	if len(token) < 22 {
		t.Fatalf("token: got %q, want at least 128 bits", token)
	}
	if _, hasID := app.body["id"]; hasID {
		t.Fatalf("application response exposes an id: %s", app.raw)
	}
	base := "/api/v1/applications/" + token
	for want := int64(1); want <= 2; want++ {
		c := s.do(http.MethodPost, base+"/chats", "", "")
		if c.status != http.StatusCreated || num(t, c, "number") != want {
			t.Fatalf("create chat: got %d %s, want 201 with number %d", c.status, c.raw, want)
		}
	}
	return &e2eFixture{s: s, token: token, base: base}
}

func (f *e2eFixture) numbersAreUnique(t *testing.T) {
	s, base := f.s, f.base
	const clients, each = 50, 100
	numbers := make(chan int64, clients*each)
	errs := make(chan string, clients*each)
	var wg sync.WaitGroup
	for c := range clients {
		wg.Go(func() {
			for j := range each {
				r := s.postJSON(base+"/chats/1/messages", map[string]string{"body": messageBody(c, j)})
				if r.status != http.StatusCreated {
					errs <- fmt.Sprintf("client %d message %d: got %d %s", c, j, r.status, r.raw)
					continue
				}
				n, _ := r.body["number"].(json.Number).Int64()
				numbers <- n
			}
		})
	}
	wg.Wait()
	close(numbers)
	close(errs)
	for e := range errs {
		t.Error(e)
	}
	var got []int64
	for n := range numbers {
		got = append(got, n)
	}
	sort.Slice(got, func(i, j int) bool { return got[i] < got[j] })
	if len(got) != clients*each {
		t.Fatalf("got %d numbers, want %d", len(got), clients*each)
	}
	for i, n := range got {
		if n != int64(i+1) {
			t.Fatalf("numbers: position %d holds %d, want %d (duplicate or gap)", i, n, i+1)
		}
	}
	t.Logf("handed out numbers 1..%d, no duplicate, no gap", len(got))
}

func (f *e2eFixture) rowsPersist(t *testing.T) {
	s, base := f.s, f.base
	eventually(t, 90*time.Second, "5000 messages persisted", func() (bool, string) {
		r := s.get(base + "/chats/1/messages?per_page=100&page=50")
		if r.status != http.StatusOK {
			return false, r.raw
		}
		msgs, _ := r.body["messages"].([]any)
		return num(t, r, "total") == 5000 && len(msgs) == 100, fmt.Sprintf("total %v, last page %d", r.body["total"], len(msgs))
	})
	r := s.get(base + "/chats/1/messages?per_page=100&page=50")
	msgs := r.body["messages"].([]any)
	last := msgs[len(msgs)-1].(map[string]any)
	if n, _ := last["number"].(json.Number).Int64(); n != 5000 || last["status"] != "persisted" {
		t.Errorf("last message: got %v, want number 5000, persisted", last)
	}
	for _, m := range msgs {
		if _, ok := m.(map[string]any)["id"]; ok {
			t.Fatalf("message exposes an id: %v", m)
		}
	}
}

func (f *e2eFixture) partialKeywordsMatch(t *testing.T) {
	s, base := f.s, f.base
	// j%3 == 1 → banana: 33 of each client's 100 messages.
	cases := []struct {
		path  string
		total int64
	}{
		{"/chats/1/messages/search?q=ban", 50 * 33},
		{"/chats/1/messages/search?query=BANANA", 50 * 33},
		{"/chats/1/messages?keyword=cher", 50 * 33},
		{"/chats/1/messages/search?q=client07+ban", 33},
		{"/chats/1/messages/search?q=client07+app+numb", 34},
		{"/chats/1/messages/search?q=durian", 0},
		{"/chats/2/messages/search?q=ban", 0},
	}
	for _, c := range cases {
		eventually(t, 60*time.Second, c.path, func() (bool, string) {
			r := s.get(base + c.path)
			if r.status != http.StatusOK {
				return false, r.raw
			}
			return num(t, r, "total") == c.total, fmt.Sprintf("total %v, want %d", r.body["total"], c.total)
		})
	}
	r := s.get(base + "/chats/1/messages/search?q=client07+ban&per_page=10&page=4")
	msgs, _ := r.body["messages"].([]any)
	if len(msgs) != 3 {
		t.Fatalf("search page 4 of 33 by 10: got %d messages, want 3", len(msgs))
	}
	for _, m := range msgs {
		body := m.(map[string]any)["body"].(string)
		if !strings.HasPrefix(body, "Client07 says banana") {
			t.Errorf("search result %q does not match client07 banana", body)
		}
	}
}

func (f *e2eFixture) countsAfterSync(t *testing.T) {
	s, base := f.s, f.base
	out := s.runOnce("cron", "sync")
	if !strings.Contains(out, "counter sync done") {
		t.Fatalf("cron sync output: %s", out)
	}
	c := s.get(base + "/chats/1")
	if got := num(t, c, "messages_count"); got != 5000 {
		t.Errorf("messages_count: got %d, want 5000", got)
	}
	a := s.get(base)
	if got := num(t, a, "chats_count"); got != 2 {
		t.Errorf("chats_count: got %d, want 2", got)
	}
}

func (f *e2eFixture) traceIDFollowsMessage(t *testing.T) {
	s, base, token := f.s, f.base, f.token
	r := s.postJSON(base+"/chats/1/messages", map[string]string{"body": "traced message"})
	trace := r.header.Get("X-Request-ID")
	if r.status != http.StatusCreated || len(trace) != 32 {
		t.Fatalf("post: got %d, trace id %q", r.status, trace)
	}
	steps := []struct{ service, msg string }{
		{"api", "msg=request"}, {"writer", `msg="job applied"`}, {"writer", `msg="reindex sent"`}, {"api", "msg=indexed"},
	}
	eventually(t, 30*time.Second, "the trace id in every step's log", func() (bool, string) {
		for _, st := range steps {
			found := false
			for _, line := range strings.Split(s.logOf(st.service), "\n") {
				if strings.Contains(line, "trace_id="+trace) && strings.Contains(line, st.msg) {
					found = true
					break
				}
			}
			if !found {
				return false, fmt.Sprintf("no %s line with %s in %s.log", st.msg, trace, st.service)
			}
		}
		return true, ""
	})
	for _, name := range []string{"api", "writer"} {
		if strings.Contains(s.logOf(name), token) {
			t.Errorf("%s.log contains the application token", name)
		}
	}
}

func (f *e2eFixture) textRoundTrips(t *testing.T) {
	s, base := f.s, f.base
	texts := []string{
		`Ünïcode "double" 'single' \backslash\ <tag> & 🚀👩‍👩‍👧 日本語`,
		"line one\nline two\ttab",
		`{"json": "inside", "n": [1,2]}`,
	}
	var nums []int64
	for _, text := range texts {
		r := s.postJSON(base+"/chats/2/messages", map[string]any{"message": map[string]string{"text": text}})
		if r.status != http.StatusCreated || r.body["body"] != text {
			t.Fatalf("post %q: got %d %s", text, r.status, r.raw)
		}
		nums = append(nums, num(t, r, "number"))
	}
	for i, text := range texts {
		path := fmt.Sprintf("%s/chats/2/messages/%d", base, nums[i])
		eventually(t, 30*time.Second, "message persisted", func() (bool, string) {
			r := s.get(path)
			return r.status == http.StatusOK && r.body["status"] == "persisted", r.raw
		})
		if r := s.get(path); r.body["body"] != text {
			t.Errorf("read back: got %q, want %q", r.body["body"], text)
		}
	}
}

func (f *e2eFixture) newestUpdateWins(t *testing.T) {
	s, base := f.s, f.base
	for _, body := range []string{"first edit", "second edit", "final edit kiwi"} {
		r := s.do(http.MethodPatch, base+"/chats/2/messages/1", "application/json", fmt.Sprintf(`{"body":%q}`, body))
		if r.status != http.StatusOK {
			t.Fatalf("update: got %d %s", r.status, r.raw)
		}
	}
	eventually(t, 30*time.Second, "update applied and searchable", func() (bool, string) {
		r := s.get(base + "/chats/2/messages/1")
		if r.body["body"] != "final edit kiwi" {
			return false, r.raw
		}
		sr := s.get(base + "/chats/2/messages/search?q=kiw")
		return sr.status == http.StatusOK && num(t, sr, "total") == 1, sr.raw
	})
}

func (f *e2eFixture) writerDown(t *testing.T) {
	s, base, token := f.s, f.base, f.token
	s.stop("writer")
	c := s.do(http.MethodPost, base+"/chats", "", "")
	if c.status != http.StatusCreated {
		t.Fatalf("create chat with writer down: got %d %s", c.status, c.raw)
	}
	chatN := num(t, c, "number")
	m := s.postJSON(fmt.Sprintf("%s/chats/%d/messages", base, chatN), map[string]string{"body": "queued while the writer is down"})
	if m.status != http.StatusCreated || num(t, m, "number") != 1 {
		t.Fatalf("post to queued chat: got %d %s, want 201 number 1", m.status, m.raw)
	}
	for _, path := range []string{fmt.Sprintf("%s/chats/%d", base, chatN), fmt.Sprintf("%s/chats/%d/messages/1", base, chatN)} {
		r := s.get(path)
		if r.status != http.StatusOK || r.body["status"] != "pending" {
			t.Errorf("GET %s with writer down: got %d %s, want 200 pending", path, r.status, r.raw)
		}
	}
	if r := s.get(fmt.Sprintf("%s/chats/%d", base, chatN+1)); r.status != http.StatusNotFound {
		t.Errorf("chat never handed out: got %d, want 404", r.status)
	}
	// A backlog of large messages: the writer's batches of 500 make
	// reindex calls far above a normal request's size limit.
	const backlog = 600
	padding := strings.Repeat("lorem ipsum dolor sit amet ", 40)
	for i := range backlog {
		r := s.postJSON(fmt.Sprintf("%s/chats/%d/messages", base, chatN), map[string]string{"body": fmt.Sprintf("needle %d %s", i, padding)})
		if r.status != http.StatusCreated {
			t.Fatalf("backlog post %d: got %d %s", i, r.status, r.raw)
		}
	}
	s.assertNoTokenInRedis(token)
	s.start("writer", "HTTP_ADDR=127.0.0.1:"+freePort(t))
	eventually(t, 30*time.Second, "queued message persisted after restart", func() (bool, string) {
		r := s.get(fmt.Sprintf("%s/chats/%d/messages/1", base, chatN))
		return r.body["status"] == "persisted" && r.body["body"] == "queued while the writer is down", r.raw
	})
	eventually(t, 60*time.Second, "the whole backlog searchable", func() (bool, string) {
		r := s.get(fmt.Sprintf("%s/chats/%d/messages/search?q=needle", base, chatN))
		return r.status == http.StatusOK && num(t, r, "total") == backlog, r.raw[:min(len(r.raw), 200)]
	})
}

func (f *e2eFixture) indexRebuilt(t *testing.T) {
	s, base := f.s, f.base
	s.stop("api")
	if err := os.RemoveAll(filepath.Join(s.dir, "bleve")); err != nil {
		t.Fatal(err)
	}
	s.startAPI()
	eventually(t, 60*time.Second, "search after rebuild", func() (bool, string) {
		r := s.get(base + "/chats/1/messages/search?q=ban")
		return r.status == http.StatusOK && num(t, r, "total") == 50*33, r.raw
	})
}

func (f *e2eFixture) badInput(t *testing.T) {
	s, base := f.s, f.base
	before := s.get(base + "/chats/1/messages?per_page=1")
	f.expectClearErrors(t, base, chatBadRequests())
	f.expectClearErrors(t, "", appBadRequests())
	time.Sleep(time.Second) // give a wrongly queued job time to land
	after := s.get(base + "/chats/1/messages?per_page=1")
	if num(t, after, "total") != num(t, before, "total") {
		t.Errorf("bad input changed the message count: got %v, want %v", after.body["total"], before.body["total"])
	}
	if a := s.get(base); a.body["name"] != "End to end" {
		t.Errorf("bad rename changed the name: got %v", a.body["name"])
	}
}

// badRequest is one hostile request and the status it must get.
type badRequest struct {
	name, method, path, ctype, body string
	want                            int
}

// expectClearErrors sends each request to prefix+path and wants its status
// with a non-empty error message.
func (f *e2eFixture) expectClearErrors(t *testing.T, prefix string, cases []badRequest) {
	t.Helper()
	for _, c := range cases {
		r := f.s.do(c.method, prefix+c.path, c.ctype, c.body)
		msg, _ := r.body["error"].(string)
		if r.status != c.want || msg == "" {
			t.Errorf("%s: got %d %s, want %d with an error message", c.name, r.status, r.raw, c.want)
		}
	}
}

// chatBadRequests are paths under the application's base path.
func chatBadRequests() []badRequest {
	long := strings.Repeat("x", 16*1024+1)
	huge := strings.Repeat("y", 200*1024)
	return []badRequest{
		{"malformed JSON", "POST", "/chats/1/messages", "application/json", `{"body": "x"`, 400},
		{"trailing garbage", "POST", "/chats/1/messages", "application/json", `{"body": "x"} {}`, 400},
		{"JSON array", "POST", "/chats/1/messages", "application/json", `["x"]`, 400},
		{"wrong content type", "POST", "/chats/1/messages", "text/plain", `{"body": "x"}`, 415},
		{"no content type", "POST", "/chats/1/messages", "", `{"body": "x"}`, 415},
		{"missing body", "POST", "/chats/1/messages", "application/json", `{}`, 400},
		{"blank body", "POST", "/chats/1/messages", "application/json", `{"body": "  \n "}`, 400},
		{"body not a string", "POST", "/chats/1/messages", "application/json", `{"body": 42}`, 400},
		{"body over the limit", "POST", "/chats/1/messages", "application/json", `{"body": "` + long + `"}`, 400},
		{"request too large", "POST", "/chats/1/messages", "application/json", `{"body": "` + huge + `"}`, 413},
		{"non-numeric chat", "POST", "/chats/abc/messages", "application/json", `{"body": "x"}`, 400},
		{"zero chat", "GET", "/chats/0", "", "", 400},
		{"negative chat", "GET", "/chats/-3/messages", "", "", 400},
		{"chat number overflow", "GET", "/chats/99999999999999999999", "", "", 400},
		{"unknown chat", "POST", "/chats/999/messages", "application/json", `{"body": "x"}`, 404},
		{"unknown chat read", "GET", "/chats/999", "", "", 404},
		{"unknown message", "GET", "/chats/1/messages/99999", "", "", 404},
		{"update unknown message", "PUT", "/chats/1/messages/99999", "application/json", `{"body": "x"}`, 404},
		{"non-numeric message", "GET", "/chats/1/messages/abc", "", "", 400},
		{"page zero", "GET", "/chats?page=0", "", "", 400},
		{"page not a number", "GET", "/chats?page=abc", "", "", 400},
		{"per_page too large", "GET", "/chats/1/messages?per_page=101", "", "", 400},
		{"page too large", "GET", "/chats/1/messages?page=100001", "", "", 400},
		{"search without q", "GET", "/chats/1/messages/search", "", "", 400},
		{"search blank q", "GET", "/chats/1/messages/search?q=%20", "", "", 400},
		{"blank rename", "PATCH", "", "application/json", `{"name": ""}`, 400},
	}
}

// appBadRequests are absolute paths.
func appBadRequests() []badRequest {
	return []badRequest{
		{"unknown token", "GET", "/api/v1/applications/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "", "", 404},
		{"malformed token", "POST", "/api/v1/applications/not-a-token/chats", "", "", 404},
		{"blank name", "POST", "/api/v1/applications", "application/json", `{"name": "   "}`, 400},
		{"name too long", "POST", "/api/v1/applications", "application/json", `{"name": "` + strings.Repeat("n", 256) + `"}`, 400},
		{"missing name", "POST", "/api/v1/applications", "application/json", `{"application": {}}`, 400},
		{"internal without secret", "POST", "/internal/reindex", "application/json", `{"docs": []}`, 401},
		{"unknown route", "GET", "/api/v1/nothing", "", "", 404},
	}
}

func (f *e2eFixture) deletes(t *testing.T) {
	s, base := f.s, f.base
	// Chat 2 holds the round-trip messages (1..3); message 1 says "final edit kiwi".
	r := s.do(http.MethodDelete, base+"/chats/2/messages/1", "", "")
	if r.status != http.StatusAccepted {
		t.Fatalf("delete message: got %d %s, want 202", r.status, r.raw)
	}
	if r := s.do(http.MethodPatch, base+"/chats/2/messages/1", "application/json", `{"body":"too late"}`); r.status != http.StatusNotFound {
		t.Errorf("update a deleted message: got %d, want 404", r.status)
	}
	if r := s.do(http.MethodDelete, base+"/chats/2/messages/1", "", ""); r.status != http.StatusNotFound {
		t.Errorf("delete it twice: got %d, want 404", r.status)
	}
	eventually(t, 30*time.Second, "message gone from reads and search", func() (bool, string) {
		g := s.get(base + "/chats/2/messages/1")
		sr := s.get(base + "/chats/2/messages/search?q=kiw")
		return g.status == http.StatusNotFound && sr.status == http.StatusOK && num(t, sr, "total") == 0, g.raw + sr.raw
	})
	s.runOnce("cron", "sync")
	before := s.get(base)
	c := s.do(http.MethodDelete, base+"/chats/2", "", "")
	if c.status != http.StatusAccepted {
		t.Fatalf("delete chat: got %d %s, want 202", c.status, c.raw)
	}
	if r := s.postJSON(base+"/chats/2/messages", map[string]string{"body": "into a deleted chat"}); r.status != http.StatusNotFound {
		t.Errorf("post to a deleted chat: got %d, want 404", r.status)
	}
	eventually(t, 30*time.Second, "chat and its messages gone", func() (bool, string) {
		g := s.get(base + "/chats/2")
		m := s.get(base + "/chats/2/messages/2")
		return g.status == http.StatusNotFound && m.status == http.StatusNotFound, g.raw + m.raw
	})
	s.runOnce("cron", "sync")
	after := s.get(base)
	if got, want := num(t, after, "chats_count"), num(t, before, "chats_count")-1; got != want {
		t.Errorf("chats_count after deleting a chat and a sync: got %d, want %d", got, want)
	}
	n := s.do(http.MethodPost, base+"/chats", "", "")
	if n.status != http.StatusCreated || num(t, n, "number") <= 3 {
		t.Errorf("next chat number after a delete: got %d %s, want a new number above 3", n.status, n.raw)
	}
}

func (f *e2eFixture) healthAndMetrics(t *testing.T) {
	s, base, token := f.s, f.base, f.token
	for _, path := range []string{"/healthz", "/readyz", "/swagger/index.html", "/swagger/doc.json", "/metrics"} {
		if r := s.get(path); r.status != http.StatusOK {
			t.Errorf("GET %s: got %d, want 200", path, r.status)
		}
	}
	// The api restarted in an earlier subtest: make the series move again.
	if r := s.postJSON(base+"/chats/1/messages", map[string]string{"body": "metrics"}); r.status != http.StatusCreated {
		t.Fatalf("post: got %d", r.status)
	}
	s.get(base + "/chats/1/messages/search?q=metr")
	m := s.get("/metrics").raw
	for _, series := range []string{
		`instachat_http_requests_total{method="POST",route="/api/v1/applications/:token/chats/:number/messages",status="201"}`,
		`instachat_queue_jobs{partition="0",state="pending"}`,
		`instachat_search_duration_seconds_count{backend="bleve",op="search"}`,
		"instachat_job_searchable_lag_seconds_count",
		"go_goroutines", "process_resident_memory_bytes",
	} {
		if !strings.Contains(m, series) {
			t.Errorf("api /metrics lacks %s", series)
		}
	}
	if strings.Contains(m, token) {
		t.Errorf("api /metrics contains an application token")
	}
	cronPort := freePort(t)
	s.start("cron", "HTTP_ADDR=127.0.0.1:"+cronPort, "SYNC_SCHEDULE=@every 1h")
	s.waitReady("http://127.0.0.1:" + cronPort + "/readyz")
}
