package delivery_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/instachat/instachat/pkg/chat"
	"github.com/instachat/instachat/pkg/queue"
	"github.com/instachat/instachat/pkg/settings"
	"github.com/instachat/instachat/pkg/store"
	"github.com/instachat/instachat/pkg/testenv"
	"github.com/instachat/instachat/pkg/webhook"
	"github.com/instachat/instachat/services/writer/internal/delivery"
)

// env is one test's world: a fresh database with one application, a fresh
// Redis prefix, the hooks lane's queue, a settings cache kept current, and a
// loopback receiver that the policy allow-lists.
type env struct {
	mysql   *testenv.Proxy
	st      *store.Store
	ss      *store.SettingsStore
	rdb     *redis.Client
	keys    queue.Keys // the jobs lane's layout; q is its hooks lane
	q       *queue.Queue
	in      *queue.Inspector // of the hooks lane
	cache   *settings.Cache
	app     string // the application's token digest
	recv    *receiver
	client  *http.Client
	reg     *prometheus.Registry
	metrics *delivery.Metrics
	log     *slog.Logger
}

// testKey seals the test's webhook secrets.
const testKey = "4f9a2c7e1b8d6a3f0e5c9b2a7d4f1e8c6b3a0d9f2e7c4b1a"

func newEnv(t *testing.T, maxAttempts int) *env {
	t.Helper()
	ctx := t.Context()
	// MySQL is reached through a proxy a test can cut.
	dsn := testenv.MySQLDSN(t)
	i, j := strings.Index(dsn, "tcp("), strings.Index(dsn, ")/")
	if i < 0 || j < i {
		t.Fatalf("MySQL DSN %q has no tcp(address)", dsn)
	}
	mysql := testenv.NewProxy(t, dsn[i+len("tcp("):j])
	st, err := store.Open(ctx, store.Config{DSN: dsn[:i] + "tcp(" + mysql.Addr() + dsn[j:]})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	sealer, err := settings.NewSealer(testKey)
	if err != nil {
		t.Fatal(err)
	}
	rdb, prefix := testenv.Redis(t)
	e := &env{mysql: mysql, st: st, ss: st.Settings(sealer), rdb: rdb, keys: queue.NewKeys(prefix, 2), reg: prometheus.NewRegistry(),
		log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	e.q = queue.New(rdb, e.keys.Hooks(), queue.Config{MaxAttempts: maxAttempts, HeartbeatTTL: 3 * time.Second})
	e.in = queue.NewInspector(rdb, e.keys.Hooks())
	e.metrics = delivery.NewMetrics(e.reg)
	e.cache = settings.NewCache(e.ss, rdb, settings.Channel(prefix), e.log)
	// Cache.Run stays blocked in its subscription after its context ends
	// until a message comes or the client closes, which testenv's cleanup
	// (registered earlier, run later) does.
	cacheCtx, stopCache := context.WithCancel(context.Background())
	t.Cleanup(stopCache)
	go e.cache.Run(cacheCtx)
	<-e.cache.Ready()
	ref, err := st.CreateApplication(ctx, "webhook test", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	e.app = chat.TokenDigest(ref.App.Token)
	policy, err := webhook.ParsePolicy("127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	e.client = policy.Client(2 * time.Second)
	e.recv = newReceiver(t)
	return e
}

// config is a delivery configuration with tiny backoffs for tests.
func config() delivery.Config {
	return delivery.Config{Concurrency: 4, Backoff: 10 * time.Millisecond, BackoffMax: 40 * time.Millisecond,
		PauseAfter: time.Hour, PauseFailures: 1000, Block: time.Second}
}

// start runs a worker with cfg, and the lane's upkeep as the writer's main
// runs it (only faster), until the returned stop is called.
func (e *env) start(t *testing.T, cfg delivery.Config) (stop func()) {
	t.Helper()
	cfg.Metrics = e.metrics
	w := delivery.New(cfg, e.q, e.rdb, e.cache, e.ss, e.client, e.log)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { w.Run(ctx) })
	wg.Go(func() {
		for ctx.Err() == nil {
			if _, err := e.q.PromoteDue(ctx, time.Now()); err != nil && ctx.Err() == nil {
				t.Errorf("PromoteDue: %v", err)
			}
			select {
			case <-ctx.Done():
			case <-time.After(10 * time.Millisecond):
			}
		}
	})
	var once sync.Once
	stop = func() { once.Do(func() { cancel(); wg.Wait() }) }
	t.Cleanup(stop)
	return stop
}

// update changes the application's settings as the api does and announces
// the change; it returns what was saved.
func (e *env) update(t *testing.T, change func(cur settings.Settings) (settings.Settings, error)) settings.Settings {
	t.Helper()
	saved, err := e.ss.Update(t.Context(), e.app, change)
	if err != nil {
		t.Fatalf("update settings: %v", err)
	}
	if err := e.cache.Changed(t.Context(), e.app, saved); err != nil {
		t.Fatal(err)
	}
	return saved
}

// addHook creates an endpoint for url (every event type) and returns its id
// and signing secret.
func (e *env) addHook(t *testing.T, url string) (id, secret string) {
	t.Helper()
	var created []settings.Created
	e.update(t, func(cur settings.Settings) (settings.Settings, error) {
		in := inputs(cur, "")
		in = append(in, settings.WebhookInput{URL: url})
		next, c, err := settings.Apply(cur, settings.Change{Webhooks: settings.Field[[]settings.WebhookInput]{Set: true, Value: in}}, time.Now(), webhook.NewSecret)
		created = c
		return next, err
	})
	return created[0].ID, created[0].Secret
}

// deleteHook removes endpoint id.
func (e *env) deleteHook(t *testing.T, id string) {
	t.Helper()
	e.update(t, func(cur settings.Settings) (settings.Settings, error) {
		next, _, err := settings.Apply(cur, settings.Change{Webhooks: settings.Field[[]settings.WebhookInput]{Set: true, Value: inputs(cur, id)}}, time.Now(), webhook.NewSecret)
		return next, err
	})
}

// inputs writes cur's endpoints back, but the one named except.
func inputs(cur settings.Settings, except string) []settings.WebhookInput {
	in := []settings.WebhookInput{}
	for _, w := range cur.Webhooks {
		if w.ID != except {
			in = append(in, settings.WebhookInput{ID: w.ID, URL: w.URL, Events: w.Events})
		}
	}
	return in
}

// hook returns endpoint id as MySQL has it, with the settings' version.
func (e *env) hook(t *testing.T, id string) (settings.Webhook, int64) {
	t.Helper()
	s, err := e.ss.LoadSettings(t.Context(), e.app)
	if err != nil {
		t.Fatal(err)
	}
	w, ok := s.Webhook(id)
	if !ok {
		t.Fatalf("endpoint %s not in the settings", id)
	}
	return w, s.Version
}

// push queues a delivery of message n's creation to endpoint hook, as the
// api's step does, at position 1-n.
func (e *env) push(t *testing.T, hook string, n int64) queue.Envelope {
	t.Helper()
	j := queue.Envelope{ID: queue.NewEventID(time.Now()), Type: queue.TypeMessageCreate, App: e.app, Chat: 1, Message: n,
		Body: fmt.Sprintf("message %d", n), Time: time.Now().UnixMicro(), Ev: fmt.Sprintf("1-%d", n), Hook: hook}
	if err := e.q.Push(t.Context(), j); err != nil {
		t.Fatal(err)
	}
	return j
}

// dead returns the hooks lane's dead jobs, newest first.
func (e *env) dead(t *testing.T) []queue.DeadJob {
	t.Helper()
	jobs, _, err := e.in.Dead(t.Context(), -1, 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	return jobs
}

// recent returns the application's recent deliveries, newest first.
func (e *env) recent(t *testing.T) []queue.HookDelivery {
	t.Helper()
	ds, err := e.in.HookDeliveries(t.Context(), e.app, 100)
	if err != nil {
		t.Fatal(err)
	}
	return ds
}

// idle reports whether the hooks lane holds nothing pending, processing or
// waiting for a retry.
func (e *env) idle(t *testing.T) bool {
	t.Helper()
	ds, err := e.in.Depths(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range ds {
		if d.Pending+d.Processing+d.Retry > 0 {
			return false
		}
	}
	return true
}

// metric returns the value of counter name with labels (a histogram's
// sample count), 0 when absent.
func (e *env) metric(t *testing.T, name string, labels ...string) float64 {
	t.Helper()
	mfs, err := e.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	next:
		for _, m := range mf.GetMetric() {
			for i := 0; i+1 < len(labels); i += 2 {
				found := false
				for _, lp := range m.GetLabel() {
					if lp.GetName() == labels[i] && lp.GetValue() == labels[i+1] {
						found = true
					}
				}
				if !found {
					continue next
				}
			}
			if h := m.GetHistogram(); h != nil {
				return float64(h.GetSampleCount())
			}
			return m.GetCounter().GetValue()
		}
	}
	return 0
}

// eventually waits up to 10 s for cond.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// request is one delivery the receiver got.
type request struct {
	header http.Header
	body   []byte
}

// receiver is a loopback webhook receiver whose answers a test chooses.
type receiver struct {
	srv *httptest.Server
	mu  sync.Mutex
	got []request
	// answer answers the n-th request (0-based); nil answers 204.
	answer func(n int, w http.ResponseWriter, r *http.Request)
}

func newReceiver(t *testing.T) *receiver {
	rc := &receiver{}
	rc.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		rc.mu.Lock()
		n := len(rc.got)
		rc.got = append(rc.got, request{header: r.Header.Clone(), body: b})
		answer := rc.answer
		rc.mu.Unlock()
		if answer == nil {
			w.WriteHeader(http.StatusNoContent)
			return
		}
		answer(n, w, r)
	}))
	t.Cleanup(rc.srv.Close)
	return rc
}

// url is the receiver's endpoint URL.
func (rc *receiver) url() string { return rc.srv.URL + "/hooks" }

func (rc *receiver) setAnswer(f func(n int, w http.ResponseWriter, r *http.Request)) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	rc.answer = f
}

func (rc *receiver) requests() []request {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return slices.Clone(rc.got)
}

// waitFor waits until the receiver got n requests and returns them.
func (rc *receiver) waitFor(t *testing.T, n int) []request {
	t.Helper()
	eventually(t, fmt.Sprintf("%d deliveries", n), func() bool { return len(rc.requests()) >= n })
	return rc.requests()
}

// verify checks r's signature with secret the way a receiver does: the
// HMAC-SHA256 of "<t>.<body>", hex, against each v1 of the header.
func verify(t *testing.T, r request, secret string) {
	t.Helper()
	sig := r.header.Get(webhook.HeaderSignature)
	var ts string
	var v1 []string
	for part := range strings.SplitSeq(sig, ",") {
		k, v, _ := strings.Cut(part, "=")
		switch k {
		case "t":
			ts = v
		case "v1":
			v1 = append(v1, v)
		}
	}
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(ts + "." + string(r.body)))
	want := hex.EncodeToString(m.Sum(nil))
	for _, v := range v1 {
		if hmac.Equal([]byte(v), []byte(want)) {
			return
		}
	}
	t.Errorf("signature %q does not verify over %q", sig, r.body)
}

// answerStatus answers every request with status and body.
func answerStatus(status int, body string) func(int, http.ResponseWriter, *http.Request) {
	return func(_ int, w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(status)
		_, _ = io.WriteString(w, body)
	}
}
