package httpapi

import (
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
)

// TestIdempotentWritesReplay sends every Redis-backed write twice with one
// Idempotency-Key: the retry gets the first status and a byte-identical body,
// marked Idempotent-Replayed, and nothing is queued twice.
func TestIdempotentWritesReplay(t *testing.T) {
	a := newLiveAPI(t) // chat 1 with message 1
	writes := []struct {
		name, method, path, body string
		status                   int
	}{
		{"create chat", "POST", "/chats", "", http.StatusCreated},
		{"create message", "POST", "/chats/1/messages", `{"body": "once"}`, http.StatusCreated},
		{"update message", "PATCH", "/chats/1/messages/1", `{"body": "edited once"}`, http.StatusOK},
		{"delete message", "DELETE", "/chats/1/messages/2", "", http.StatusAccepted},
		{"delete chat", "DELETE", "/chats/2", "", http.StatusAccepted},
	}
	for _, w := range writes {
		key := map[string]string{"Idempotency-Key": "key " + w.name}
		before := a.writes(t)
		first := a.do(t, w.method, a.app(w.path), key, w.body)
		if first.status != w.status || first.header.Get("Idempotent-Replayed") != "" {
			t.Fatalf("%s: got %d %s (replayed %q), want %d fresh", w.name, first.status, first.raw, first.header.Get("Idempotent-Replayed"), w.status)
		}
		again := a.do(t, w.method, a.app(w.path), key, w.body)
		if again.status != w.status || again.raw != first.raw || again.header.Get("Idempotent-Replayed") != "true" {
			t.Errorf("%s retried: got %d %s (replayed %q), want %d %s replayed", w.name, again.status, again.raw,
				again.header.Get("Idempotent-Replayed"), w.status, first.raw)
		}
		if after := a.writes(t); after.pending != before.pending+1 {
			t.Errorf("%s: %d jobs queued by a request and its retry, want 1", w.name, after.pending-before.pending)
		}
	}
}

// TestIdempotencyKeyReusedOrMalformed checks the 422 for a key reused with
// another method, path or body, and the 400 for a malformed key; neither
// queues anything.
func TestIdempotencyKeyReusedOrMalformed(t *testing.T) {
	a := newLiveAPI(t)
	key := map[string]string{"Idempotency-Key": "reused"}
	if r := a.do(t, "POST", a.app("/chats/1/messages"), key, `{"body": "first"}`); r.status != http.StatusCreated {
		t.Fatalf("first post: got %d %s", r.status, r.raw)
	}
	before := a.writes(t)
	for _, other := range []struct{ method, path, body string }{
		{"POST", "/chats/1/messages", `{"body": "second"}`},
		{"PUT", "/chats/1/messages/1", `{"body": "first"}`},
		{"POST", "/chats", ""},
	} {
		r := a.do(t, other.method, a.app(other.path), key, other.body)
		if r.status != http.StatusUnprocessableEntity || !strings.Contains(r.raw, "Idempotency-Key was first used for a different request") {
			t.Errorf("%s %s with a used key: got %d %s, want 422 naming the header", other.method, other.path, r.status, r.raw)
		}
	}
	for _, bad := range []string{strings.Repeat("k", 256), "tab\tkey", "é"} {
		r := a.do(t, "POST", a.app("/chats"), map[string]string{"Idempotency-Key": bad}, "")
		if r.status != http.StatusBadRequest || !strings.Contains(r.raw, "Idempotency-Key") {
			t.Errorf("key %q: got %d %s, want 400 naming the header", bad, r.status, r.raw)
		}
	}
	if after := a.writes(t); after.pending != before.pending {
		t.Errorf("refused requests queued %d jobs, want 0", after.pending-before.pending)
	}
	metrics := a.do(t, "GET", "/metrics", nil, "").raw
	for series, want := range map[string]string{"fresh": "1", "reused": "3", "refused": "3", "replayed": "0"} {
		line := `instachat_idempotent_requests_total{outcome="` + series + `"} ` + want
		if !strings.Contains(metrics, line+"\n") {
			t.Errorf("metrics: no line %q", line)
		}
	}
}

// TestConcurrentIdenticalPostsGetOneNumber: 50 identical requests racing with
// one key get one number between them (a done-when line of issue 12).
func TestConcurrentIdenticalPostsGetOneNumber(t *testing.T) {
	a := newLiveAPI(t)
	before := a.writes(t)
	key := map[string]string{"Idempotency-Key": "race-1"}
	var wg sync.WaitGroup
	var mu sync.Mutex
	numbers, fresh := map[string]int{}, 0
	for range 50 {
		wg.Go(func() {
			r := a.do(t, "POST", a.app("/chats/1/messages"), key, `{"body": "raced"}`)
			mu.Lock()
			defer mu.Unlock()
			if r.status != http.StatusCreated {
				t.Errorf("racing post: got %d %s", r.status, r.raw)
				return
			}
			numbers[fmt.Sprint(r.body["number"])]++
			if r.header.Get("Idempotent-Replayed") == "" {
				fresh++
			}
		})
	}
	wg.Wait()
	if len(numbers) != 1 || fresh != 1 {
		t.Errorf("50 racing posts: got numbers %v with %d fresh answers, want one number and one fresh answer", numbers, fresh)
	}
	if after := a.writes(t); after.pending != before.pending+1 {
		t.Errorf("50 racing posts queued %d jobs, want 1", after.pending-before.pending)
	}
}

// TestIdempotentApplicationWrites: an application creation retried with its
// key answers the same application and token (one row in MySQL), another name
// under the key is 422; a rename retried answers the first answer.
func TestIdempotentApplicationWrites(t *testing.T) {
	a := newLiveAPI(t)
	key := map[string]string{"Idempotency-Key": "create-app-7f3a9c"}
	first := a.do(t, "POST", "/api/v1/applications", key, `{"name": "Once"}`)
	again := a.do(t, "POST", "/api/v1/applications", key, `{"name": "Once"}`)
	if first.status != http.StatusCreated || again.status != http.StatusCreated || again.raw != first.raw ||
		again.header.Get("Idempotent-Replayed") != "true" || first.header.Get("Idempotent-Replayed") != "" {
		t.Fatalf("create twice with one key: got %d %s then %d %s (replayed %q), want the first answer replayed",
			first.status, first.raw, again.status, again.raw, again.header.Get("Idempotent-Replayed"))
	}
	var n int
	if err := a.db.QueryRow("SELECT COUNT(*) FROM applications WHERE name = 'Once'").Scan(&n); err != nil || n != 1 {
		t.Errorf("applications named Once: got %d, %v; want 1", n, err)
	}
	if r := a.do(t, "POST", "/api/v1/applications", key, `{"name": "Twice"}`); r.status != http.StatusUnprocessableEntity {
		t.Errorf("the key with another name: got %d %s, want 422", r.status, r.raw)
	}
	token := first.body["token"].(string)
	if r := a.do(t, "GET", "/api/v1/applications/"+token, nil, ""); r.status != http.StatusOK {
		t.Errorf("the replayed token does not open the application: got %d %s", r.status, r.raw)
	}

	rename := map[string]string{"Idempotency-Key": "rename-1"}
	r1 := a.do(t, "PUT", "/api/v1/applications/"+token, rename, `{"name": "Renamed"}`)
	if r := a.do(t, "PUT", "/api/v1/applications/"+token, nil, `{"name": "Meanwhile"}`); r.status != http.StatusOK {
		t.Fatalf("plain rename: got %d %s", r.status, r.raw)
	}
	r2 := a.do(t, "PUT", "/api/v1/applications/"+token, rename, `{"name": "Renamed"}`)
	if r1.status != http.StatusOK || r2.raw != r1.raw || r2.header.Get("Idempotent-Replayed") != "true" {
		t.Errorf("rename retried: got %d %s then %s, want the first answer replayed", r1.status, r1.raw, r2.raw)
	}
	if r := a.do(t, "GET", "/api/v1/applications/"+token, nil, ""); r.body["name"] != "Meanwhile" {
		t.Errorf("name after the replayed rename: got %v, want Meanwhile (a replay changes nothing)", r.body["name"])
	}
}
