package e2e

// The fault-injection harness: a Redis server of the test's own that it may
// stop and start, a proxy that loses Redis replies, a system wired to them and
// to MySQL through a proxy, the load's clients (which survive 503s, trying
// each request once and again by hand), and raw
// access to the queue for injecting duplicates, shuffles and poison jobs.

import (
	"bytes"
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"math/big"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	ic "github.com/instachat/instachat/client"
	"github.com/instachat/instachat/pkg/chat"
	"github.com/instachat/instachat/pkg/queue"
	"github.com/instachat/instachat/pkg/testenv"
)

// replyDropper is a TCP proxy in front of Redis that, once armed, forwards
// the next request that matches, lets Redis run it, and then closes the
// connection instead of passing the reply on: a reply lost on the way back,
// as when Redis shuts down or the network breaks right after a command ran.
type replyDropper struct {
	ln       net.Listener
	upstream string
	match    atomic.Pointer[func(req []byte) bool]
	dropped  atomic.Int32
}

// arm makes the dropper lose the reply to the next request for which match
// (given the request in lower case) is true.
func (d *replyDropper) arm(match func(req []byte) bool) { d.match.Store(&match) }

// scriptCall matches a script call (EVALSHA or EVAL).
func scriptCall(req []byte) bool {
	return bytes.Contains(req, []byte("evalsha")) || bytes.Contains(req, []byte("\r\neval\r\n"))
}

// newReplyDropper listens on a free loopback port and forwards to upstream
// until the test ends.
func newReplyDropper(t *testing.T, upstream string) *replyDropper {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	d := &replyDropper{ln: ln, upstream: upstream}
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			up, err := net.Dial("tcp", upstream)
			if err != nil {
				c.Close()
				continue
			}
			wg.Go(func() { d.serve(c, up) })
		}
	})
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	return d
}

func (d *replyDropper) addr() string { return d.ln.Addr().String() }

// serve pipes one connection; the request that disarms the dropper marks it,
// and its reply is then dropped with the connection.
func (d *replyDropper) serve(c, up net.Conn) {
	var victim atomic.Bool
	var wg sync.WaitGroup
	defer wg.Wait() // after the closes below, which end the other direction
	defer c.Close()
	defer up.Close()
	wg.Go(func() {
		defer up.Close()
		buf := make([]byte, 64<<10)
		for {
			n, err := c.Read(buf)
			if n > 0 {
				if m := d.match.Load(); m != nil && (*m)(bytes.ToLower(buf[:n])) && d.match.CompareAndSwap(m, nil) {
					victim.Store(true)
				}
				if _, werr := up.Write(buf[:n]); werr != nil {
					return
				}
			}
			if err != nil {
				return
			}
		}
	})
	buf := make([]byte, 64<<10)
	for {
		n, err := up.Read(buf)
		if n > 0 {
			if victim.Load() {
				d.dropped.Add(1)
				return // Redis ran the script; its reply never arrives
			}
			if _, werr := c.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

// ownRedis is a redis-server process the test owns, with AOF fsynced on
// every write, so it can be stopped and started again without losing data.
// It never touches the machine's shared Redis.
type ownRedis struct {
	t    *testing.T
	addr string
	port string
	dir  string
	cmd  *exec.Cmd
	done chan struct{}
}

func startOwnRedis(t *testing.T) *ownRedis {
	t.Helper()
	if _, err := exec.LookPath("redis-server"); err != nil {
		t.Skip("redis-server is not installed: the chaos test starts and restarts its own Redis")
	}
	port := freePort(t)
	r := &ownRedis{t: t, port: port, addr: "127.0.0.1:" + port, dir: t.TempDir()}
	r.start()
	t.Cleanup(r.stop)
	return r
}

func (r *ownRedis) start() {
	r.t.Helper()
	logf, err := os.OpenFile(filepath.Join(r.dir, "redis.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		r.t.Fatal(err)
	}
	cmd := exec.Command("redis-server",
		"--port", r.port, "--bind", "127.0.0.1", "--protected-mode", "no", "--daemonize", "no",
		"--appendonly", "yes", "--appendfsync", "always", "--dir", r.dir, "--save", "",
		"--maxmemory-policy", "noeviction")
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		logf.Close()
		r.t.Fatalf("start redis-server: %v", err)
	}
	r.cmd, r.done = cmd, make(chan struct{})
	done := r.done
	go func() { _ = cmd.Wait(); logf.Close(); close(done) }()
	rdb := redis.NewClient(&redis.Options{Addr: r.addr})
	defer rdb.Close()
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		// PING answers LOADING while the AOF is read back: wait for PONG.
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		err := rdb.Ping(ctx).Err()
		cancel()
		if err == nil {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	r.t.Fatalf("redis-server on %s did not answer within 15 s", r.addr)
}

// stop ends the server gracefully (SIGTERM: Redis fsyncs the AOF and exits).
func (r *ownRedis) stop() {
	if r.cmd == nil {
		return
	}
	_ = r.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-r.done:
	case <-time.After(15 * time.Second):
		_ = r.cmd.Process.Kill()
		<-r.done
	}
	r.cmd = nil
}

// restart stops the server, leaves it down for down, and starts it again on
// the same port and directory.
func (r *ownRedis) restart(down time.Duration) {
	r.t.Helper()
	r.stop()
	time.Sleep(down)
	r.start()
}

// newChaosSystem starts the api (not the writer). The services reach Redis at
// redisAddr and MySQL with dsn (through proxies, or straight); the test's own
// client (s.rdb) talks to rds directly.
func newChaosSystem(t *testing.T, rds *ownRedis, redisAddr, dsn string, extraEnv ...string) *system {
	t.Helper()
	rdb := redis.NewClient(&redis.Options{Addr: rds.addr, PoolSize: 32, MaxRetries: -1})
	t.Cleanup(func() { rdb.Close() })
	secret := make([]byte, 16)
	_, _ = rand.Read(secret)
	apiPort := freePort(t)
	dir := t.TempDir()
	prefix := testenv.Name("chaos:") + ":"
	s := &system{
		t:      t,
		rdb:    rdb,
		prefix: prefix,
		bin:    binaries(t),
		env: []string{
			"MYSQL_DSN=" + dsn,
			"REDIS_ADDR=" + redisAddr,
			"REDIS_KEY_PREFIX=" + prefix,
			"INTERNAL_TOKEN=" + hex.EncodeToString(secret),
			"BLEVE_PATH=" + filepath.Join(dir, "bleve"),
			"API_URL=http://127.0.0.1:" + apiPort,
			"QUEUE_HEARTBEAT_TTL=3s",
			"LOG_LEVEL=debug",
			"SEARCH_CATCHUP_INTERVAL=500ms",
			"SEARCH_CATCHUP_DELAY=1s",
			"SEARCH_BACKEND=bleve",
			// The fault drill measures what faults do, not the limits: a
			// burst of catch-up writes after a Redis restart must not meet 429.
			"RATE_LIMIT=off",
		},
		apiURL:  "http://127.0.0.1:" + apiPort,
		dir:     dir,
		running: map[string]*proc{},
	}
	s.env = append(s.env, extraEnv...)
	s.api = s.newClient(ic.NoRetry)
	t.Cleanup(func() { keepLogs(t, dir, rds.dir) })
	s.startAPI()
	t.Cleanup(s.stopAll)
	return s
}

// keepLogs copies the services' and Redis's logs to $CHAOS_KEEP_LOGS/<test>
// when the test failed and that variable names a directory.
func keepLogs(t *testing.T, dirs ...string) {
	root := os.Getenv("CHAOS_KEEP_LOGS")
	if root == "" || !t.Failed() {
		return
	}
	dst := filepath.Join(root, strings.ReplaceAll(t.Name(), "/", "_")+"-"+time.Now().Format("150405"))
	if err := os.MkdirAll(dst, 0o755); err != nil {
		t.Logf("keep logs: %v", err)
		return
	}
	for _, d := range dirs {
		matches, _ := filepath.Glob(filepath.Join(d, "*.log"))
		for _, m := range matches {
			b, err := os.ReadFile(m)
			if err == nil {
				_ = os.WriteFile(filepath.Join(dst, filepath.Base(m)), b, 0o644)
			}
		}
	}
	t.Logf("logs kept in %s", dst)
}

// replaceDSNAddr points a go-sql-driver DSN ("user:pass@tcp(host:port)/db?…")
// at another address.
func replaceDSNAddr(dsn, addr string) (string, error) {
	i := strings.Index(dsn, "@tcp(")
	if i < 0 {
		return "", fmt.Errorf("DSN %q: no @tcp(…) address", dsn)
	}
	j := strings.Index(dsn[i:], ")")
	if j < 0 {
		return "", fmt.Errorf("DSN %q: unterminated address", dsn)
	}
	return dsn[:i] + "@tcp(" + addr + dsn[i+j:], nil
}

// openDB opens the test database directly (not through the proxy) for checks.
func openDB(t *testing.T, dsn string) *sql.DB {
	t.Helper()
	db, err := sql.Open("mysql", dsn)
	if err != nil {
		t.Fatal(err)
	}
	db.SetMaxOpenConns(4)
	t.Cleanup(func() { db.Close() })
	return db
}

// chaosQueue is raw access to the system's queue keys.
type chaosQueue struct {
	rdb  redis.UniversalClient
	keys queue.Keys
}

// shuffleScript replaces a list with a permutation of itself in one atomic
// step (Fisher–Yates driven by a Park–Miller generator seeded from ARGV[1]),
// so no job the api pushes meanwhile is lost.
var shuffleScript = redis.NewScript(`
local n = redis.call('LLEN', KEYS[1])
if n < 2 then return n end
local items = redis.call('LRANGE', KEYS[1], 0, -1)
local x = tonumber(ARGV[1])
for i = n, 2, -1 do
  x = (x * 16807) % 2147483647
  local j = (x % i) + 1
  items[i], items[j] = items[j], items[i]
end
redis.call('DEL', KEYS[1])
for i = 1, n, 4000 do
  redis.call('RPUSH', KEYS[1], unpack(items, i, math.min(i + 3999, n)))
end
return n`)

// shuffle permutes every partition's pending list and returns how many jobs
// it moved.
func (q chaosQueue) shuffle(ctx context.Context) (int, error) {
	total := 0
	for p := 0; p < q.keys.Partitions(); p++ {
		seed, _ := rand.Int(rand.Reader, big.NewInt(2147483645))
		n, err := shuffleScript.Run(ctx, q.rdb, []string{q.keys.Pending(p)}, seed.Int64()+1).Int()
		if err != nil {
			return total, fmt.Errorf("shuffle partition %d: %w", p, err)
		}
		total += n
	}
	return total, nil
}

// knownTypes are the job types the load produces; anything else is poison,
// which must not be duplicated.
var knownTypes = map[string]bool{queue.TypeChatCreate: true, queue.TypeMessageCreate: true, queue.TypeMessageUpdate: true}

// sample reads every pending list and returns a random fraction (at least
// least per non-empty list) of the load's jobs: they decode, belong to one
// of apps and have a known type.
func (q chaosQueue) sample(ctx context.Context, apps map[string]bool, frac float64, least int) ([]string, error) {
	var out []string
	for p := 0; p < q.keys.Partitions(); p++ {
		all, err := q.rdb.LRange(ctx, q.keys.Pending(p), 0, -1).Result()
		if err != nil {
			return out, fmt.Errorf("read pending %d: %w", p, err)
		}
		var mine []string
		for _, raw := range all {
			if e, err := queue.Decode(raw); err == nil && apps[e.App] && knownTypes[e.Type] {
				mine = append(mine, raw)
			}
		}
		if len(mine) == 0 {
			continue
		}
		k := max(least, int(float64(len(mine))*frac))
		for _, i := range mrand.Perm(len(mine))[:min(k, len(mine))] {
			out = append(out, mine[i])
		}
	}
	return out, nil
}

// push LPUSHes raw jobs onto the pending lists of their applications'
// partitions and counts them by type.
func (q chaosQueue) push(ctx context.Context, raws []string, byType map[string]int) error {
	for _, raw := range raws {
		e, err := queue.Decode(raw)
		if err != nil {
			return err
		}
		if err := q.rdb.LPush(ctx, q.keys.Pending(q.keys.Partition(e.App)), raw).Err(); err != nil {
			return fmt.Errorf("push duplicate: %w", err)
		}
		byType[e.Type]++
	}
	return nil
}

// depth is what is still in flight in the queue.
type depth struct{ pending, processing, retry, parkedDue int64 }

func (d depth) empty() bool {
	return d.pending == 0 && d.processing == 0 && d.retry == 0 && d.parkedDue == 0
}

func (d depth) String() string {
	return fmt.Sprintf("pending %d, processing %d, retry %d, parked parents %d", d.pending, d.processing, d.retry, d.parkedDue)
}

func (q chaosQueue) depth(ctx context.Context) (depth, error) {
	var d depth
	for p := 0; p < q.keys.Partitions(); p++ {
		names, err := q.rdb.SMembers(ctx, q.keys.Consumers(p)).Result()
		if err != nil {
			return d, err
		}
		pipe := q.rdb.Pipeline()
		pend := pipe.LLen(ctx, q.keys.Pending(p))
		retry := pipe.ZCard(ctx, q.keys.Retry(p))
		parked := pipe.ZCard(ctx, q.keys.ParkedDue(p))
		procs := make([]*redis.IntCmd, len(names))
		for i, n := range names {
			procs[i] = pipe.LLen(ctx, q.keys.Processing(p, n))
		}
		if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
			return d, err
		}
		d.pending += pend.Val()
		d.retry += retry.Val()
		d.parkedDue += parked.Val()
		for _, c := range procs {
			d.processing += c.Val()
		}
	}
	return d, nil
}

// dead returns every job in every partition's dead list.
func (q chaosQueue) dead(ctx context.Context) ([]string, error) {
	var out []string
	for p := 0; p < q.keys.Partitions(); p++ {
		l, err := q.rdb.LRange(ctx, q.keys.Dead(p), 0, -1).Result()
		if err != nil {
			return nil, err
		}
		out = append(out, l...)
	}
	return out, nil
}

// stats sums the per-partition job counters.
func (q chaosQueue) stats(ctx context.Context) (map[string]int64, error) {
	out := map[string]int64{}
	for p := 0; p < q.keys.Partitions(); p++ {
		h, err := q.rdb.HGetAll(ctx, q.keys.Stats(p)).Result()
		if err != nil {
			return nil, err
		}
		for k, v := range h {
			var n int64
			fmt.Sscan(v, &n)
			out[k] += n
		}
	}
	return out, nil
}

// runExit runs a service binary once and returns its combined output and
// exit status (-1 when it could not run).
func (s *system) runExit(timeout time.Duration, name string, args ...string) (string, int) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(s.bin, name), args...)
	cmd.Env = append(os.Environ(), s.env...)
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return string(out), 0
	case errors.As(err, &ee):
		return string(out), ee.ExitCode()
	}
	return string(out) + err.Error(), -1
}

// ---- load ----

type msgKey struct {
	app          int
	chat, number int64
}

type chatKey struct {
	app  int
	chat int64
}

// msgState is what the clients know about one accepted message.
type msgState struct {
	body      string    // the create's body
	last      string    // body of the last accepted update, "" if none
	lastAt    time.Time // its updated_at
	updates   int
	ambiguous []string // bodies of later updates whose answer never came (503 until the end)
}

type clientResult struct {
	msgs                   map[msgKey]*msgState
	ambiguousCreates       map[chatKey][]string // bodies of creates answered 503 or not at all
	createsOK, updatesOK   int
	creates503, updates503 int
	transport, other       int
	otherSamples           []string
	nonMonotonic           int
}

type chaosLoad struct {
	s        *system
	plan     chaosPlan
	apps     []*ic.App // through s.api: every request tried once
	tokens   []string
	mu       sync.Mutex
	chats    []chatKey // chats handed out, in order
	start    time.Time
	deadline time.Time
	interval time.Duration
	slot     atomic.Int64
	creates  atomic.Int64 // creates left to start
	updates  atomic.Int64
	wg       sync.WaitGroup
	stopped  atomic.Bool
	results  []*clientResult
}

// chatRetry is the policy of chat creates, which the load retries for
// about 10 s while Redis is down, as one call: every attempt carries the
// same idempotency key, so a retry after a lost answer makes no second chat.
var chatRetry = ic.RetryPolicy{MaxAttempts: 50, Base: 400 * time.Millisecond, Max: 400 * time.Millisecond}

func newChaosLoad(s *system, p chaosPlan) *chaosLoad {
	l := &chaosLoad{s: s, plan: p}
	l.creates.Store(int64(p.messages))
	l.updates.Store(int64(p.updates))
	return l
}

// addApp creates application a of the load.
func (l *chaosLoad) addApp(t *testing.T, name string) {
	t.Helper()
	a, err := l.s.api.CreateApplication(t.Context(), name)
	if err != nil {
		t.Fatalf("create application: %v", err)
	}
	l.tokens = append(l.tokens, a.Token)
	l.apps = append(l.apps, l.s.api.App(a.Token))
}

// createChat creates one chat of application a (from the test goroutine),
// with the client retrying 503s and lost answers (chatRetry).
func (l *chaosLoad) createChat(t *testing.T, a int) {
	t.Helper()
	c, err := l.s.newClient(chatRetry).App(l.tokens[a]).CreateChat(t.Context())
	if err != nil {
		t.Fatalf("create chat: %v (Redis unavailable for 10 s?)", err)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if want := int64(l.countOf(a) + 1); c.Number != want {
		t.Fatalf("create chat of application %d: got number %d, want %d", a, c.Number, want)
	}
	l.chats = append(l.chats, chatKey{app: a, chat: c.Number})
}

func (l *chaosLoad) countOf(a int) int {
	n := 0
	for _, c := range l.chats {
		if c.app == a {
			n++
		}
	}
	return n
}

func (l *chaosLoad) chatsOf(a int) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.countOf(a)
}

func (l *chaosLoad) chatsCreated() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.chats)
}

func (l *chaosLoad) randomChat(rng *mrand.Rand) chatKey {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.chats[rng.IntN(len(l.chats))]
}

// run starts the clients. Operations are paced evenly over plan.load. The
// clients stop when the test ends, whatever happened.
func (l *chaosLoad) run(t *testing.T) {
	t.Cleanup(func() { l.stopped.Store(true); l.wg.Wait() })
	l.start = time.Now()
	l.interval = l.plan.load / time.Duration(l.plan.messages+l.plan.updates)
	l.deadline = l.start.Add(3*l.plan.load + time.Minute)
	for c := range l.plan.clients {
		r := &clientResult{msgs: map[msgKey]*msgState{}, ambiguousCreates: map[chatKey][]string{}}
		l.results = append(l.results, r)
		l.wg.Go(func() { l.client(c, r) })
	}
}

func (l *chaosLoad) wait(t *testing.T) {
	t.Helper()
	done := make(chan struct{})
	go func() { l.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(time.Until(l.deadline) + time.Minute):
		t.Fatalf("the clients did not finish by their deadline")
	}
}

// take decrements a budget if it is positive.
func take(n *atomic.Int64) bool {
	for {
		v := n.Load()
		if v <= 0 {
			return false
		}
		if n.CompareAndSwap(v, v-1) {
			return true
		}
	}
}

func (l *chaosLoad) client(id int, r *clientResult) {
	rng := mrand.New(mrand.NewPCG(uint64(id)+1, uint64(time.Now().UnixNano())))
	ratio := float64(l.plan.updates) / float64(l.plan.messages+l.plan.updates)
	var own []msgKey
	for seq := 0; l.going(); seq++ {
		slot := l.slot.Add(1) - 1
		for at := l.start.Add(time.Duration(slot) * l.interval); time.Now().Before(at) && !l.stopped.Load(); {
			time.Sleep(min(time.Until(at), 100*time.Millisecond))
		}
		update := len(own) > 0 && rng.Float64() < ratio && take(&l.updates)
		if !update && !take(&l.creates) {
			if len(own) == 0 || !take(&l.updates) {
				return
			}
			update = true
		}
		if update {
			// Mostly recent messages (their create may still be queued), some
			// updated again and again.
			k := own[rng.IntN(len(own))]
			if rng.IntN(2) == 0 {
				k = own[len(own)-1-rng.IntN(min(5, len(own)))]
			}
			l.update(id, seq, rng, k, r)
			continue
		}
		if k, ok := l.create(id, seq, rng, r); ok {
			own = append(own, k)
		}
	}
}

// going reports whether the clients may go on.
func (l *chaosLoad) going() bool { return !l.stopped.Load() && time.Now().Before(l.deadline) }

// backoff sleeps a little before the same request is tried again.
func backoff(rng *mrand.Rand) { time.Sleep(time.Duration(100+rng.IntN(200)) * time.Millisecond) }

func (r *clientResult) unexpected(what string, err error) {
	r.other++
	if len(r.otherSamples) < 5 {
		r.otherSamples = append(r.otherSamples, fmt.Sprintf("%s: %d %v", what, ic.StatusOf(err), err))
	}
}

func (l *chaosLoad) create(id, seq int, rng *mrand.Rand, r *clientResult) (msgKey, bool) {
	c := l.randomChat(rng)
	for try := 0; l.going(); try++ {
		// Each try is a new request (another body, another idempotency
		// key), so a lost answer leaves an ambiguous create behind.
		body := fmt.Sprintf("chaos c%02d s%d t%d %s", id, seq, try, fruits[seq%3])
		m, err := l.apps[c.app].PostMessage(context.Background(), c.chat, body)
		switch status := ic.StatusOf(err); {
		case err == nil:
			r.createsOK++
			k := msgKey{app: c.app, chat: c.chat, number: m.Number}
			r.msgs[k] = &msgState{body: body}
			return k, true
		case status == 0:
			r.transport++
		case status == http.StatusServiceUnavailable:
			r.creates503++
		default:
			r.unexpected("create", err)
			return msgKey{}, false
		}
		// Not accepted, but the job may have been pushed before the answer
		// was lost: the row may exist with this body.
		r.ambiguousCreates[c] = append(r.ambiguousCreates[c], body)
		backoff(rng)
	}
	return msgKey{}, false
}

func (l *chaosLoad) update(id, seq int, rng *mrand.Rand, k msgKey, r *clientResult) {
	body := fmt.Sprintf("chaos edit c%02d s%d %s", id, seq, fruits[(seq+1)%3])
	st := r.msgs[k]
	for l.going() {
		m, err := l.apps[k.app].UpdateMessage(context.Background(), k.chat, k.number, body)
		switch status := ic.StatusOf(err); {
		case err == nil:
			r.updatesOK++
			if !m.UpdatedAt.After(st.lastAt) {
				r.nonMonotonic++
			}
			st.last, st.lastAt, st.ambiguous = body, m.UpdatedAt, nil
			st.updates++
			return
		case status == 0:
			r.transport++
		case status == http.StatusServiceUnavailable:
			r.updates503++
		default:
			r.unexpected("update", err)
			return
		}
		backoff(rng)
	}
	st.ambiguous = append(st.ambiguous, body)
}

// merge adds up what the clients saw.
func (l *chaosLoad) merge() *clientResult {
	m := &clientResult{msgs: map[msgKey]*msgState{}, ambiguousCreates: map[chatKey][]string{}}
	for _, r := range l.results {
		for k, v := range r.msgs {
			m.msgs[k] = v
		}
		for k, v := range r.ambiguousCreates {
			m.ambiguousCreates[k] = append(m.ambiguousCreates[k], v...)
		}
		m.createsOK += r.createsOK
		m.updatesOK += r.updatesOK
		m.creates503 += r.creates503
		m.updates503 += r.updates503
		m.transport += r.transport
		m.other += r.other
		m.otherSamples = append(m.otherSamples, r.otherSamples...)
		m.nonMonotonic += r.nonMonotonic
	}
	return m
}

// ---- injection ----

type injector struct {
	t         *testing.T
	q         chaosQueue
	apps      map[string]bool
	pool      []string // jobs sampled in earlier windows, replayed as late duplicates
	dups      int
	dupTypes  map[string]int
	shuffled  int
	windows   int
	poisonIDs []string // event ids of poison envelopes
	poisonRaw []string // poison jobs that do not decode
}

// window runs while no writer is up: duplicate a sample of the pending jobs
// (and some of earlier windows, long applied by now), then shuffle every
// pending list.
func (in *injector) window(ctx context.Context) {
	in.t.Helper()
	in.windows++
	sample, err := in.q.sample(ctx, in.apps, 0.05, 3)
	if err != nil {
		in.t.Fatalf("sample pending jobs: %v", err)
	}
	dups := append([]string(nil), sample...)
	for _, i := range mrand.Perm(len(in.pool))[:min(20, len(in.pool))] {
		dups = append(dups, in.pool[i])
	}
	if err := in.q.push(ctx, dups, in.dupTypes); err != nil {
		in.t.Fatalf("inject duplicates: %v", err)
	}
	in.dups += len(dups)
	in.pool = append(in.pool, sample...)
	n, err := in.q.shuffle(ctx)
	if err != nil {
		in.t.Fatalf("shuffle: %v", err)
	}
	in.shuffled += n
}

// poison pushes jobs that must end on the dead list: envelopes of an
// application nobody has, one of an unknown type, and strings that are not
// envelopes.
func (in *injector) poison(ctx context.Context, token string, p chaosPlan) {
	in.t.Helper()
	now := time.Now()
	var envs []queue.Envelope
	for i := range p.poisonUnknownApp {
		typ := []string{queue.TypeMessageCreate, queue.TypeMessageUpdate}[i%2]
		envs = append(envs, queue.Envelope{ID: queue.NewEventID(now), Type: typ, App: fmt.Sprintf("%024x", i+0xdead),
			Chat: 1, Message: 1, Body: "poison: no such application", Time: now.UnixMicro()})
	}
	envs = append(envs, queue.Envelope{ID: queue.NewEventID(now), Type: "message.explode", App: chat.TokenDigest(token),
		Chat: 1, Message: 1, Body: "poison: no such job type", Time: now.UnixMicro()})
	for _, e := range envs {
		raw, err := e.Encode()
		if err != nil {
			in.t.Fatal(err)
		}
		if err := in.q.rdb.LPush(ctx, in.q.keys.Pending(in.q.keys.Partition(e.App)), raw).Err(); err != nil {
			in.t.Fatalf("push poison: %v", err)
		}
		in.poisonIDs = append(in.poisonIDs, e.ID)
	}
	for i := range p.poisonRaw {
		raw := fmt.Sprintf("this is not JSON { #%d", i)
		if i%2 == 1 {
			raw = fmt.Sprintf(`{"hello": "an object, but no envelope", "n": %d}`, i)
		}
		part := in.q.keys.Partition(chat.TokenDigest(token))
		if err := in.q.rdb.LPush(ctx, in.q.keys.Pending(part), raw).Err(); err != nil {
			in.t.Fatalf("push poison: %v", err)
		}
		in.poisonRaw = append(in.poisonRaw, raw)
	}
}

// drain waits until no job is pending, in flight, waiting for a retry or
// parked, and the row counts in MySQL held still for three polls.
func (in *injector) drain(ctx context.Context, s *system, db *sql.DB, timeout time.Duration) {
	in.t.Helper()
	deadline := time.Now().Add(timeout)
	var last [3]int64
	stable := 0
	var d depth
	for time.Now().Before(deadline) {
		s.mustRun(in.t, "writer")
		var err error
		d, err = in.q.depth(ctx)
		var now [3]int64
		if err == nil {
			err = db.QueryRowContext(ctx, "SELECT (SELECT COUNT(*) FROM messages), (SELECT COUNT(*) FROM chats), (SELECT COALESCE(MAX(id), 0) FROM event_journal)").Scan(&now[0], &now[1], &now[2])
		}
		if err == nil && d.empty() && now == last {
			stable++
			if stable >= 3 {
				return
			}
		} else {
			stable = 0
		}
		last = now
		time.Sleep(500 * time.Millisecond)
	}
	in.dumpStuck(ctx)
	in.t.Fatalf("the queue did not drain in %v: %s (a stuck job?)", timeout, d)
}

// dumpStuck logs a few of the jobs still in the queue.
func (in *injector) dumpStuck(ctx context.Context) {
	k := in.q.keys
	for p := 0; p < k.Partitions(); p++ {
		if l, _ := in.q.rdb.LRange(ctx, k.Pending(p), -3, -1).Result(); len(l) > 0 {
			in.t.Logf("partition %d pending (consuming end): %v", p, l)
		}
		if l, _ := in.q.rdb.ZRangeWithScores(ctx, k.Retry(p), 0, 2).Result(); len(l) > 0 {
			in.t.Logf("partition %d retry: %v", p, l)
		}
		if l, _ := in.q.rdb.ZRangeWithScores(ctx, k.ParkedDue(p), 0, 2).Result(); len(l) > 0 {
			in.t.Logf("partition %d parked parents: %v", p, l)
			for _, z := range l {
				jobs, _ := in.q.rdb.LRange(ctx, k.Parked(p, fmt.Sprint(z.Member)), 0, 2).Result()
				in.t.Logf("  parked for %v: %v", z.Member, jobs)
			}
		}
		names, _ := in.q.rdb.SMembers(ctx, k.Consumers(p)).Result()
		for _, n := range names {
			if l, _ := in.q.rdb.LRange(ctx, k.Processing(p, n), 0, 2).Result(); len(l) > 0 {
				ttl, _ := in.q.rdb.PTTL(ctx, k.Heartbeat(p, n)).Result()
				in.t.Logf("partition %d processing of %s (heartbeat ttl %v): %v", p, n, ttl, l)
			}
		}
	}
}
