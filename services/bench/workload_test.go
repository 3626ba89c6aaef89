package main

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"

	"github.com/instachat/instachat/client/clienttest"
)

func TestWorkloadAgainstFake(t *testing.T) {
	srv := clienttest.NewServer()
	defer srv.Close()
	ctx := context.Background()
	w, err := newWorkload(srv.URL, 8, 1)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.setup(ctx, 2, 3); err != nil {
		t.Fatal(err)
	}
	if len(w.chats) != 6 || w.chats[0].token == w.chats[3].token || w.chats[2].number != 3 {
		t.Fatalf("got %d chats (first %+v, fourth %+v), want 2 applications × chats 1..3", len(w.chats), w.chats[0], w.chats[3])
	}
	// Request i goes to chat i mod 6: all of these hit the first chat.
	tests := []struct {
		name string
		want int
	}{
		{"create", http.StatusCreated},
		{"create", http.StatusCreated},
		{"read", http.StatusOK},
		{"update", http.StatusOK},
		{"search", http.StatusOK},
	}
	for _, tt := range tests {
		if got := w.op(tt.name, 0)(ctx); got != tt.want {
			t.Errorf("%s: got status %d, want %d", tt.name, got, tt.want)
		}
	}
	if got := w.chats[0].max.Load(); got != 2 {
		t.Errorf("got max %d after two creates, want 2", got)
	}
	pick := historyPicker(w, w.chats[0], 100) // its after= cursors fall in 0..49
	for i := range len(historyOps) {
		name, o := pick(i)
		if got := o(ctx); got != http.StatusOK {
			t.Errorf("history %s: got status %d, want 200", name, got)
		}
	}
}

// TestWorkloadSingleAttempts checks what the recorder is fed: one attempt
// per measured request (a 503 is not retried), an idempotency key on every
// write, the api's status when it refuses, 0 when no answer came, and
// statusUnreadable for a 2xx whose body does not decode.
func TestWorkloadSingleAttempts(t *testing.T) {
	var hits, keyed atomic.Int64
	answer := atomic.Value{}
	srv := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		if r.Header.Get("Idempotency-Key") != "" {
			keyed.Add(1)
		}
		a := answer.Load().([2]any)
		rw.Header().Set("Content-Type", "application/json")
		rw.WriteHeader(a[0].(int))
		_, _ = rw.Write([]byte(a[1].(string)))
	}))
	w, err := newWorkload(srv.URL, 8, 1)
	if err != nil {
		t.Fatal(err)
	}
	c := &chatRef{token: "t", number: 1}
	w.chats = []*chatRef{c}
	ctx := context.Background()
	tests := []struct {
		name   string
		status int
		body   string
		want   int
	}{
		{"created", http.StatusCreated, `{"number":7,"status":"pending"}`, http.StatusCreated},
		{"unavailable", http.StatusServiceUnavailable, `{"error":"redis"}`, http.StatusServiceUnavailable},
		{"unreadable", http.StatusCreated, `{"number":`, statusUnreadable},
	}
	for _, tt := range tests {
		answer.Store([2]any{tt.status, tt.body})
		before := hits.Load()
		if got := w.create(ctx, c); got != tt.want {
			t.Errorf("%s: got status %d, want %d", tt.name, got, tt.want)
		}
		if n := hits.Load() - before; n != 1 {
			t.Errorf("%s: got %d attempts, want 1", tt.name, n)
		}
	}
	if keyed.Load() != hits.Load() {
		t.Errorf("got %d of %d writes with an Idempotency-Key, want all", keyed.Load(), hits.Load())
	}
	if got := c.max.Load(); got != 7 {
		t.Errorf("got max %d, want 7 from the one create answered", got)
	}
	srv.Close()
	if got := w.create(ctx, c); got != 0 {
		t.Errorf("server gone: got status %d, want 0", got)
	}
}
