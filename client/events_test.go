package client_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"runtime"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/instachat/instachat/client"
)

// sseConn is one subscription request the scripted server answered.
type sseConn struct {
	n           int // from 1
	lastEventID string
	at          time.Time
}

// sseServer answers subscription attempt n with script(n, w, r) and
// records what each attempt sent.
type sseServer struct {
	mu    sync.Mutex
	conns []sseConn
}

func (c sseConn) String() string { return fmt.Sprintf("#%d Last-Event-ID %q", c.n, c.lastEventID) }

func (s *sseServer) seen() []sseConn {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.conns)
}

func newSSE(t *testing.T, script func(n int, w http.ResponseWriter, r *http.Request), opts ...client.Option) (*client.App, *sseServer) {
	t.Helper()
	rec := &sseServer{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Accept") != "text/event-stream" {
			t.Errorf("Accept %q, want text/event-stream", r.Header.Get("Accept"))
		}
		rec.mu.Lock()
		n := len(rec.conns) + 1
		rec.conns = append(rec.conns, sseConn{n: n, lastEventID: r.Header.Get("Last-Event-ID"), at: time.Now()})
		rec.mu.Unlock()
		script(n, w, r)
	}))
	t.Cleanup(srv.Close)
	c, err := client.New(srv.URL, append([]client.Option{client.WithRetry(fast)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	return c.App("secret-token"), rec
}

// startStream answers 200 text/event-stream with the api's first frames.
func startStream(w http.ResponseWriter, ready string) {
	w.Header().Set("Content-Type", "text/event-stream")
	w.WriteHeader(http.StatusOK)
	fmt.Fprintf(w, "retry: 1000\n\nid: %s\nevent: ready\ndata: {\"type\":\"ready\",\"id\":%q}\n\n", ready, ready)
	flush(w)
}

func flush(w http.ResponseWriter) { _ = http.NewResponseController(w).Flush() }

// created is the frame of message.created number n of chat 1, id 1-n.
func createdFrame(n int) string {
	return fmt.Sprintf("id: 1-%d\nevent: message.created\ndata: {\"id\":\"1-%d\",\"type\":\"message.created\",\"chat\":1,\"message\":%d,\"body\":\"m%d\",\"accepted_at\":\"2026-11-28T10:00:00.123456Z\"}\n\n", n, n, n, n)
}

func send(w http.ResponseWriter, frames ...string) {
	for _, f := range frames {
		_, _ = w.Write([]byte(f))
	}
	flush(w)
}

// take reads n events (or up to the first error) from seq.
func take(t *testing.T, seq func(func(client.Event, error) bool), n int) ([]client.Event, error) {
	t.Helper()
	var out []client.Event
	for ev, err := range seq {
		if err != nil {
			return out, err
		}
		out = append(out, ev)
		if len(out) == n {
			break
		}
	}
	return out, nil
}

func ids(evs []client.Event) []client.Position {
	out := make([]client.Position, len(evs))
	for i, e := range evs {
		out[i] = e.ID
	}
	return out
}

func TestSubscribeResumesAfterCutMidFrame(t *testing.T) {
	app, rec := newSSE(t, func(n int, w http.ResponseWriter, r *http.Request) {
		switch n {
		case 1:
			startStream(w, "1-0")
			send(w, createdFrame(1), ": hb\n\n", createdFrame(2), createdFrame(3)[:40])
			panic(http.ErrAbortHandler) // the connection drops in the middle of 1-3
		default:
			startStream(w, r.Header.Get("Last-Event-ID"))
			send(w, createdFrame(3), createdFrame(4))
			<-r.Context().Done()
		}
	})
	ctx := context.Background()
	got, err := take(t, app.Subscribe(ctx, 1, ""), 4)
	if err != nil {
		t.Fatal(err)
	}
	if want := []client.Position{"1-1", "1-2", "1-3", "1-4"}; !slices.Equal(ids(got), want) {
		t.Fatalf("got %v, want %v: each event once, none from the cut frame", ids(got), want)
	}
	want := client.Event{ID: "1-3", Type: client.EventMessageCreated, Chat: 1, Message: 3, Body: "m3",
		AcceptedAt: time.Date(2026, 11, 28, 10, 0, 0, 123456000, time.UTC)}
	if got[2] != want {
		t.Errorf("got %+v, want %+v", got[2], want)
	}
	conns := rec.seen()
	if len(conns) != 2 || conns[0].lastEventID != "" || conns[1].lastEventID != "1-2" {
		t.Errorf("got requests %+v, want two: the first without Last-Event-ID, the second with 1-2", conns)
	}
}

func TestSubscribeResumesFromReadyAndGivenPosition(t *testing.T) {
	app, rec := newSSE(t, func(n int, w http.ResponseWriter, r *http.Request) {
		switch n {
		case 1:
			startStream(w, "1-7") // from now: the api says where now is
		default:
			startStream(w, r.Header.Get("Last-Event-ID"))
			send(w, createdFrame(8))
			<-r.Context().Done()
		}
	})
	if _, err := take(t, app.SubscribeAll(context.Background(), ""), 1); err != nil {
		t.Fatal(err)
	}
	if c := rec.seen(); len(c) != 2 || c[1].lastEventID != "1-7" {
		t.Errorf("got %+v, want the reconnect to resume after ready's 1-7", c)
	}

	app, rec = newSSE(t, func(n int, w http.ResponseWriter, r *http.Request) {
		startStream(w, r.Header.Get("Last-Event-ID"))
		send(w, createdFrame(5))
	})
	if _, err := take(t, app.Subscribe(context.Background(), 1, "1-4"), 1); err != nil {
		t.Fatal(err)
	}
	if c := rec.seen(); len(c) != 1 || c[0].lastEventID != "1-4" {
		t.Errorf("got %+v, want Last-Event-ID 1-4 from the first request", c)
	}
}

func TestSubscribeYieldsReset(t *testing.T) {
	app, rec := newSSE(t, func(n int, w http.ResponseWriter, r *http.Request) {
		switch n {
		case 1:
			startStream(w, "1-3")
			send(w, "id: 2-10\nevent: reset\ndata: {\"type\":\"reset\",\"id\":\"2-10\"}\n\n",
				"id: 2-11\nevent: message.deleted\ndata: {\"id\":\"2-11\",\"type\":\"message.deleted\",\"chat\":1,\"message\":4,\"accepted_at\":\"2026-11-28T10:00:00Z\"}\n\n")
		default:
			startStream(w, r.Header.Get("Last-Event-ID"))
			send(w, "event: reset\ndata: {\"type\":\"reset\",\"id\":\"3-1\"}\n\n")
			<-r.Context().Done()
		}
	})
	got, err := take(t, app.Subscribe(context.Background(), 1, "1-3"), 3)
	if err != nil {
		t.Fatal(err)
	}
	want := []client.Event{
		{ID: "2-10", Type: client.EventReset},
		{ID: "2-11", Type: client.EventMessageDeleted, Chat: 1, Message: 4, AcceptedAt: time.Date(2026, 11, 28, 10, 0, 0, 0, time.UTC)},
		{ID: "3-1", Type: client.EventReset}, // the id from the JSON when the frame has no id line
	}
	if !slices.Equal(got, want) {
		t.Errorf("got %+v, want %+v", got, want)
	}
	if c := rec.seen(); len(c) != 2 || c[1].lastEventID != "2-11" {
		t.Errorf("got %+v, want the reconnect after 2-11", c)
	}
}

func TestSubscribeBackoffHonoursRetryAfter(t *testing.T) {
	for _, status := range []int{http.StatusTooManyRequests, http.StatusServiceUnavailable} {
		t.Run(http.StatusText(status), func(t *testing.T) {
			t.Parallel()
			app, rec := newSSE(t, func(n int, w http.ResponseWriter, r *http.Request) {
				if n == 1 {
					w.Header().Set("Retry-After", "1")
					w.Header().Set("Content-Type", "application/json")
					w.WriteHeader(status)
					_, _ = w.Write([]byte(`{"error":"busy"}`))
					return
				}
				startStream(w, "1-0")
				send(w, createdFrame(1))
			})
			if _, err := take(t, app.Subscribe(context.Background(), 1, ""), 1); err != nil {
				t.Fatal(err)
			}
			c := rec.seen()
			if len(c) != 2 {
				t.Fatalf("got %d requests, want 2", len(c))
			}
			if d := c[1].at.Sub(c[0].at); d < time.Second {
				t.Errorf("reconnected after %v, want at least the Retry-After of 1s", d)
			}
		})
	}
}

// slow backs off long enough that an immediate reconnect stands out.
var slow = client.RetryPolicy{Base: 3 * time.Second, Max: 3 * time.Second}

func TestSubscribeOverflowReconnectsAtOnce(t *testing.T) {
	app, rec := newSSE(t, func(n int, w http.ResponseWriter, r *http.Request) {
		startStream(w, r.Header.Get("Last-Event-ID"))
		if n == 1 {
			send(w, createdFrame(1), "event: overflow\ndata: {\"type\":\"overflow\",\"id\":\"1-1\"}\n\n")
			return
		}
		send(w, createdFrame(2))
		<-r.Context().Done()
	}, client.WithRetry(slow))
	got, err := take(t, app.Subscribe(context.Background(), 1, ""), 2)
	if err != nil || !slices.Equal(ids(got), []client.Position{"1-1", "1-2"}) {
		t.Fatalf("got %v, %v; want 1-1, 1-2", ids(got), err)
	}
	c := rec.seen()
	if d := c[1].at.Sub(c[0].at); d > time.Second || c[1].lastEventID != "1-1" {
		t.Errorf("reconnected after %v with %q, want at once with 1-1", d, c[1].lastEventID)
	}
}

func TestSubscribeResetsBackoffAfterConnecting(t *testing.T) {
	// Five streams in a row end at once after one event each: each
	// reconnect is a first retry again, not the fifth. (The later retry:
	// field, below Base, leaves Base as it is.)
	app, rec := newSSE(t, func(n int, w http.ResponseWriter, r *http.Request) {
		startStream(w, r.Header.Get("Last-Event-ID"))
		send(w, "retry: 5\n\n", createdFrame(n))
	}, client.WithRetry(client.RetryPolicy{Base: 20 * time.Millisecond, Max: 10 * time.Second}))
	start := time.Now()
	if got, err := take(t, app.Subscribe(context.Background(), 1, ""), 6); err != nil || len(got) != 6 {
		t.Fatalf("got %v, %v", ids(got), err)
	}
	if d := time.Since(start); d > 2*time.Second || len(rec.seen()) != 6 {
		t.Errorf("6 streams took %v, want each reconnect within Base (20 ms)", d)
	}
}

func TestSubscribeSilenceReconnects(t *testing.T) {
	app, rec := newSSE(t, func(n int, w http.ResponseWriter, r *http.Request) {
		startStream(w, r.Header.Get("Last-Event-ID"))
		send(w, createdFrame(n))
		<-r.Context().Done() // then nothing, not even a heartbeat
	}, client.WithHeartbeat(50*time.Millisecond))
	got, err := take(t, app.Subscribe(context.Background(), 1, ""), 2)
	if err != nil || !slices.Equal(ids(got), []client.Position{"1-1", "1-2"}) {
		t.Fatalf("got %v, %v", ids(got), err)
	}
	if c := rec.seen(); c[1].lastEventID != "1-1" {
		t.Errorf("got %+v, want a resume after 1-1", c)
	}
}

func TestSubscribeHeartbeatsKeepTheStream(t *testing.T) {
	// AttemptTimeout is far shorter than the stream: it must not apply.
	p := client.RetryPolicy{Base: time.Millisecond, AttemptTimeout: 50 * time.Millisecond}
	app, rec := newSSE(t, func(n int, w http.ResponseWriter, r *http.Request) {
		startStream(w, "1-0")
		for range 20 {
			time.Sleep(20 * time.Millisecond)
			send(w, ": hb\n\n")
		}
		send(w, createdFrame(1))
		<-r.Context().Done()
	}, client.WithHeartbeat(40*time.Millisecond), client.WithRetry(p))
	if _, err := take(t, app.Subscribe(context.Background(), 1, ""), 1); err != nil {
		t.Fatal(err)
	}
	if c := rec.seen(); len(c) != 1 {
		t.Errorf("got %d connections, want 1: heartbeats every 20 ms keep a 40 ms heartbeat stream alive", len(c))
	}
}

func TestSubscribeSlowConsumerIsNoSilence(t *testing.T) {
	app, rec := newSSE(t, func(n int, w http.ResponseWriter, r *http.Request) {
		startStream(w, r.Header.Get("Last-Event-ID"))
		send(w, createdFrame(n))
		for range 30 {
			time.Sleep(10 * time.Millisecond)
			send(w, ": hb\n\n")
		}
		send(w, createdFrame(n+1))
		<-r.Context().Done()
	}, client.WithHeartbeat(20*time.Millisecond))
	var got []client.Event
	for ev, err := range app.Subscribe(context.Background(), 1, "") {
		if err != nil {
			t.Fatal(err)
		}
		if got = append(got, ev); len(got) == 2 {
			break
		}
		time.Sleep(200 * time.Millisecond) // far longer than the 60 ms of silence allowed
	}
	if c := rec.seen(); len(c) != 1 {
		t.Errorf("got connections %v, want 1: the consumer was slow, the api was not silent", c)
	}
}

func TestSubscribeFinalAnswers(t *testing.T) {
	cases := []struct {
		status int
		want   error
	}{
		{http.StatusNotFound, client.ErrNotFound},
		{http.StatusBadRequest, client.ErrInvalid},
		{http.StatusInternalServerError, nil},
	}
	for _, tc := range cases {
		app, rec := newSSE(t, func(n int, w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			w.Header().Set("X-Request-ID", "req-1")
			w.WriteHeader(tc.status)
			_, _ = w.Write([]byte(`{"error":"chat not found"}`))
		})
		var evs []client.Event
		var errs []error
		for ev, err := range app.Subscribe(context.Background(), 9, "1-4") {
			evs, errs = append(evs, ev), append(errs, err)
		}
		var e *client.Error
		if len(errs) != 1 || !errors.As(errs[0], &e) || e.StatusCode != tc.status || e.RequestID != "req-1" {
			t.Fatalf("%d: got %v, want one *Error", tc.status, errs)
		}
		if tc.want != nil && !errors.Is(errs[0], tc.want) {
			t.Errorf("%d: got %v, want %v", tc.status, errs[0], tc.want)
		}
		if evs[0].ID != "1-4" || len(rec.seen()) != 1 {
			t.Errorf("%d: got event %+v after %d requests, want ID 1-4 (where to resume) after 1", tc.status, evs[0], len(rec.seen()))
		}
		if e.Op != "GET /api/v1/applications/{token}/chats/{chat}/events" {
			t.Errorf("got op %q", e.Op)
		}
	}
}

func TestSubscribeEndsAfterTheChatIsDeleted(t *testing.T) {
	app, _ := newSSE(t, func(n int, w http.ResponseWriter, r *http.Request) {
		startStream(w, "1-0")
		send(w, "id: 1-1\nevent: chat.deleted\ndata: {\"id\":\"1-1\",\"type\":\"chat.deleted\",\"chat\":1}\n\n")
		<-r.Context().Done()
	})
	got, err := take(t, app.Subscribe(context.Background(), 1, ""), 5)
	if err != nil || len(got) != 1 || got[0].Type != client.EventChatDeleted {
		t.Errorf("got %+v, %v; want chat.deleted, then the end", got, err)
	}
}

// settled waits for the goroutine count to fall back to at most base.
func settled(t *testing.T, base int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > base {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			t.Fatalf("%d goroutines, want at most %d:\n%s", runtime.NumGoroutine(), base, buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestSubscribeEndsWithoutLeaks(t *testing.T) {
	hang := func(n int, w http.ResponseWriter, r *http.Request) {
		startStream(w, "1-0")
		send(w, createdFrame(1))
		<-r.Context().Done()
	}
	busy := func(n int, w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Retry-After", "60")
		w.WriteHeader(http.StatusServiceUnavailable)
	}
	cases := []struct {
		name   string
		script func(int, http.ResponseWriter, *http.Request)
		cancel bool // cancel the context after the first event (or at once), else break
	}{
		{"break", hang, false},
		{"cancel while reading", hang, true},
		{"cancel while backing off", busy, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			base := runtime.NumGoroutine()
			func() {
				rec := &sseServer{}
				srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					rec.mu.Lock()
					rec.conns = append(rec.conns, sseConn{})
					rec.mu.Unlock()
					tc.script(len(rec.seen()), w, r)
				}))
				defer srv.Close()
				tr := &http.Transport{}
				defer tr.CloseIdleConnections()
				c, _ := client.New(srv.URL, client.WithHTTPClient(&http.Client{Transport: tr}))
				ctx, cancel := context.WithCancel(context.Background())
				defer cancel()
				if tc.cancel {
					time.AfterFunc(200*time.Millisecond, cancel)
				}
				done := make(chan []error)
				go func() {
					var errs []error
					for _, err := range c.App("t").Subscribe(ctx, 1, "") {
						errs = append(errs, err)
						if !tc.cancel {
							break
						}
					}
					done <- errs
				}()
				select {
				case errs := <-done:
					if slices.ContainsFunc(errs, func(err error) bool { return err != nil }) {
						t.Errorf("got errors %v, want the sequence to end quietly", errs)
					}
				case <-time.After(5 * time.Second):
					t.Fatal("the sequence did not end")
				}
			}()
			settled(t, base)
		})
	}
}

func TestPagesCarryTheEventPosition(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Event-Position", "5-42")
		w.Header().Set("Content-Type", "application/json")
		if r.URL.Path == "/api/v1/applications/t/chats" {
			_, _ = w.Write([]byte(`{"chats":[],"limit":50,"has_more":false}`))
			return
		}
		_, _ = w.Write([]byte(`{"messages":[],"limit":50,"has_more":false}`))
	}))
	t.Cleanup(srv.Close)
	c, _ := client.New(srv.URL)
	ctx := context.Background()
	mp, err := c.App("t").Messages(ctx, 1, client.Newest())
	if err != nil || mp.Position != "5-42" {
		t.Errorf("messages: got position %q, %v; want 5-42", mp.Position, err)
	}
	cp, err := c.App("t").Chats(ctx, client.Newest())
	if err != nil || cp.Position != "5-42" {
		t.Errorf("chats: got position %q, %v; want 5-42", cp.Position, err)
	}
}
