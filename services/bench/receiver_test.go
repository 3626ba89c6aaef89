package main

import (
	"bytes"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	ic "github.com/instachat/instachat/client"
)

const testSecret = "whsec_benchtest"

// post sends one delivery of message.created n of chat to the receiver at
// base, signed with secret, as the writer does, and returns the status.
func post(t *testing.T, base, path, secret, id string, attempt int, chat, n int64) int {
	t.Helper()
	body := fmt.Sprintf(`{"id":"5-%d","type":"message.created","chat":%d,"message":%d,"body":"hi","accepted_at":"2026-11-28T12:00:00Z"}`, n, chat, n)
	req, err := http.NewRequest(http.MethodPost, base+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set(ic.HeaderWebhookSignature, ic.SignWebhook([]string{secret}, time.Now(), []byte(body)))
	req.Header.Set(ic.HeaderWebhookDelivery, id)
	req.Header.Set(ic.HeaderWebhookAttempt, fmt.Sprint(attempt))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

func TestReceiverVerifiesAndDeduplicates(t *testing.T) {
	r := newReceiver("")
	srv := httptest.NewServer(r)
	defer srv.Close()
	r.url = srv.URL
	r.setSecret(0, testSecret)
	c := &subChat{ref: &chatRef{number: 3}}
	h := r.time(0, c)
	other := r.time(0, &subChat{ref: &chatRef{number: 4}})

	for _, tt := range []struct {
		name, path, secret, id string
		attempt                int
		chat, n                int64
		want                   int
	}{
		{"first", "/hook/0", testSecret, "d1", 1, 3, 1, http.StatusNoContent},
		{"same delivery again", "/hook/0", testSecret, "d1", 2, 3, 1, http.StatusNoContent},
		{"second, on a retry", "/hook/0", testSecret, "d2", 2, 3, 2, http.StatusNoContent},
		{"forged", "/hook/0", "whsec_other", "d3", 1, 3, 3, http.StatusBadRequest},
		{"untimed chat", "/hook/0", testSecret, "d4", 1, 9, 1, http.StatusNoContent},
		{"unknown endpoint", "/hook/7", testSecret, "d5", 1, 3, 4, http.StatusNotFound},
	} {
		if got := post(t, srv.URL, tt.path, tt.secret, tt.id, tt.attempt, tt.chat, tt.n); got != tt.want {
			t.Errorf("%s: got status %d, want %d", tt.name, got, tt.want)
		}
	}
	tot := r.totals()
	if tot.requests != 6 || tot.deliveries != 3 || tot.dups != 1 || tot.badSigs != 1 || tot.retried != 1 || tot.byType[ic.EventMessageCreated] != 3 {
		t.Errorf("totals %+v: want 6 requests, 3 deliveries (all message.created), 1 duplicated, 1 bad signature, 1 first seen on a retry", tot)
	}
	if len(h.recv) != 2 || h.recv[0] == 0 || h.recv[1] == 0 || h.dups != 1 {
		t.Errorf("timed chat: arrivals %v, dups %d; want numbers 1 and 2 arrived, 1 duplicate", h.recv, h.dups)
	}
	if len(h.accepted) != 2 || h.accepted[0] != time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC).UnixNano() {
		t.Errorf("timed chat: accepted %v, want number 1's accepted_at", h.accepted)
	}
	if len(other.recv) != 0 {
		t.Errorf("chat 4 got arrivals %v, want none", other.recv)
	}
}

func TestTallyHooks(t *testing.T) {
	at := time.Unix(1000, 0)
	ns := func(ms int) int64 { return at.Add(time.Duration(ms) * time.Millisecond).UnixNano() }
	a := &hookChat{sub: &subChat{ref: &chatRef{number: 1}}, dups: 2}
	a.sub.t201 = []int64{ns(0), ns(10), ns(20), 0}     // number 4's create got no 201
	a.recv = []int64{ns(5), 0, ns(19), ns(40), ns(50)} // 2 lost; 3 before its 201; 4 and 5 unanswered
	a.accepted = []int64{ns(-1), 0, ns(18), 0, 0}
	b := &hookChat{sub: &subChat{ref: &chatRef{number: 2}}}
	b.sub.t201 = []int64{ns(0), ns(1)} // nothing arrived
	chats := []*hookChat{a, b}

	got := tallyHooks(chats)
	want := hookTally{expected: 5, received: 2, lost: 3, dups: 2, unanswered: 2}
	if got != want {
		t.Errorf("tally: got %+v, want %+v", got, want)
	}

	st, ok := statsOf(hookLatencies(chats, at).stats(), "delivery")
	if !ok || st.Count != 2 || st.Statuses[200] != 1 || st.Statuses[0] != 1 {
		t.Fatalf("latencies: got %+v, want 2 samples, one arrived before its 201", st)
	}
	if st.Max < 5*time.Millisecond || st.Max > 5100*time.Microsecond {
		t.Errorf("max latency %v, want 5 ms (number 1: 201 at 0, arrival at 5)", st.Max)
	}
	acc, ok := statsOf(hookLatencies(chats, at).stats(), "accepted")
	if !ok || acc.Count != 2 || acc.Max < 6*time.Millisecond || acc.Max > 6100*time.Microsecond {
		t.Errorf("accepted → arrival: got %+v, want 2 samples, the longest 6 ms", acc)
	}
}

func TestParseFlagsWebhooks(t *testing.T) {
	env := func(string) string { return "" }
	c, err := parseFlags([]string{"-scenario", "webhooks"}, env)
	if err != nil {
		t.Fatal(err)
	}
	if c.rate != 500 || c.closedClients != 64 || c.closedDuration != 30*time.Second {
		t.Errorf("defaults: got rate %v, %d clients, %v; want 500, 64, 30s", c.rate, c.closedClients, c.closedDuration)
	}
	if c, _ = parseFlags([]string{"-scenario", "webhooks", "-rate", "200", "-closed-clients", "8"}, env); c.rate != 200 || c.closedClients != 8 {
		t.Errorf("given: got rate %v, %d clients; want 200, 8", c.rate, c.closedClients)
	}
	if _, err := parseFlags([]string{"-scenario", "webhooks", "-closed-duration", "0s"}, env); err == nil {
		t.Error("-closed-duration 0s: got no error")
	}
	if got := describe("go run ./services/bench -scenario webhooks -duration 30s -profile 15s"); !strings.HasPrefix(got, "webhooks: create throughput") || !strings.Contains(got, "at 500 creates/s") {
		t.Errorf("describe: got %q", got)
	}
}

func TestWebhooksReport(t *testing.T) {
	now := time.Now()
	closed := func(name string, n int) *phase {
		rec := newRecorder()
		for i := range n {
			rec.record("create", now.Add(time.Duration(i)*time.Second/time.Duration(n)), time.Millisecond, 201)
		}
		return &phase{name: name, rec: rec, stats: rec.stats()}
	}
	lat := newRecorder()
	lat.begin(now)
	lat.record("delivery", now, 4*time.Millisecond, 200)
	lat.record("accepted", now, 5*time.Millisecond, 200)
	s := &webhooksResult{
		endpoints: 4, timedChats: 100,
		without: closed("creates, no webhooks", 1000), with: closed("creates, webhooks on", 800), again: closed("creates, no webhooks (again)", 1000),
		windows:    map[string]hookWindow{"creates, webhooks on": {delivered: 300, drained: 500, drain: 2 * time.Second, lane: laneDepth{pending: 490}}},
		contention: map[string]string{},
		delivery:   closed("delivery 500 creates/s", 10),
		latency:    lat,
		tally:      hookTally{expected: 10, received: 10},
		totals:     receiverTotals{requests: 810, deliveries: 810, byType: map[string]int64{"message.created": 810}},
	}
	r := &report{cfg: config{scenario: "webhooks", rate: 500, duration: time.Second, apps: 4, chats: 25, closedClients: 64, closedDuration: time.Second},
		webhooks: s, machine: "m", cpu: []phaseCPU{
			{name: "creates, no webhooks, until idle", units: 1000, unit: "create", cpu: cpuSample{"writer": 0.05}},
			{name: "creates, webhooks on, until idle", units: 800, unit: "create", cpu: cpuSample{"writer": 0.4}},
			{name: "creates, no webhooks (again), until idle", units: 1000, unit: "create", cpu: cpuSample{"writer": 0.07}},
			{name: "delivery 500 creates/s and its tail", units: 10, unit: "create", cpu: cpuSample{"api": 0.001, "writer": 0.002}},
		}}
	var b bytes.Buffer
	r.markdown(&b, nil)
	out := b.String()
	for _, want := range []string{
		"**create throughput with webhooks on vs off**",
		"= **80 %**",
		"**delivery latency with webhooks on**",
		"p50 4.00 ms",
		"| the api's acceptance | 1 | 5.00 |",
		"against the mean of the two around it (1000 /s): **80 %**",
		"| bad signatures over the run (must be 0) | 0 ✓ |",
		"writer 200 µs (persisting and delivering), api 100 µs",
		"| creates, webhooks on | 800 |",
		"writer 500 vs 60 µs (+440)",
		"`WEBHOOK_KEY=<random, 64 hex digits> WEBHOOK_ALLOW_HOSTS=127.0.0.1`",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("report lacks %q:\n%s", want, out)
		}
	}
	r.webhooks = &webhooksResult{windows: map[string]hookWindow{}, contention: map[string]string{}}
	b.Reset()
	r.markdown(&b, nil) // a run cut short: no phase, no panic
}
