package reindex_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	wire "github.com/instachat/instachat/pkg/search/reindex"
	"github.com/instachat/instachat/pkg/store"
	"github.com/instachat/instachat/services/writer/internal/reindex"
)

// fakeAPI answers reindex calls with scripted statuses and records the docs
// of the calls it accepted.
type fakeAPI struct {
	mu       sync.Mutex
	statuses []int // answers in order; 200 once they run out
	calls    int
	accepted []wire.Doc
	auth     []string
}

func (f *fakeAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.auth = append(f.auth, r.Header.Get("Authorization"))
	status := http.StatusOK
	if f.calls < len(f.statuses) {
		status = f.statuses[f.calls]
	}
	f.calls++
	var body wire.Request // decoded as the api decodes it
	_ = json.NewDecoder(r.Body).Decode(&body)
	if status == http.StatusOK {
		f.accepted = append(f.accepted, body.Docs...)
	}
	w.WriteHeader(status)
}

func (f *fakeAPI) snapshot() (int, []wire.Doc, []string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls, append([]wire.Doc(nil), f.accepted...), append([]string(nil), f.auth...)
}

func run(t *testing.T, api *fakeAPI) (*reindex.Client, func()) {
	t.Helper()
	srv := httptest.NewServer(api)
	c := reindex.New(reindex.Config{APIURL: srv.URL, InternalToken: "s3cret"}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { c.Run(ctx); close(done) }()
	return c, func() { cancel(); <-done; srv.Close() }
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not true after 10 s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestRetriesServerErrorsUntilAccepted(t *testing.T) {
	api := &fakeAPI{statuses: []int{503, 500}}
	c, stop := run(t, api)
	defer stop()
	c.Enqueue([]wire.Doc{{AppID: 1, Chat: 2, Number: 3, Body: "hello", Version: 4}}, nil, nil)
	waitFor(t, "batch accepted after two failures", func() bool {
		_, docs, _ := api.snapshot()
		return len(docs) == 1
	})
	calls, docs, auth := api.snapshot()
	if calls != 3 || docs[0].Body != "hello" || docs[0].Version != 4 {
		t.Errorf("got %d calls and docs %+v; want 3 calls delivering the doc intact", calls, docs)
	}
	for _, a := range auth {
		if a != "Bearer s3cret" {
			t.Errorf("Authorization: got %q, want the bearer secret", a)
		}
	}
}

func TestRefusedBatchDoesNotBlockTheNext(t *testing.T) {
	api := &fakeAPI{statuses: []int{401}}
	c, stop := run(t, api)
	defer stop()
	c.Enqueue([]wire.Doc{{Number: 1}}, nil, nil)
	waitFor(t, "first batch refused", func() bool { calls, _, _ := api.snapshot(); return calls >= 1 })
	c.Enqueue([]wire.Doc{{Number: 2}}, nil, nil)
	waitFor(t, "second batch accepted", func() bool { _, docs, _ := api.snapshot(); return len(docs) == 1 })
	calls, docs, _ := api.snapshot()
	if calls != 2 || docs[0].Number != 2 {
		t.Errorf("got %d calls, accepted %+v; want the refused batch dropped (no retry) and the next one sent", calls, docs)
	}
}

func TestForgetsOutboxRowsOnlyOfBatchesTheAPITook(t *testing.T) {
	api := &fakeAPI{statuses: []int{401}}
	srv := httptest.NewServer(api)
	defer srv.Close()
	var mu sync.Mutex
	var forgotten []store.OutboxBatch
	c := reindex.New(reindex.Config{APIURL: srv.URL, InternalToken: "s3cret", Forget: func(_ context.Context, b []store.OutboxBatch) error {
		mu.Lock()
		defer mu.Unlock()
		forgotten = append(forgotten, b...)
		return nil
	}}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { c.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()

	c.Enqueue([]wire.Doc{{Number: 1}}, nil, []store.OutboxBatch{11}) // refused: the catch-up must keep it
	waitFor(t, "first batch refused", func() bool { calls, _, _ := api.snapshot(); return calls >= 1 })
	c.Enqueue([]wire.Doc{{Number: 2}}, nil, []store.OutboxBatch{22})
	c.Enqueue(nil, nil, []store.OutboxBatch{33}) // nothing to index: done at once
	waitFor(t, "accepted batch forgotten", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(forgotten) == 2
	})
	mu.Lock()
	defer mu.Unlock()
	got := map[store.OutboxBatch]bool{}
	for _, b := range forgotten {
		got[b] = true
	}
	if got[11] || !got[22] || !got[33] {
		t.Errorf("forgot %v; want 22 and 33, never the refused 11", forgotten)
	}
}

func TestLingerMergesBatchesIntoOneCall(t *testing.T) {
	api := &fakeAPI{}
	srv := httptest.NewServer(api)
	defer srv.Close()
	c := reindex.New(reindex.Config{APIURL: srv.URL, InternalToken: "s3cret", Linger: 300 * time.Millisecond}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { c.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()

	for n := range int64(3) {
		c.Enqueue([]wire.Doc{{Number: n + 1}}, nil, nil)
		time.Sleep(20 * time.Millisecond)
	}
	waitFor(t, "three docs accepted", func() bool { _, docs, _ := api.snapshot(); return len(docs) == 3 })
	if calls, _, _ := api.snapshot(); calls != 1 {
		t.Errorf("three batches 20 ms apart with a 300 ms linger took %d calls, want 1", calls)
	}
}
