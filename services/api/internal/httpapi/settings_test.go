package httpapi

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/instachat/instachat/pkg/chat"
	"github.com/instachat/instachat/pkg/queue"
	"github.com/instachat/instachat/pkg/settings"
	"github.com/instachat/instachat/pkg/webhook"
	"github.com/instachat/instachat/services/api/internal/chats"
	"github.com/instachat/instachat/services/api/internal/index"
)

// newSettingsAPI is newLiveAPI's api with applications' settings served:
// webhook secrets sealed, loopback allowed as a webhook destination.
func newSettingsAPI(t *testing.T) (*liveAPI, queue.Keys) {
	return newSettingsAPIWith(t, false, "127.0.0.1")
}

// newSettingsAPIWith turns the rate limits on when limited (the server's
// write limit is generous: 100 a second); allow is WEBHOOK_ALLOW_HOSTS.
func newSettingsAPIWith(t *testing.T, limited bool, allow string) (*liveAPI, queue.Keys) {
	t.Helper()
	d := newDeps(t, 2)
	sealer, err := settings.NewSealer("settings test key, thirty-two chars")
	if err != nil {
		t.Fatal(err)
	}
	policy, err := webhook.ParsePolicy(allow)
	if err != nil {
		t.Fatal(err)
	}
	st := d.st.Settings(sealer)
	cache := settings.NewCache(st, d.rdb, settings.Channel(d.prefix), d.log)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	go cache.Run(ctx)
	d.svc.WithTenants(chats.Tenants{Store: st, Cache: cache, NewSecret: webhook.NewSecret, CheckURL: policy.CheckURL, Webhooks: true})
	var rl RateLimit
	if limited {
		writes, _ := ParseLimit("100/1s")
		// A generous timeout: these tests are about the limits, and a check
		// slower than DefaultRateLimitTimeout on a loaded machine would fail
		// open (TestRateLimitFailsOpen covers that).
		rl = RateLimit{Redis: d.rdb, KeyPrefix: d.prefix, Writes: writes, Applications: writes, Timeout: 10 * time.Second}
	}
	h := NewServer(Config{InternalToken: testInternalToken, Index: index.New(d.st, d.eng, d.log), AdminToken: testAdminToken,
		Metrics: prometheus.NewRegistry(), RateLimit: rl}, d.svc, d.in, d.log)
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	a := &liveAPI{url: srv.URL, db: d.db, rdb: d.rdb, q: d.q, in: d.in}
	r := a.do(t, "POST", "/api/v1/applications", nil, `{"name": "Tenant"}`)
	if r.status != http.StatusCreated {
		t.Fatalf("create application: got %d %s", r.status, r.raw)
	}
	a.token = r.body["token"].(string)
	if r := a.do(t, "POST", a.app("/chats"), nil, ""); r.status != http.StatusCreated {
		t.Fatalf("create chat: got %d %s", r.status, r.raw)
	}
	return a, d.keys
}

func TestSettingsVersionsAndPreconditions(t *testing.T) {
	a, _ := newSettingsAPI(t)
	r := a.do(t, "GET", a.app("/settings"), nil, "")
	if r.status != http.StatusOK || r.header.Get("ETag") != `"0"` || r.body["version"] != float64(0) || r.body["events"] != nil {
		t.Fatalf("defaults: %d %s %v", r.status, r.raw, r.header)
	}
	if r := a.do(t, "PUT", a.app("/settings"), nil, `{"max_body_bytes": 10}`); r.status != http.StatusPreconditionRequired {
		t.Errorf("without a version: got %d %s, want 428", r.status, r.raw)
	}
	r = a.do(t, "PATCH", a.app("/settings"), map[string]string{"If-Match": `"0"`}, `{"max_body_bytes": 10}`)
	if r.status != http.StatusOK || r.header.Get("ETag") != `"1"` || r.body["max_body_bytes"] != float64(10) {
		t.Fatalf("PATCH If-Match 0: %d %s", r.status, r.raw)
	}
	if r := a.do(t, "PATCH", a.app("/settings"), map[string]string{"If-Match": `"0"`}, `{"max_body_bytes": 20}`); r.status != http.StatusPreconditionFailed {
		t.Errorf("stale If-Match: got %d %s, want 412", r.status, r.raw)
	}
	if r := a.do(t, "PATCH", a.app("/settings"), nil, `{"version": 0, "max_body_bytes": 20}`); r.status != http.StatusConflict {
		t.Errorf("stale version field: got %d %s, want 409", r.status, r.raw)
	}
	for body, why := range map[string]string{
		`{"version": 1, "max_body_bytes": 99999}`:                            "body limit above the server's",
		`{"version": 1, "events": ["message.read"]}`:                         "unknown event type",
		`{"version": 1, "write_rate_limit": "lots"}`:                         "malformed rate limit",
		`{"version": 1, "webhooks": [{"url": "ftp://x"}]}`:                   "not https",
		`{"version": 1, "webhooks": [{"url": "https://10.0.0.1/h"}]}`:        "private address",
		`{"version": 1, "webhooks": [{"url": "https://169.254.169.254/h"}]}`: "link-local address",
		`{"version": 1, "webhooks": [{"url": "http://[::1]/h"}]}`:            "loopback not allowed",
	} {
		if r := a.do(t, "PATCH", a.app("/settings"), nil, body); r.status != http.StatusBadRequest {
			t.Errorf("%s: got %d %s, want 400", why, r.status, r.raw)
		}
	}
	if r := a.do(t, "GET", a.app("/settings"), nil, ""); r.body["version"] != float64(1) {
		t.Errorf("refused writes changed the version: %s", r.raw)
	}
	// The body limit is the application's from now on.
	if r := a.do(t, "POST", a.app("/chats/1/messages"), nil, `{"body": "eleven byte"}`); r.status != http.StatusBadRequest || !strings.Contains(r.raw, "at most 10 bytes") {
		t.Errorf("an 11-byte body: got %d %s, want 400", r.status, r.raw)
	}
	if r := a.do(t, "POST", a.app("/chats/1/messages"), nil, `{"body": "ten bytes!"}`); r.status != http.StatusCreated {
		t.Errorf("a 10-byte body: got %d %s, want 201", r.status, r.raw)
	}
}

func TestSettingsWebhooksAndObservers(t *testing.T) {
	a, keys := newSettingsAPI(t)
	r := a.do(t, "PUT", a.app("/settings"), map[string]string{"If-Match": "*"},
		`{"events": ["chat.created", "message.created"], "webhooks": [{"url": "http://127.0.0.1:9/hook", "events": ["message.created"]}]}`)
	if r.status != http.StatusOK {
		t.Fatalf("PUT: %d %s", r.status, r.raw)
	}
	hooks := r.body["webhooks"].([]any)
	w := hooks[0].(map[string]any)
	secret, _ := w["secret"].(string)
	id := w["id"].(string)
	if !strings.HasPrefix(secret, "whsec_") || !strings.HasPrefix(w["secret_hint"].(string), secret[:10]) || w["active"] != true {
		t.Fatalf("created webhook: %v", w)
	}
	if g := a.do(t, "GET", a.app("/settings"), nil, ""); strings.Contains(g.raw, secret) {
		t.Errorf("GET shows the secret: %s", g.raw)
	}

	// A message creates one delivery, queued with the event; a deleted
	// message emits nothing (not in the application's events).
	ctx := context.Background()
	p := keys.Partition(chat.TokenDigest(a.token))
	before, _ := a.rdb.XLen(ctx, keys.Events(p)).Result()
	if r := a.do(t, "POST", a.app("/chats/1/messages"), nil, `{"body": "hello hooks"}`); r.status != http.StatusCreated {
		t.Fatalf("create message: %d %s", r.status, r.raw)
	}
	if r := a.do(t, "DELETE", a.app("/chats/1/messages/1"), nil, ""); r.status != http.StatusAccepted && r.status != http.StatusOK {
		t.Fatalf("delete message: %d %s", r.status, r.raw)
	}
	after, _ := a.rdb.XLen(ctx, keys.Events(p)).Result()
	if after != before+1 {
		t.Errorf("events appended: %d, want 1 (message.deleted is not emitted)", after-before)
	}
	raws, _ := a.rdb.LRange(ctx, keys.Hooks().Pending(p), 0, -1).Result()
	if len(raws) != 1 {
		t.Fatalf("deliveries: %v, want one", raws)
	}
	d, err := queue.Decode(raws[0])
	if err != nil || d.Hook != id || d.Body != "hello hooks" || d.Ev == "" || d.SV != 1 {
		t.Errorf("delivery: %+v, %v", d, err)
	}

	// Rotation: a new secret, shown once, the old one kept for the overlap.
	r = a.do(t, "POST", a.app("/settings/webhooks/"+id+"/rotate-secret"), nil, `{"overlap": "1h"}`)
	if r.status != http.StatusOK {
		t.Fatalf("rotate: %d %s", r.status, r.raw)
	}
	w = r.body["webhooks"].([]any)[0].(map[string]any)
	if fresh, _ := w["secret"].(string); fresh == "" || fresh == secret || w["previous_secret_until"] == nil {
		t.Errorf("rotated: %v", w)
	}
	if r := a.do(t, "POST", a.app("/settings/webhooks/wh_nope/rotate-secret"), nil, ""); r.status != http.StatusNotFound {
		t.Errorf("rotate an unknown webhook: %d %s", r.status, r.raw)
	}
}

// TestSettingsWriteRateLimit: an application's write_rate_limit replaces the
// server's for its writes, at once on the process that saved it.
func TestSettingsWriteRateLimit(t *testing.T) {
	a, _ := newSettingsAPIWith(t, true, "127.0.0.1")
	if r := a.do(t, "PATCH", a.app("/settings"), map[string]string{"If-Match": "*"}, `{"write_rate_limit": "3/1m"}`); r.status != http.StatusOK {
		t.Fatalf("PATCH: %d %s", r.status, r.raw)
	}
	statuses := []int{}
	for range 4 {
		r := a.do(t, "POST", a.app("/chats"), nil, "")
		statuses = append(statuses, r.status)
		if got := r.header.Get("RateLimit-Policy"); got != "3;w=60" {
			t.Errorf("answer %d: policy %q, want the application's 3;w=60", r.status, got)
		}
	}
	// Three a minute (the budget may count the PATCH): the fourth is refused.
	created := 0
	for _, st := range statuses {
		if st == http.StatusCreated {
			created++
		}
	}
	if created < 2 || created > 3 || statuses[3] != http.StatusTooManyRequests {
		t.Errorf("writes after the limit changed: %v, want two or three 201 then 429", statuses)
	}
}

// TestSettingsRefuseInternalDestinations: without an allow-list, a webhook
// URL on loopback, a private or link-local address, or a name that resolves
// to one, is refused at save time, over HTTPS too.
func TestSettingsRefuseInternalDestinations(t *testing.T) {
	a, _ := newSettingsAPIWith(t, false, "")
	for _, u := range []string{"https://127.0.0.1/h", "https://10.0.0.1/h", "https://169.254.169.254/latest/meta-data/",
		"https://[::1]/h", "https://localhost/h", "http://127.0.0.1:8080/h"} {
		r := a.do(t, "PATCH", a.app("/settings"), map[string]string{"If-Match": "*"}, `{"webhooks": [{"url": "`+u+`"}]}`)
		if r.status != http.StatusBadRequest || !strings.Contains(r.raw, "webhooks[0].url") {
			t.Errorf("%s: got %d %s, want 400 naming the url", u, r.status, r.raw)
		}
	}
	if r := a.do(t, "GET", a.app("/settings"), nil, ""); r.body["version"] != float64(0) {
		t.Errorf("refused writes changed the settings: %s", r.raw)
	}
}
