// Package e2e starts the three built binaries (api, writer, cron) against the
// real MariaDB and Redis and drives them over HTTP.
package e2e

import (
	"context"
	"errors"
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

	ic "github.com/instachat/instachat/client"
	"github.com/instachat/instachat/pkg/queue"
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
	t.Cleanup(func() { logQueueOnFailure(t, rdb, "ic:") })
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
	app   *ic.App
	token string
	base  string // "/api/v1/applications/<token>", for the raw requests
}

// newE2EFixture creates the application and its first two chats. The
// create is a raw request: it checks the answer's bytes (no id), which the
// client does not show, in the wrapped {"application": …} shape, which the
// client does not send.
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
	f := &e2eFixture{s: s, app: s.api.App(token), token: token, base: "/api/v1/applications/" + token}
	s.newChats(f.app, 2)
	return f
}

func (f *e2eFixture) numbersAreUnique(t *testing.T) {
	const clients, each = 50, 100
	numbers := make(chan int64, clients*each)
	errs := make(chan string, clients*each)
	var wg sync.WaitGroup
	for c := range clients {
		wg.Go(func() {
			for j := range each {
				m, err := f.app.PostMessage(t.Context(), 1, messageBody(c, j))
				if err != nil {
					errs <- fmt.Sprintf("client %d message %d: %v", c, j, err)
					continue
				}
				numbers <- m.Number
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
	eventually(t, 90*time.Second, "5000 messages persisted", func() (bool, string) {
		l, err := f.app.MessagesByPage(t.Context(), 1, 50, 100)
		if err != nil {
			return false, err.Error()
		}
		return l.Total == 5000 && len(l.Messages) == 100, fmt.Sprintf("total %d, last page %d", l.Total, len(l.Messages))
	})
	l, err := f.app.MessagesByPage(t.Context(), 1, 50, 100)
	if err != nil {
		t.Fatal(err)
	}
	if last := l.Messages[len(l.Messages)-1]; last.Number != 5000 || last.Status != ic.StatusPersisted {
		t.Errorf("last message: got %+v, want number 5000, persisted", last)
	}
	// The answer's bytes, which the client does not show: no row id.
	r := f.s.get(f.base + "/chats/1/messages?per_page=100&page=50")
	msgs, _ := r.body["messages"].([]any)
	if len(msgs) != 100 {
		t.Fatalf("raw page 50: got %d %s, want 100 messages", r.status, r.raw)
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
		chat  int64
		q     string
		total int64
	}{
		{1, "ban", 50 * 33},
		{1, "client07 ban", 33},
		{1, "client07 app numb", 34},
		{1, "durian", 0},
		{2, "ban", 0},
	}
	for _, c := range cases {
		eventually(t, 60*time.Second, fmt.Sprintf("chat %d, search %q", c.chat, c.q), func() (bool, string) {
			l, err := f.app.Search(t.Context(), c.chat, c.q, 0, 0)
			if err != nil {
				return false, err.Error()
			}
			return l.Total == c.total, fmt.Sprintf("total %d, want %d", l.Total, c.total)
		})
	}
	// The older spellings of the query, which the client does not send.
	for _, c := range []struct {
		path  string
		total int64
	}{
		{"/chats/1/messages/search?query=BANANA", 50 * 33},
		{"/chats/1/messages?keyword=cher", 50 * 33},
	} {
		eventually(t, 60*time.Second, c.path, func() (bool, string) {
			r := s.get(base + c.path)
			if r.status != http.StatusOK {
				return false, r.raw
			}
			return num(t, r, "total") == c.total, fmt.Sprintf("total %v, want %d", r.body["total"], c.total)
		})
	}
	l, err := f.app.Search(t.Context(), 1, "client07 ban", 4, 10)
	if err != nil || len(l.Messages) != 3 {
		t.Fatalf("search page 4 of 33 by 10: got %d messages, %v, want 3", len(l.Messages), err)
	}
	for _, m := range l.Messages {
		if !strings.HasPrefix(m.Body, "Client07 says banana") {
			t.Errorf("search result %q does not match client07 banana", m.Body)
		}
	}
}

func (f *e2eFixture) countsAfterSync(t *testing.T) {
	s := f.s
	out := s.runOnce("cron", "sync")
	if !strings.Contains(out, "counter sync done") {
		t.Fatalf("cron sync output: %s", out)
	}
	if c, err := f.app.Chat(t.Context(), 1); err != nil || c.MessagesCount != 5000 {
		t.Errorf("messages_count: got %d (%v), want 5000", c.MessagesCount, err)
	}
	if a, err := f.app.Get(t.Context()); err != nil || a.ChatsCount != 2 {
		t.Errorf("chats_count: got %d (%v), want 2", a.ChatsCount, err)
	}
}

func (f *e2eFixture) traceIDFollowsMessage(t *testing.T) {
	s, token := f.s, f.token
	var resp ic.Response
	_, err := f.app.PostMessage(t.Context(), 1, "traced message", ic.WithResponse(&resp))
	trace := resp.RequestID
	if err != nil || resp.StatusCode != http.StatusCreated || len(trace) != 32 {
		t.Fatalf("post: got %d (%v), trace id %q", resp.StatusCode, err, trace)
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

// textRoundTrips posts raw, in the wrapped {"message": {"text": …}} shape
// that the client does not send, and reads back through the client.
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
		var m ic.Message
		eventually(t, 30*time.Second, "message persisted", func() (bool, string) {
			var err error
			m, err = f.app.Message(t.Context(), 2, nums[i])
			return err == nil && m.Status == ic.StatusPersisted, fmt.Sprintf("%+v, %v", m, err)
		})
		if m.Body != text {
			t.Errorf("read back: got %q, want %q", m.Body, text)
		}
	}
}

func (f *e2eFixture) newestUpdateWins(t *testing.T) {
	for _, body := range []string{"first edit", "second edit", "final edit kiwi"} {
		if _, err := f.app.UpdateMessage(t.Context(), 2, 1, body); err != nil {
			t.Fatalf("update: %v", err)
		}
	}
	eventually(t, 30*time.Second, "update applied and searchable", func() (bool, string) {
		m, err := f.app.Message(t.Context(), 2, 1)
		if err != nil || m.Body != "final edit kiwi" {
			return false, fmt.Sprintf("%+v, %v", m, err)
		}
		l, err := f.app.Search(t.Context(), 2, "kiw", 0, 0)
		return err == nil && l.Total == 1, fmt.Sprintf("total %d, %v", l.Total, err)
	})
}

func (f *e2eFixture) writerDown(t *testing.T) {
	s, app, token := f.s, f.app, f.token
	ctx := t.Context()
	s.stop("writer")
	c, err := app.CreateChat(ctx)
	if err != nil {
		t.Fatalf("create chat with writer down: %v", err)
	}
	chatN := c.Number
	m, err := app.PostMessage(ctx, chatN, "queued while the writer is down")
	if err != nil || m.Number != 1 {
		t.Fatalf("post to queued chat: got %+v, %v, want number 1", m, err)
	}
	if c, err := app.Chat(ctx, chatN); err != nil || c.Status != ic.StatusPending {
		t.Errorf("chat %d with writer down: got %+v, %v, want pending", chatN, c, err)
	}
	if m, err := app.Message(ctx, chatN, 1); err != nil || m.Status != ic.StatusPending {
		t.Errorf("message %d/1 with writer down: got %+v, %v, want pending", chatN, m, err)
	}
	if _, err := app.Chat(ctx, chatN+1); !errors.Is(err, ic.ErrNotFound) {
		t.Errorf("chat never handed out: got %v, want 404", err)
	}
	// A backlog of large messages: the writer's batches of 500 make
	// reindex calls far above a normal request's size limit.
	const backlog = 600
	padding := strings.Repeat("lorem ipsum dolor sit amet ", 40)
	for i := range backlog {
		if _, err := app.PostMessage(ctx, chatN, fmt.Sprintf("needle %d %s", i, padding)); err != nil {
			t.Fatalf("backlog post %d: %v", i, err)
		}
	}
	s.assertNoTokenInRedis(token)
	s.start("writer", "HTTP_ADDR=127.0.0.1:"+freePort(t))
	eventually(t, 30*time.Second, "queued message persisted after restart", func() (bool, string) {
		m, err := app.Message(ctx, chatN, 1)
		return err == nil && m.Status == ic.StatusPersisted && m.Body == "queued while the writer is down", fmt.Sprintf("%+v, %v", m, err)
	})
	eventually(t, 60*time.Second, "the whole backlog searchable", func() (bool, string) {
		l, err := app.Search(ctx, chatN, "needle", 0, 0)
		return err == nil && l.Total == backlog, fmt.Sprintf("total %d, %v", l.Total, err)
	})
}

func (f *e2eFixture) indexRebuilt(t *testing.T) {
	s := f.s
	s.stop("api")
	if err := os.RemoveAll(filepath.Join(s.dir, "bleve")); err != nil {
		t.Fatal(err)
	}
	s.startAPI()
	eventually(t, 60*time.Second, "search after rebuild", func() (bool, string) {
		l, err := f.app.Search(t.Context(), 1, "ban", 0, 0)
		return err == nil && l.Total == 50*33, fmt.Sprintf("total %d, %v", l.Total, err)
	})
}

// badInput sends its hostile requests raw: they are bytes the client never
// sends. It counts messages before and after through the client.
func (f *e2eFixture) badInput(t *testing.T) {
	ctx := t.Context()
	before, err := f.app.MessagesByPage(ctx, 1, 0, 1)
	if err != nil {
		t.Fatal(err)
	}
	f.expectClearErrors(t, f.base, chatBadRequests())
	f.expectClearErrors(t, "", appBadRequests())
	time.Sleep(time.Second) // give a wrongly queued job time to land
	after, err := f.app.MessagesByPage(ctx, 1, 0, 1)
	if err != nil || after.Total != before.Total {
		t.Errorf("bad input changed the message count: got %d (%v), want %d", after.Total, err, before.Total)
	}
	if a, err := f.app.Get(ctx); err != nil || a.Name != "End to end" {
		t.Errorf("bad rename changed the name: got %q (%v)", a.Name, err)
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
	s, app, ctx := f.s, f.app, t.Context()
	// Chat 2 holds the round-trip messages (1..3); message 1 says "final edit kiwi".
	var resp ic.Response
	if _, err := app.DeleteMessage(ctx, 2, 1, ic.WithResponse(&resp)); err != nil || resp.StatusCode != http.StatusAccepted {
		t.Fatalf("delete message: got %d (%v), want 202", resp.StatusCode, err)
	}
	if _, err := app.UpdateMessage(ctx, 2, 1, "too late"); !errors.Is(err, ic.ErrNotFound) {
		t.Errorf("update a deleted message: got %v, want 404", err)
	}
	if _, err := app.DeleteMessage(ctx, 2, 1); !errors.Is(err, ic.ErrNotFound) {
		t.Errorf("delete it twice: got %v, want 404", err)
	}
	eventually(t, 30*time.Second, "message gone from reads and search", func() (bool, string) {
		_, gerr := app.Message(ctx, 2, 1)
		l, serr := app.Search(ctx, 2, "kiw", 0, 0)
		return errors.Is(gerr, ic.ErrNotFound) && serr == nil && l.Total == 0, fmt.Sprintf("read: %v; search: total %d, %v", gerr, l.Total, serr)
	})
	s.runOnce("cron", "sync")
	before, err := app.Get(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := app.DeleteChat(ctx, 2, ic.WithResponse(&resp)); err != nil || resp.StatusCode != http.StatusAccepted {
		t.Fatalf("delete chat: got %d (%v), want 202", resp.StatusCode, err)
	}
	if _, err := app.PostMessage(ctx, 2, "into a deleted chat"); !errors.Is(err, ic.ErrNotFound) {
		t.Errorf("post to a deleted chat: got %v, want 404", err)
	}
	eventually(t, 30*time.Second, "chat and its messages gone", func() (bool, string) {
		_, cerr := app.Chat(ctx, 2)
		_, merr := app.Message(ctx, 2, 2)
		return errors.Is(cerr, ic.ErrNotFound) && errors.Is(merr, ic.ErrNotFound), fmt.Sprintf("chat: %v; message: %v", cerr, merr)
	})
	s.runOnce("cron", "sync")
	after, err := app.Get(ctx)
	if got, want := after.ChatsCount, before.ChatsCount-1; err != nil || got != want {
		t.Errorf("chats_count after deleting a chat and a sync: got %d (%v), want %d", got, err, want)
	}
	if c, err := app.CreateChat(ctx); err != nil || c.Number <= 3 {
		t.Errorf("next chat number after a delete: got %+v (%v), want a new number above 3", c, err)
	}
}

// healthAndMetrics scrapes its endpoints raw: they are for probes and
// Prometheus, not API clients.
func (f *e2eFixture) healthAndMetrics(t *testing.T) {
	s, token := f.s, f.token
	for _, path := range []string{"/healthz", "/readyz", "/swagger/index.html", "/swagger/doc.json", "/metrics"} {
		if r := s.get(path); r.status != http.StatusOK {
			t.Errorf("GET %s: got %d, want 200", path, r.status)
		}
	}
	// The api restarted in an earlier subtest: make the series move again.
	if _, err := f.app.PostMessage(t.Context(), 1, "metrics"); err != nil {
		t.Fatalf("post: %v", err)
	}
	_, _ = f.app.Search(t.Context(), 1, "metr", 0, 0)
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

// logQueueOnFailure shows, when the test failed, where the jobs are (depth of
// each state per partition, and the first dead jobs): enough to tell a writer
// that never consumed a partition from jobs that died.
func logQueueOnFailure(t *testing.T, rdb redis.UniversalClient, prefix string) {
	if !t.Failed() {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	in := queue.NewInspector(rdb, queue.NewKeys(prefix, 8))
	depths, err := in.Depths(ctx)
	t.Logf("queue depths: %+v (err %v)", depths, err)
	dead, total, err := in.Dead(ctx, -1, 0, 5)
	for _, d := range dead {
		t.Logf("dead job %s: %s %+v error %q", d.ID, d.Envelope.Type, d.Envelope, d.Envelope.Error)
	}
	t.Logf("%d dead jobs (err %v)", total, err)
}
