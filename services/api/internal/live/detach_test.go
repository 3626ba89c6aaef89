package live

import (
	"bufio"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/instachat/instachat/pkg/queue"
)

// served wraps the hub's Serve in a server that sets a header first, as the
// middleware does, and reports each Serve's return.
func (r *rig) served(t *testing.T, mode string) (url string, client *http.Client, returned <-chan struct{}) {
	t.Helper()
	ret := make(chan struct{}, 16)
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		w.Header().Set("X-Request-Id", "req-1")
		r.hub.Serve(w, req, Filter{App: req.URL.Query().Get("app"), Chat: 1}, nil)
		ret <- struct{}{}
	}))
	switch mode {
	case "http2":
		srv.EnableHTTP2 = true
		srv.StartTLS()
	case "tls": // HTTP/1 over TLS: taken over, but not probed (a goroutine watches)
		srv.StartTLS()
	default:
		srv.Start()
	}
	t.Cleanup(srv.Close)
	return srv.URL, srv.Client(), ret
}

func (r *rig) subscribers(t *testing.T) float64 {
	return r.metric(t, "instachat_event_subscribers", "transport", transportSSE, "scope", "chat")
}

// waitSubscribers waits for the subscriber gauge to reach want.
func (r *rig) waitSubscribers(t *testing.T, want float64) {
	t.Helper()
	r.waitMetric(t, want, "instachat_event_subscribers", "transport", transportSSE, "scope", "chat")
}

// TestSSEStreamOutlivesItsHandler: over HTTP/1 the stream takes its
// connection over and Serve returns once it has joined; the response keeps
// the middleware's headers, events keep flowing, and a client that hangs up
// frees its slot within a heartbeat tick (a plain socket is probed, a TLS
// one watched).
func TestSSEStreamOutlivesItsHandler(t *testing.T) {
	for _, mode := range []string{"plain", "tls"} {
		t.Run(mode, func(t *testing.T) { outlivesItsHandler(t, mode) })
	}
}

func outlivesItsHandler(t *testing.T, mode string) {
	r := newRig(t, Config{}, 1, true)
	url, client, returned := r.served(t, mode)
	res, err := client.Get(url + "/?app=A")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK || res.Header.Get("Content-Type") != "text/event-stream" ||
		res.Header.Get("X-Request-Id") != "req-1" || res.Header.Get("Cache-Control") != "no-cache" {
		t.Fatalf("got %d %v, want 200, an event stream and the middleware's header", res.StatusCode, res.Header)
	}
	c := &sseConn{res: res, msgs: make(chan msg, 100)}
	go c.parse(bufio.NewReader(res.Body))
	expect(t, c, "ready 0-0")
	select {
	case <-returned:
	case <-time.After(5 * time.Second):
		t.Fatal("Serve did not return once the stream had joined")
	}
	p := r.add(t, queue.TypeMessageCreate, "A", 1, 1, "after the handler returned")
	expect(t, c, ev("message.created", p))
	if got := r.subscribers(t); got != 1 {
		t.Fatalf("subscribers: got %v, want 1", got)
	}
	res.Body.Close()
	r.waitSubscribers(t, 0)
	deadline := time.Now().Add(5 * time.Second)
	for r.slots() != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("slots held after the client left: %d", r.slots())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// slots is how many stream slots the hub holds.
func (r *rig) slots() int {
	r.hub.mu.Lock()
	defer r.hub.mu.Unlock()
	return r.hub.total
}

// TestSSEOverHTTP2StaysInItsHandler: an HTTP/2 stream cannot take its
// connection over; it is served through its handler, which returns only when
// the stream ends.
func TestSSEOverHTTP2StaysInItsHandler(t *testing.T) {
	r := newRig(t, Config{}, 1, true)
	url, client, returned := r.served(t, "http2")
	res, err := client.Get(url + "/?app=A")
	if err != nil {
		t.Fatal(err)
	}
	if res.ProtoMajor != 2 || res.StatusCode != http.StatusOK || res.Header.Get("X-Request-Id") != "req-1" {
		t.Fatalf("got %s %d %v, want an HTTP/2 event stream", res.Proto, res.StatusCode, res.Header)
	}
	c := &sseConn{res: res, msgs: make(chan msg, 100)}
	go c.parse(bufio.NewReader(res.Body))
	expect(t, c, "ready 0-0")
	p := r.add(t, queue.TypeMessageCreate, "A", 1, 1, "over HTTP/2")
	expect(t, c, ev("message.created", p))
	select {
	case <-returned:
		t.Fatal("Serve returned while its HTTP/2 stream was open")
	default:
	}
	res.Body.Close()
	select {
	case <-returned:
	case <-time.After(5 * time.Second):
		t.Fatal("Serve did not return after the client left")
	}
	r.waitSubscribers(t, 0)
}
