package e2e

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	ic "github.com/instachat/instachat/client"
	"github.com/instachat/instachat/pkg/testenv"
)

// buildOnce builds the three services once per test binary.
var (
	buildOnce sync.Once
	binDir    string
	buildErr  error
)

func binaries(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		binDir, buildErr = os.MkdirTemp("", "instachat-e2e-bin-")
		if buildErr != nil {
			return
		}
		cmd := exec.Command("go", "build", "-o", binDir+"/", "./services/api", "./services/writer", "./services/cron")
		cmd.Dir = "../../.."
		out, err := cmd.CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binDir
}

func TestMain(m *testing.M) {
	code := m.Run()
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	os.Exit(code)
}

// system is one running InstaChat: its own database, key prefix, ports and index.
type system struct {
	t      *testing.T
	rdb    redis.UniversalClient // the Redis the services use, for the test's own looks
	prefix string
	bin    string
	env    []string
	apiURL string
	// api is the Go client of the api that the tests drive it with. It
	// tries every call once, as a test that asserts a status (a 503 during
	// an outage) or counts answers must see each one.
	api *ic.Client
	// writerURL serves the writer's /metrics and health.
	writerURL string
	// directDSN maps a DSN the services use through a proxy to the direct one.
	directDSN map[string]string
	dir       string
	mu        sync.Mutex
	running   map[string]*proc
}

type proc struct {
	cmd  *exec.Cmd
	done chan struct{}
}

// freePort returns a loopback port nothing listens on right now.
func freePort(t *testing.T) string { return testenv.FreePort(t) }

func newSystem(t *testing.T) *system {
	t.Helper()
	return newSystemWith(t)
}

// newSystemWith starts api and writer with extra environment settings, on
// the shared Redis under a fresh key prefix.
func newSystemWith(t *testing.T, extraEnv ...string) *system {
	t.Helper()
	rdb, prefix := testenv.Redis(t)
	return newSystemOn(t, rdb, prefix, append([]string{"REDIS_ADDR=" + testenv.RedisAddr()}, extraEnv...)...)
}

// newSystemOn starts api and writer on the Redis that rdb talks to, which
// redisEnv (REDIS_ADDR, REDIS_CLUSTER, REDIS_SENTINEL_MASTER, …) among
// extraEnv tells the services how to reach.
func newSystemOn(t *testing.T, rdb redis.UniversalClient, prefix string, extraEnv ...string) *system {
	t.Helper()
	secret := make([]byte, 16)
	_, _ = rand.Read(secret)
	webhookKey := make([]byte, 32)
	_, _ = rand.Read(webhookKey)
	apiPort := freePort(t)
	dir := t.TempDir()
	s := &system{
		t:      t,
		rdb:    rdb,
		prefix: prefix,
		bin:    binaries(t),
		env: []string{
			"MYSQL_DSN=" + testenv.MySQLDSN(t),
			"REDIS_KEY_PREFIX=" + prefix,
			"INTERNAL_TOKEN=" + hex.EncodeToString(secret),
			"BLEVE_PATH=" + filepath.Join(dir, "bleve"),
			"API_URL=http://127.0.0.1:" + apiPort,
			"QUEUE_HEARTBEAT_TTL=3s",
			"LOG_LEVEL=debug",
			"SEARCH_CATCHUP_INTERVAL=200ms",
			"SEARCH_CATCHUP_DELAY=1s",
			"SEARCH_BACKEND=bleve",                          // unless a test says otherwise, even when ELASTICSEARCH_URL is set
			"RATE_LIMIT=off",                                // the suites post thousands of writes at once; TestRateLimitOnTheBinary turns it on
			"WEBHOOK_KEY=" + hex.EncodeToString(webhookKey), // webhooks on, api and writer alike
			"WEBHOOK_ALLOW_HOSTS=127.0.0.1",                 // the tests' receivers listen on loopback
		},
		apiURL:  "http://127.0.0.1:" + apiPort,
		dir:     dir,
		running: map[string]*proc{},
	}
	s.env = append(s.env, extraEnv...)
	s.api = s.newClient(ic.NoRetry)
	s.startAPI()
	s.writerURL = "http://127.0.0.1:" + freePort(t)
	s.startWriter()
	t.Cleanup(s.stopAll)
	return s
}

// startWriter starts the writer on its fixed health and metrics address.
func (s *system) startWriter() {
	s.t.Helper()
	s.start("writer", "HTTP_ADDR="+strings.TrimPrefix(s.writerURL, "http://"))
}

// startAPI starts the api on its fixed address and waits until it is ready.
func (s *system) startAPI() {
	s.t.Helper()
	s.start("api", "HTTP_ADDR="+strings.TrimPrefix(s.apiURL, "http://"))
	s.waitReady(s.apiURL + "/readyz")
}

func (s *system) start(name string, extra ...string) {
	s.t.Helper()
	logf, err := os.OpenFile(filepath.Join(s.dir, name+".log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		s.t.Fatal(err)
	}
	var args []string
	if name == "cron" {
		args = []string{"serve"} // without a command cron prints its usage
	}
	cmd := exec.Command(filepath.Join(s.bin, name), args...)
	cmd.Env = append(append(os.Environ(), s.env...), extra...)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		s.t.Fatalf("start %s: %v", name, err)
	}
	p := &proc{cmd: cmd, done: make(chan struct{})}
	s.mu.Lock()
	s.running[name] = p
	s.mu.Unlock()
	go func() { cmd.Wait(); logf.Close(); close(p.done) }()
}

// stop ends a service with SIGTERM (graceful) and waits for it.
func (s *system) stop(name string) {
	s.signal(name, syscall.SIGTERM)
}

// kill ends a service with SIGKILL, as a crash would.
func (s *system) kill(name string) {
	s.signal(name, syscall.SIGKILL)
}

func (s *system) signal(name string, sig syscall.Signal) {
	s.mu.Lock()
	p := s.running[name]
	delete(s.running, name)
	s.mu.Unlock()
	if p == nil {
		return
	}
	_ = p.cmd.Process.Signal(sig)
	select {
	case <-p.done:
	case <-time.After(15 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

func (s *system) stopAll() {
	for _, name := range []string{"writer", "cron", "api"} {
		s.stop(name)
	}
	if s.t.Failed() {
		for _, name := range []string{"api", "writer", "cron"} {
			b, _ := os.ReadFile(filepath.Join(s.dir, name+".log"))
			lines := strings.Split(strings.TrimSpace(string(b)), "\n")
			if len(lines) > 30 {
				lines = lines[len(lines)-30:]
			}
			s.t.Logf("--- last lines of %s.log:\n%s", name, strings.Join(lines, "\n"))
		}
	}
}

// runOnce runs a service binary with arguments to completion.
func (s *system) runOnce(name string, args ...string) string {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(s.bin, name), args...)
	cmd.Env = append(os.Environ(), s.env...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		s.t.Fatalf("%s %v: %v\n%s", name, args, err, out)
	}
	return string(out)
}

func (s *system) waitReady(url string) {
	s.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := http.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	s.t.Fatalf("%s not ready after 30 s", url)
}

// transport is shared by the raw requests and the Go clients, so the
// hundreds of concurrent posts of a test reuse their connections.
var transport = &http.Transport{MaxIdleConnsPerHost: 100}

// client sends the raw requests: the tests about bytes, headers and
// transport (hostile input, rate-limit headers, /metrics, the dashboard).
var client = &http.Client{Timeout: 30 * time.Second, Transport: transport}

// newClient returns a Go client of the system's api with retry policy p.
func (s *system) newClient(p ic.RetryPolicy) *ic.Client {
	s.t.Helper()
	c, err := ic.New(s.apiURL, ic.WithRetry(p), ic.WithHTTPClient(&http.Client{Transport: transport}))
	if err != nil {
		s.t.Fatal(err)
	}
	return c
}

// newApp creates an application named name through the client and returns
// it, addressed by its token.
func (s *system) newApp(name string) *ic.App {
	s.t.Helper()
	a, err := s.api.CreateApplication(s.t.Context(), name)
	if err != nil {
		s.t.Fatalf("create application: %v", err)
	}
	return s.api.App(a.Token)
}

// newChats creates chats 1..n of app, failing the test on another number.
func (s *system) newChats(app *ic.App, n int) {
	s.t.Helper()
	for want := int64(1); want <= int64(n); want++ {
		c, err := app.CreateChat(s.t.Context())
		if err != nil || c.Number != want {
			s.t.Fatalf("create chat: got %+v, %v, want number %d", c, err, want)
		}
	}
}

// response is a decoded raw answer.
type response struct {
	header http.Header
	status int
	body   map[string]any
	raw    string
}

func (s *system) do(method, path, contentType, body string) response {
	s.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, s.apiURL+path, rd)
	if err != nil {
		s.t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := client.Do(req)
	if err != nil {
		s.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	r := response{status: resp.StatusCode, raw: string(b), header: resp.Header}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	_ = dec.Decode(&r.body)
	return r
}

func (s *system) postJSON(path string, v any) response {
	s.t.Helper()
	b, _ := json.Marshal(v)
	return s.do(http.MethodPost, path, "application/json", string(b))
}

func (s *system) get(path string) response {
	s.t.Helper()
	return s.do(http.MethodGet, path, "", "")
}

func num(t *testing.T, r response, field string) int64 {
	t.Helper()
	n, ok := r.body[field].(json.Number)
	if !ok {
		t.Fatalf("field %q: got %v in %s, want a JSON integer", field, r.body[field], r.raw)
	}
	v, err := n.Int64()
	if err != nil {
		t.Fatalf("field %q: got %v, want an integer", field, n)
	}
	return v
}

// eventually polls cond until it holds or the timeout passes.
func eventually(t *testing.T, timeout time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var last string
	for time.Now().Before(deadline) {
		var ok bool
		if ok, last = cond(); ok {
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("%s: still not true after %v: %s", what, timeout, last)
}

// assertNoTokenInRedis fails if the application token appears in any key or
// list entry under the test's prefix: Redis must only see its digest.
func (s *system) assertNoTokenInRedis(token string) {
	s.t.Helper()
	ctx := context.Background()
	lists := 0
	for _, key := range scanKeys(s.t, s.rdb, s.prefix+"*") {
		if strings.Contains(key, token) {
			s.t.Errorf("Redis key %q contains the application token", key)
		}
		if s.rdb.Type(ctx, key).Val() != "list" {
			continue
		}
		lists++
		for _, v := range s.rdb.LRange(ctx, key, 0, -1).Val() {
			if strings.Contains(v, token) {
				s.t.Fatalf("a job in %s contains the application token", key)
			}
		}
	}
	if lists == 0 {
		s.t.Errorf("no Redis list under %s: the check looked at nothing", s.prefix)
	}
}

// scanKeys lists the keys matching pattern on every primary (one server,
// or each primary of a Cluster).
func scanKeys(t *testing.T, rdb redis.UniversalClient, pattern string) []string {
	t.Helper()
	ctx := context.Background()
	var mu sync.Mutex
	var keys []string
	scan := func(ctx context.Context, c *redis.Client) error {
		iter := c.Scan(ctx, 0, pattern, 1000).Iterator()
		for iter.Next(ctx) {
			mu.Lock()
			keys = append(keys, iter.Val())
			mu.Unlock()
		}
		return iter.Err()
	}
	var err error
	switch c := rdb.(type) {
	case *redis.ClusterClient:
		err = c.ForEachMaster(ctx, scan)
	case *redis.Client:
		err = scan(ctx, c)
	default:
		t.Fatalf("scanKeys: unexpected client %T", rdb)
	}
	if err != nil {
		t.Fatalf("scan %s: %v", pattern, err)
	}
	return keys
}

// logOf returns what a service has logged so far.
func (s *system) logOf(name string) string {
	b, _ := os.ReadFile(filepath.Join(s.dir, name+".log"))
	return string(b)
}

// startSecondAPI starts another api process, "api2", on the system's
// database and Redis, with its own address and search index (bleve opens
// in one process only; the writer keeps reindexing through API_URL, the
// first api). It waits until api2 is ready, stops it with the test and
// returns its base URL. The process is the api binary under another name,
// so start, stop and logOf address it as "api2".
func (s *system) startSecondAPI(extra ...string) string {
	s.t.Helper()
	link := filepath.Join(s.bin, "api2")
	if err := os.Symlink("api", link); err != nil && !os.IsExist(err) {
		s.t.Fatalf("name the api binary api2: %v", err)
	}
	url := "http://127.0.0.1:" + freePort(s.t)
	env := []string{"HTTP_ADDR=" + strings.TrimPrefix(url, "http://"), "BLEVE_PATH=" + filepath.Join(s.dir, "bleve2")}
	s.start("api2", append(env, extra...)...)
	s.t.Cleanup(func() { s.stop("api2") })
	s.waitReady(url + "/readyz")
	return url
}
