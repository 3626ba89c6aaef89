package httpapi

import (
	"bytes"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/instachat/instachat/pkg/chat"
	"github.com/instachat/instachat/pkg/queue"
	"github.com/instachat/instachat/services/api/internal/chats"
)

// limitRig is what api replicas share: MySQL, Redis under one key prefix, the
// queue and the chats service. Each replica is a real router behind a real
// listener, as main builds it.
type limitRig struct {
	db     *sql.DB
	rdb    *redis.Client
	prefix string
	q      *queue.Queue
	in     *queue.Inspector
	svc    *chats.Service
}

func newLimitRig(t *testing.T) *limitRig {
	t.Helper()
	d := newDeps(t, 2)
	return &limitRig{db: d.db, rdb: d.rdb, prefix: d.prefix, q: d.q, in: d.in, svc: d.svc}
}

// replica is one api process.
type replica struct {
	url string
	log *bytes.Buffer // its log lines (guarded by the handler's own lock)
}

// serve starts a replica. The limits use the rig's Redis and prefix unless
// rl names others.
func (r *limitRig) serve(t *testing.T, rl RateLimit, proxies ...netip.Prefix) replica {
	t.Helper()
	if rl.Redis == nil {
		rl.Redis = r.rdb
	}
	if rl.KeyPrefix == "" {
		rl.KeyPrefix = r.prefix
	}
	var buf bytes.Buffer
	log := slog.New(slog.NewTextHandler(&lockedWriter{w: &buf}, nil))
	h := NewServer(Config{InternalToken: testInternalToken, Metrics: prometheus.NewRegistry(), RateLimit: rl, TrustedProxies: proxies}, r.svc, r.in, log)
	srv := httptest.NewUnstartedServer(h)
	srv.Config.MaxHeaderBytes = MaxHeaderBytes
	srv.Start()
	t.Cleanup(srv.Close)
	return replica{url: srv.URL, log: &buf}
}

type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// pending counts the jobs queued in Redis.
func (r *limitRig) pending(t *testing.T) int64 {
	t.Helper()
	var n int64
	for p := range r.q.Keys().Partitions() {
		n += r.rdb.LLen(t.Context(), r.q.Keys().Pending(p)).Val()
	}
	return n
}

func (r *limitRig) applications(t *testing.T) int {
	t.Helper()
	var n int
	if err := r.db.QueryRowContext(t.Context(), "SELECT COUNT(*) FROM applications").Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// from returns a client whose connections leave from the loopback address ip
// (all of 127.0.0.0/8 is local on Linux), so the api sees that TCP peer.
func from(t *testing.T, ip string) *http.Client {
	t.Helper()
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}, Timeout: 5 * time.Second}
	tr := &http.Transport{DialContext: d.DialContext, MaxIdleConnsPerHost: 64}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 20 * time.Second}
}

// send is one request; it returns the error instead of failing, so that
// goroutines may call it.
func send(c *http.Client, method, url string, headers map[string]string, body string) (answer, error) {
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		return answer{}, err
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	res, err := c.Do(req)
	if err != nil {
		return answer{}, err
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	out := answer{status: res.StatusCode, header: res.Header, raw: string(raw)}
	_ = json.Unmarshal(raw, &out.body)
	return out, err
}

func mustSend(t *testing.T, c *http.Client, method, url string, headers map[string]string, body string) answer {
	t.Helper()
	a, err := send(c, method, url, headers, body)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	return a
}

// checkLimited checks a limited route's answer: the RateLimit-* headers of
// limit always; on a 429 also Retry-After (whole seconds, at least 1) and a
// JSON error naming the limit.
func checkLimited(t *testing.T, what string, a answer, limit Limit, name string) {
	t.Helper()
	h := a.header
	if got, want := h.Get("RateLimit-Limit"), strconv.Itoa(limit.Burst); got != want {
		t.Errorf("%s: RateLimit-Limit %q, want %q", what, got, want)
	}
	if got, want := h.Get("RateLimit-Policy"), limit.policy(); got != want {
		t.Errorf("%s: RateLimit-Policy %q, want %q", what, got, want)
	}
	remaining, err1 := strconv.Atoi(h.Get("RateLimit-Remaining"))
	reset, err2 := strconv.Atoi(h.Get("RateLimit-Reset"))
	if err1 != nil || err2 != nil || remaining < 0 || remaining > limit.Burst || reset < 0 || reset > int(limit.Period/time.Second)*limit.Burst/limit.Rate+1 {
		t.Errorf("%s: RateLimit-Remaining %q, RateLimit-Reset %q; want 0..%d and the seconds until the budget is whole",
			what, h.Get("RateLimit-Remaining"), h.Get("RateLimit-Reset"), limit.Burst)
	}
	if a.status != http.StatusTooManyRequests {
		if h.Get("Retry-After") != "" {
			t.Errorf("%s: %d with Retry-After %q", what, a.status, h.Get("Retry-After"))
		}
		return
	}
	retry, err := strconv.Atoi(h.Get("Retry-After"))
	if err != nil || retry < 1 || retry > reset+1 {
		t.Errorf("%s: Retry-After %q (RateLimit-Reset %d); want whole seconds, at least 1", what, h.Get("Retry-After"), reset)
	}
	if remaining != 0 {
		t.Errorf("%s: 429 with RateLimit-Remaining %d, want 0", what, remaining)
	}
	msg, _ := a.body["error"].(string)
	if len(a.body) != 1 || !strings.Contains(msg, "rate limit "+name+" exceeded") || !strings.Contains(msg, "retry in "+strconv.Itoa(retry)+" s") {
		t.Errorf("%s: 429 body %s, want {\"error\": \"rate limit %s exceeded: … retry in %d s\"}", what, a.raw, name, retry)
	}
}

// metric reads one sample of a replica's /metrics ("" when absent).
func metric(t *testing.T, r replica, series string) string {
	t.Helper()
	m := mustSend(t, http.DefaultClient, "GET", r.url+"/metrics", nil, "")
	for _, line := range strings.Split(m.raw, "\n") {
		if v, ok := strings.CutPrefix(line, series+" "); ok {
			return v
		}
	}
	return ""
}

// TestApplicationCreateLimit (issue 10, finding 10): 300 anonymous
// application creates from one address in about a second. Only the burst is
// created; the rest are 429 with Retry-After and the RateLimit-* headers, and
// MySQL holds exactly as many applications as were answered 201. Another
// address has its own budget, a made-up X-Forwarded-For changes nothing
// unless the peer is a trusted proxy, and then its last entry counts.
func TestApplicationCreateLimit(t *testing.T) {
	rig := newLimitRig(t)
	limit, err := ParseLimit("10/1m") // the default
	if err != nil {
		t.Fatal(err)
	}
	rl := RateLimit{Applications: limit, Writes: Limit{Rate: 200, Period: time.Second, Burst: 400}}
	api := rig.serve(t, rl)
	create := api.url + "/api/v1/applications"
	local := from(t, "127.0.0.1")

	const total, workers = 300, 20
	answers := make([]answer, total)
	errs := make([]error, total)
	start := time.Now()
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := w; i < total; i += workers {
				answers[i], errs[i] = send(local, "POST", create, nil, fmt.Sprintf(`{"name": "flood %d"}`, i))
			}
		})
	}
	wg.Wait()
	took := time.Since(start)
	created, refused := 0, 0
	tokens := map[string]bool{}
	for i, a := range answers {
		if errs[i] != nil {
			t.Fatalf("create %d: %v", i, errs[i])
		}
		switch a.status {
		case http.StatusCreated:
			created++
			tokens[a.body["token"].(string)] = true
		case http.StatusTooManyRequests:
			refused++
		default:
			t.Errorf("create %d: got %d %s, want 201 or 429", i, a.status, a.raw)
		}
		checkLimited(t, fmt.Sprintf("create %d", i), a, limit, limitApplicationCreate)
	}
	t.Logf("%d creates from one address in %v: %d answered 201, %d answered 429", total, took.Round(time.Millisecond), created, refused)
	// One more request is earned every 6 s.
	if most := limit.Burst + int(took/(limit.Period/time.Duration(limit.Rate))); created < limit.Burst || created > most {
		t.Errorf("got %d creates answered 201 in %v, want %d to %d", created, took, limit.Burst, most)
	}
	if created+refused != total {
		t.Errorf("got %d 201s and %d 429s, want %d answers in all", created, refused, total)
	}
	if rows := rig.applications(t); rows != created || len(tokens) != created {
		t.Errorf("MySQL holds %d applications (%d distinct tokens answered), want %d: one per 201", rows, len(tokens), created)
	}
	if got := metric(t, api, `instachat_rate_limited_total{limit="application_create"}`); got != strconv.Itoa(refused) {
		t.Errorf("instachat_rate_limited_total{limit=\"application_create\"}: got %q, want %d", got, refused)
	}

	// A spoofed X-Forwarded-For from the exhausted address: no proxy is
	// trusted, so the TCP peer is the client.
	for _, xff := range []string{"198.51.100.1", "198.51.100.2, 198.51.100.3"} {
		a := mustSend(t, local, "POST", create, map[string]string{"X-Forwarded-For": xff, "X-Real-IP": "198.51.100.4"}, `{"name": "spoofed"}`)
		if a.status != http.StatusTooManyRequests {
			t.Errorf("X-Forwarded-For %q from an untrusted peer: got %d %s, want 429", xff, a.status, a.raw)
		}
	}
	// Another address has its whole budget.
	other := mustSend(t, from(t, "127.0.0.2"), "POST", create, nil, `{"name": "neighbour"}`)
	if other.status != http.StatusCreated || other.header.Get("RateLimit-Remaining") != strconv.Itoa(limit.Burst-1) {
		t.Errorf("first create from another address: got %d, RateLimit-Remaining %q, %s; want 201 with %d remaining",
			other.status, other.header.Get("RateLimit-Remaining"), other.raw, limit.Burst-1)
	}

	// Behind a trusted proxy (127.0.0.1 here), the address the proxy appended
	// last is the client: its budget is its own, and entries the client
	// wrote before it change nothing.
	proxied := rig.serve(t, rl, netip.MustParsePrefix("127.0.0.1/32"))
	created = 0
	for i := range limit.Burst + 5 {
		xff := fmt.Sprintf("10.%d.0.1, 203.0.113.9", i) // the first entry is the client's invention
		a := mustSend(t, local, "POST", proxied.url+"/api/v1/applications", map[string]string{"X-Forwarded-For": xff}, `{"name": "proxied"}`)
		if a.status == http.StatusCreated {
			created++
		}
		checkLimited(t, "through the trusted proxy", a, limit, limitApplicationCreate)
	}
	if created != limit.Burst {
		t.Errorf("through a trusted proxy for one client: got %d creates answered 201, want %d", created, limit.Burst)
	}
	if n, err := rig.rdb.Exists(t.Context(), rig.prefix+"ratelimit:application_create:203.0.113.9").Result(); err != nil || n != 1 {
		t.Errorf("no budget under %sratelimit:application_create:203.0.113.9 (%v)", rig.prefix, err)
	}
}

// TestWriteLimit: writes under one application past its limit answer 429
// with the headers and queue nothing; another application keeps its budget,
// reads are not limited, and the budget is named by the token's digest.
func TestWriteLimit(t *testing.T) {
	rig := newLimitRig(t)
	writes := Limit{Rate: 5, Period: time.Minute, Burst: 5}
	apps := Limit{Rate: 10, Period: time.Minute, Burst: 10}
	api := rig.serve(t, RateLimit{Applications: apps, Writes: writes})
	c := from(t, "127.0.0.1")
	newApp := func(name string) string {
		a := mustSend(t, c, "POST", api.url+"/api/v1/applications", nil, `{"name": "`+name+`"}`)
		if a.status != http.StatusCreated {
			t.Fatalf("create application: got %d %s", a.status, a.raw)
		}
		return api.url + "/api/v1/applications/" + a.body["token"].(string)
	}
	busy, quiet := newApp("busy"), newApp("quiet")

	// The budget of 5: a chat and four messages.
	for i, w := range []struct{ method, path, body string }{
		{"POST", "/chats", ""},
		{"POST", "/chats/1/messages", `{"body": "one"}`},
		{"POST", "/chats/1/messages", `{"body": "two"}`},
		{"POST", "/chats/1/messages", `{"body": "three"}`},
		{"POST", "/chats/1/messages", `{"body": "four"}`},
	} {
		a := mustSend(t, c, w.method, busy+w.path, nil, w.body)
		if a.status != http.StatusCreated || a.header.Get("RateLimit-Remaining") != strconv.Itoa(writes.Burst-1-i) {
			t.Fatalf("write %d within the budget: got %d, RateLimit-Remaining %q, %s; want 201 with %d remaining",
				i+1, a.status, a.header.Get("RateLimit-Remaining"), a.raw, writes.Burst-1-i)
		}
		checkLimited(t, fmt.Sprintf("write %d", i+1), a, writes, limitApplicationWrites)
	}
	queued := rig.pending(t)
	if queued != 5 {
		t.Fatalf("jobs queued after 5 writes: got %d, want 5", queued)
	}
	for _, w := range []struct{ method, path, body string }{
		{"POST", "/chats/1/messages", `{"body": "five"}`},
		{"POST", "/chats", ""},
		{"PUT", "/chats/1/messages/1", `{"body": "changed"}`},
		{"PATCH", "/chats/1/messages/2", `{"body": "changed"}`},
		{"DELETE", "/chats/1/messages/3", ""},
		{"DELETE", "/chats/1", ""},
		{"PUT", "", `{"name": "renamed"}`},
		{"PATCH", "", `{"name": "renamed"}`},
		{"POST", "/chats/1/messages", `{"body": "` + strings.Repeat("x", 100) + `"}`},
	} {
		a := mustSend(t, c, w.method, busy+w.path, nil, w.body)
		what := w.method + " " + w.path + " past the limit"
		if a.status != http.StatusTooManyRequests {
			t.Errorf("%s: got %d %s, want 429", what, a.status, a.raw)
		}
		checkLimited(t, what, a, writes, limitApplicationWrites)
	}
	if got := rig.pending(t); got != queued {
		t.Errorf("refused writes queued jobs: %d pending, want %d", got, queued)
	}

	// Reads pass, without RateLimit headers.
	for _, path := range []string{"", "/chats", "/chats/1", "/chats/1/messages", "/chats/1/messages/4", "/chats/1/messages/search?q=one"} {
		a := mustSend(t, c, "GET", busy+path, nil, "")
		if a.status != http.StatusOK || a.header.Get("RateLimit-Limit") != "" {
			t.Errorf("GET %s with the write budget spent: got %d (RateLimit-Limit %q) %s, want 200 without rate limit headers",
				path, a.status, a.header.Get("RateLimit-Limit"), a.raw)
		}
	}
	if a := mustSend(t, c, "GET", busy+"/chats/1", nil, ""); a.body["number"] != float64(1) {
		t.Errorf("chat 1 after the refused delete: got %s", a.raw)
	}
	// Another application has its own budget.
	if a := mustSend(t, c, "POST", quiet+"/chats", nil, ""); a.status != http.StatusCreated || a.header.Get("RateLimit-Remaining") != strconv.Itoa(writes.Burst-1) {
		t.Errorf("first write of another application: got %d, RateLimit-Remaining %q, %s; want 201 with %d remaining",
			a.status, a.header.Get("RateLimit-Remaining"), a.raw, writes.Burst-1)
	}
	if got := metric(t, api, `instachat_rate_limited_total{limit="application_writes"}`); got != "9" {
		t.Errorf("instachat_rate_limited_total{limit=\"application_writes\"}: got %q, want 9", got)
	}

	// The budgets live under the key prefix, named by the token's digest.
	keys, err := rig.rdb.Keys(t.Context(), "*ratelimit*").Result()
	if err != nil {
		t.Fatal(err)
	}
	token := strings.TrimPrefix(busy, api.url+"/api/v1/applications/")
	want := rig.prefix + "ratelimit:application_writes:" + chat.TokenDigest(token)
	found := false
	for _, k := range keys {
		found = found || k == want
		if !strings.HasPrefix(k, rig.prefix+"ratelimit:") || strings.Contains(k, token) {
			t.Errorf("rate limit key %q: want it under %sratelimit: and without the token", k, rig.prefix)
		}
	}
	if !found {
		t.Errorf("rate limit keys %v: want %s", keys, want)
	}
	if n, _ := rig.rdb.Keys(t.Context(), "rate:*").Result(); len(n) != 0 {
		t.Errorf("keys outside the prefix: %v", n)
	}
}

// TestWriteFloodQueuesOnlyWhatIsAccepted floods one application with message
// creates under the default write limit: some are refused, and the queue
// holds exactly one job per 201.
func TestWriteFloodQueuesOnlyWhatIsAccepted(t *testing.T) {
	rig := newLimitRig(t)
	writes, err := ParseLimit("200/1s,burst=400") // the default
	if err != nil {
		t.Fatal(err)
	}
	api := rig.serve(t, RateLimit{Applications: Limit{Rate: 10, Period: time.Minute, Burst: 10}, Writes: writes})
	c := from(t, "127.0.0.1")
	a := mustSend(t, c, "POST", api.url+"/api/v1/applications", nil, `{"name": "flood"}`)
	base := api.url + "/api/v1/applications/" + a.body["token"].(string)
	if a := mustSend(t, c, "POST", base+"/chats", nil, ""); a.status != http.StatusCreated {
		t.Fatalf("create chat: got %d %s", a.status, a.raw)
	}
	const total, workers = 1000, 25
	statuses := make([]int, total)
	start := time.Now()
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := w; i < total; i += workers {
				if a, err := send(c, "POST", base+"/chats/1/messages", nil, `{"body": "flood"}`); err == nil {
					statuses[i] = a.status
				}
			}
		})
	}
	wg.Wait()
	took := time.Since(start)
	count := map[int]int{}
	for _, s := range statuses {
		count[s]++
	}
	t.Logf("%d message creates in %v: %v", total, took.Round(time.Millisecond), count)
	if count[http.StatusCreated]+count[http.StatusTooManyRequests] != total {
		t.Errorf("got %v, want only 201 and 429", count)
	}
	// Whether any is refused depends on how fast this machine sent them: the
	// limit must refuse some when the flood outran what it lets through.
	if absorbable := writes.Burst + int(took.Seconds()*float64(writes.Rate)); absorbable < total && count[http.StatusTooManyRequests] == 0 {
		t.Errorf("got %v in %v, want some 429: the limit lets at most %d through in that time", count, took, absorbable)
	}
	if most := writes.Burst + int(took.Seconds()*float64(writes.Rate)) + 1; count[http.StatusCreated] > most {
		t.Errorf("got %d accepted in %v, want at most %d", count[http.StatusCreated], took, most)
	}
	if got, want := rig.pending(t), int64(1+count[http.StatusCreated]); got != want {
		t.Errorf("pending jobs: got %d, want %d (the chat and one per 201)", got, want)
	}
}

// TestRateLimitSharedByReplicas: two api replicas on the same Redis and key
// prefix draw on one budget per client and per application.
func TestRateLimitSharedByReplicas(t *testing.T) {
	rig := newLimitRig(t)
	rl := RateLimit{Applications: Limit{Rate: 6, Period: time.Minute, Burst: 6}, Writes: Limit{Rate: 4, Period: time.Minute, Burst: 4}}
	replicas := []replica{rig.serve(t, rl), rig.serve(t, rl)}
	c := from(t, "127.0.0.1")
	created := []int{0, 0}
	var token string
	for i := range 20 {
		a := mustSend(t, c, "POST", replicas[i%2].url+"/api/v1/applications", nil, `{"name": "replicated"}`)
		if a.status == http.StatusCreated {
			created[i%2]++
			token = a.body["token"].(string)
		}
	}
	if created[0]+created[1] != rl.Applications.Burst || created[0] != created[1] {
		t.Errorf("creates answered 201 by each replica: got %v, want %d in all, alternating", created, rl.Applications.Burst)
	}
	accepted := []int{0, 0}
	for i := range 12 {
		a := mustSend(t, c, "POST", replicas[i%2].url+"/api/v1/applications/"+token+"/chats", nil, "")
		if a.status == http.StatusCreated {
			accepted[i%2]++
		}
	}
	if accepted[0]+accepted[1] != rl.Writes.Burst {
		t.Errorf("writes answered 201 by each replica: got %v, want %d in all", accepted, rl.Writes.Burst)
	}
	if got := rig.applications(t); got != rl.Applications.Burst {
		t.Errorf("applications in MySQL: got %d, want %d", got, rl.Applications.Burst)
	}
}

// TestRateLimitFailsOpen: when the limiter's Redis refuses connections or
// hangs, requests proceed (no 500, no hang, no RateLimit headers), every
// failed check is counted, and the warning is logged once, not per request.
func TestRateLimitFailsOpen(t *testing.T) {
	rig := newLimitRig(t)
	// Refused: a port nothing listens on.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	refused := l.Addr().String()
	l.Close()
	// Hung: a listener that never accepts; connections complete in the
	// kernel's backlog, and nothing ever answers.
	hung, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { hung.Close() })

	for _, tc := range []struct{ name, addr string }{{"refused", refused}, {"hung", hung.Addr().String()}} {
		t.Run(tc.name, func(t *testing.T) {
			down := redis.NewClient(&redis.Options{Addr: tc.addr, MaxRetries: -1, DialTimeout: time.Second,
				ReadTimeout: time.Second, WriteTimeout: time.Second, ContextTimeoutEnabled: true})
			t.Cleanup(func() { down.Close() })
			rl := RateLimit{Redis: down, KeyPrefix: rig.prefix, Timeout: 50 * time.Millisecond,
				Applications: Limit{Rate: 1, Period: time.Minute, Burst: 1}, Writes: Limit{Rate: 1, Period: time.Minute, Burst: 1}}
			api := rig.serve(t, rl)
			c := from(t, "127.0.0.1")
			start := time.Now()
			a := mustSend(t, c, "POST", api.url+"/api/v1/applications", nil, `{"name": "open"}`)
			if a.status != http.StatusCreated || a.header.Get("RateLimit-Limit") != "" {
				t.Fatalf("create with the limiter's Redis %s: got %d (RateLimit-Limit %q) %s, want 201 without rate limit headers",
					tc.name, a.status, a.header.Get("RateLimit-Limit"), a.raw)
			}
			base := api.url + "/api/v1/applications/" + a.body["token"].(string)
			for i := range 3 { // past both limits of 1
				if a := mustSend(t, c, "POST", api.url+"/api/v1/applications", nil, `{"name": "open"}`); a.status != http.StatusCreated {
					t.Errorf("create %d: got %d %s, want 201", i+2, a.status, a.raw)
				}
				if a := mustSend(t, c, "POST", base+"/chats", nil, ""); a.status != http.StatusCreated {
					t.Errorf("write %d: got %d %s, want 201", i+1, a.status, a.raw)
				}
			}
			if took := time.Since(start); took > 3*time.Second {
				t.Errorf("8 requests with the limiter's Redis %s took %v; want each to wait at most the 50 ms deadline", tc.name, took)
			}
			if got := metric(t, api, `instachat_rate_limit_errors_total{limit="application_create"}`); got != "4" {
				t.Errorf("instachat_rate_limit_errors_total{limit=\"application_create\"}: got %q, want 4", got)
			}
			if got := metric(t, api, `instachat_rate_limit_errors_total{limit="application_writes"}`); got != "3" {
				t.Errorf("instachat_rate_limit_errors_total{limit=\"application_writes\"}: got %q, want 3", got)
			}
			if got := metric(t, api, `instachat_rate_limited_total{limit="application_create"}`); got != "0" {
				t.Errorf("instachat_rate_limited_total{limit=\"application_create\"}: got %q, want 0", got)
			}
			if n := strings.Count(api.log.String(), "rate limit check failed"); n != 1 {
				t.Errorf("got %d warnings for 7 failed checks, want 1:\n%s", n, api.log.String())
			}
		})
	}
}

// TestRateLimitOff: the zero RateLimit (RATE_LIMIT=off) limits nothing and
// sends no headers; the metrics exist at 0.
func TestRateLimitOff(t *testing.T) {
	rig := newLimitRig(t)
	h := NewServer(Config{Metrics: prometheus.NewRegistry()}, rig.svc, rig.in, slog.New(slog.NewTextHandler(io.Discard, nil)))
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	off := replica{url: srv.URL}
	c := from(t, "127.0.0.1")
	for i := range 30 {
		a := mustSend(t, c, "POST", off.url+"/api/v1/applications", nil, `{"name": "unlimited"}`)
		if a.status != http.StatusCreated || a.header.Get("RateLimit-Limit") != "" {
			t.Fatalf("create %d with rate limiting off: got %d (RateLimit-Limit %q), want 201 without headers", i, a.status, a.header.Get("RateLimit-Limit"))
		}
	}
	if got := metric(t, off, `instachat_rate_limited_total{limit="application_create"}`); got != "0" {
		t.Errorf("instachat_rate_limited_total with limiting off: got %q, want 0", got)
	}
}
