package webhook

import (
	"context"
	"crypto/tls"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// deliverTo posts a small event to url with a client of p.
func deliverTo(t *testing.T, p Policy, timeout time.Duration, url string) Result {
	t.Helper()
	return Deliver(context.Background(), p.Client(timeout), Delivery{
		URL: url, Body: []byte(`{"n":1}`), ID: "d1", Attempt: 1, Event: "message.create", Position: "1-1",
		Secrets: []string{"whsec_test"},
	})
}

// wantResult fails unless r has kind and status and its error mentions msg.
func wantResult(t *testing.T, r Result, kind Kind, status int, msg string) {
	t.Helper()
	if r.Kind != kind || r.Status != status || !strings.Contains(r.Error, msg) {
		t.Errorf("got kind %q status %d error %q, want kind %q status %d error mentioning %q",
			r.Kind, r.Status, r.Error, kind, status, msg)
	}
}

// httpsURL is the receiver's address with https, which passes the URL
// rules without an allow-list and so reaches the dial-time check.
func httpsURL(rc *receiver) string {
	return strings.Replace(rc.URL, "http://", "https://", 1)
}

func TestClientRefusesLoopbackWithoutAllowList(t *testing.T) {
	rc := newReceiver(t, nil)
	p, _ := mustPolicy(t, "")
	port := rc.Listener.Addr().(*net.TCPAddr).Port
	tests := []struct{ url, msg string }{
		{rc.URL + "/hook", "plain http"},
		{httpsURL(rc) + "/hook", "127.0.0.1 is a loopback address"},
		{"https://localhost:" + itoa(port) + "/hook", "localhost resolves to 127.0.0.1, a loopback address"},
		{"https://[::ffff:127.0.0.1]:" + itoa(port) + "/hook", "is 127.0.0.1, a loopback address"},
	}
	for _, tt := range tests {
		wantResult(t, deliverTo(t, p, time.Second, tt.url), KindForbidden, 0, tt.msg)
	}
	if n := rc.hits.Load(); n != 0 {
		t.Errorf("receiver got %d requests, want 0", n)
	}
}

func TestClientReachesAllowListed(t *testing.T) {
	rc := newReceiver(t, nil)
	byAddr := rc.URL + "/hook"
	byName := "http://localhost:" + itoa(rc.Listener.Addr().(*net.TCPAddr).Port) + "/hook"
	tests := []struct {
		allow, url string
		want       Kind
	}{
		{"127.0.0.1", byAddr, KindOK},
		{"127.0.0.1", byName, KindForbidden}, // localhost also resolves to ::1, not listed
		{"localhost", byName, KindOK},
		{"localhost", byAddr, KindForbidden}, // the name is listed, not its address
		{"127.0.0.0/8,::1", byAddr, KindOK},
		{"127.0.0.0/8,::1", byName, KindOK},
	}
	for _, tt := range tests {
		p, res := mustPolicy(t, tt.allow)
		// The receiver listens on 127.0.0.1 only: dialling ::1 fails and
		// the dialer goes on to the next checked address.
		res.set("localhost", "::1", "127.0.0.1")
		r := deliverTo(t, p, time.Second, tt.url)
		if r.Kind != tt.want {
			t.Errorf("allow %q, POST %s: got %+v, want %s", tt.allow, tt.url, r, tt.want)
		}
		if tt.want == KindOK && (!r.OK() || r.Excerpt != "ok" || r.Error != "") {
			t.Errorf("allow %q, POST %s: got %+v, want 200 ok", tt.allow, tt.url, r)
		}
	}
}

// TestClientRefusesRebinding resolves a name to a public address when the
// URL is saved and to loopback when it is delivered.
func TestClientRefusesRebinding(t *testing.T) {
	rc := newReceiver(t, nil)
	port := itoa(rc.Listener.Addr().(*net.TCPAddr).Port)
	tests := []struct{ allow, url, saveAddr string }{
		{"", "https://rebind.example:" + port + "/hook", "93.184.215.14"},
		{"10.1.0.0/16", "http://rebind.example:" + port + "/hook", "10.1.2.3"},
	}
	for _, tt := range tests {
		p, res := mustPolicy(t, tt.allow)
		res.set("rebind.example", tt.saveAddr)
		if _, err := p.CheckURL(context.Background(), tt.url); err != nil {
			t.Fatalf("CheckURL(%s) while it resolves to %s: %v", tt.url, tt.saveAddr, err)
		}
		res.set("rebind.example", "127.0.0.1")
		r := deliverTo(t, p, time.Second, tt.url)
		wantResult(t, r, KindForbidden, 0, "rebind.example resolves to 127.0.0.1")
	}
	if n := rc.hits.Load(); n != 0 {
		t.Errorf("receiver got %d requests, want 0", n)
	}
}

func TestClientDoesNotFollowRedirects(t *testing.T) {
	target := newReceiver(t, nil)
	p, _ := mustPolicy(t, "127.0.0.1")
	tests := []struct {
		status   int
		location string
	}{
		{http.StatusFound, "http://169.254.169.254/latest/meta-data/iam/security-credentials/"},
		{http.StatusFound, target.URL + "/internal"},
		{http.StatusTemporaryRedirect, target.URL + "/internal"},
		{http.StatusPermanentRedirect, target.URL + "/internal"},
		{http.StatusMovedPermanently, "https://public.example/hook"},
	}
	for _, tt := range tests {
		from := newReceiver(t, func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, tt.location, tt.status)
		})
		r := deliverTo(t, p, time.Second, from.URL+"/hook")
		wantResult(t, r, KindHTTPError, tt.status, "redirects are not followed")
		if r.OK() {
			t.Errorf("redirect %d: Result.OK() = true", tt.status)
		}
		if n := from.hits.Load(); n != 1 {
			t.Errorf("redirect %d: first receiver got %d requests, want 1", tt.status, n)
		}
	}
	if n := target.hits.Load(); n != 0 {
		t.Errorf("redirect target got %d requests, want 0", n)
	}
}

func TestClientTimeout(t *testing.T) {
	const timeout = 300 * time.Millisecond
	p, _ := mustPolicy(t, "127.0.0.1")
	slowHeaders := newReceiver(t, func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-time.After(10 * time.Second):
		case <-r.Context().Done():
		}
	})
	start := time.Now()
	r := deliverTo(t, p, timeout, slowHeaders.URL)
	elapsed := time.Since(start)
	wantResult(t, r, KindTimeout, 0, "within 300ms")
	if elapsed < timeout || elapsed > timeout+time.Second {
		t.Errorf("timed out after %v, want about %v", elapsed, timeout)
	}

	// A receiver that answers 200 at once but never finishes its body
	// still cannot hold the delivery past the timeout.
	slowBody := newReceiver(t, func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte("partial"))
		w.(http.Flusher).Flush()
		select {
		case <-time.After(10 * time.Second):
		case <-r.Context().Done():
		}
	})
	start = time.Now()
	r = deliverTo(t, p, timeout, slowBody.URL)
	if elapsed := time.Since(start); elapsed > timeout+time.Second {
		t.Errorf("a stalled body held the delivery %v, want about %v", elapsed, timeout)
	}
	if !r.OK() || r.Excerpt != "partial" {
		t.Errorf("stalled body: got status %d excerpt %q, want 200 and %q", r.Status, r.Excerpt, "partial")
	}
}

func TestClientKeepsOnlyAnExcerpt(t *testing.T) {
	const total = 64 << 20
	var written atomic.Int64
	done := make(chan struct{})
	p, _ := mustPolicy(t, "127.0.0.1")
	rc := newReceiver(t, func(w http.ResponseWriter, r *http.Request) {
		defer close(done)
		chunk := []byte(strings.Repeat("x", 32<<10))
		for written.Load() < total {
			n, err := w.Write(chunk)
			written.Add(int64(n))
			if err != nil {
				return
			}
		}
	})
	r := deliverTo(t, p, 5*time.Second, rc.URL)
	if !r.OK() || r.Excerpt != strings.Repeat("x", MaxExcerpt) {
		t.Errorf("got status %d, %d-byte excerpt, want 200 and %d bytes of x", r.Status, len(r.Excerpt), MaxExcerpt)
	}
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("the receiver is still writing 10s after the delivery returned")
	}
	if n := written.Load(); n >= total {
		t.Errorf("the receiver wrote all %d bytes; want the client to hang up after the excerpt and a short drain", n)
	}
}

func TestClientReusesConnections(t *testing.T) {
	p, _ := mustPolicy(t, "127.0.0.1")
	var conns atomic.Int64
	rc := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
	}))
	rc.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	rc.Start()
	defer rc.Close()
	c := p.Client(time.Second)
	defer c.CloseIdleConnections()
	for i := range 5 {
		r := Deliver(context.Background(), c, Delivery{URL: rc.URL, Body: []byte("{}"), ID: "d", Attempt: i + 1})
		if !r.OK() {
			t.Fatalf("delivery %d: %+v", i+1, r)
		}
	}
	if n := conns.Load(); n != 1 {
		t.Errorf("5 deliveries opened %d connections, want 1", n)
	}
}

func TestClientFailures(t *testing.T) {
	p, res := mustPolicy(t, "127.0.0.1,unknown.example")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := "http://" + ln.Addr().String() + "/hook"
	ln.Close()
	tlsSrv := httptest.NewUnstartedServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	tlsSrv.Config.ErrorLog = log.New(io.Discard, "", 0) // the client's "bad certificate" alert
	tlsSrv.StartTLS()
	defer tlsSrv.Close()
	plain := newReceiver(t, nil)
	res.set("unknown.example")

	wantResult(t, deliverTo(t, p, time.Second, closed), KindConnect, 0, "connection refused")
	wantResult(t, deliverTo(t, p, time.Second, tlsSrv.URL), KindTLS, 0, "certificate")
	wantResult(t, deliverTo(t, p, time.Second, httpsURL(plain)), KindTLS, 0, "did not answer in TLS")
	wantResult(t, deliverTo(t, p, time.Second, "http://unknown.example/hook"), KindConnect, 0, "does not resolve")
	wantResult(t, deliverTo(t, p, time.Second, "http://nowhere.example/hook"), KindConnect, 0, "does not resolve")
	wantResult(t, deliverTo(t, p, time.Second, "http://[::1]/hook"), KindForbidden, 0, "plain http")
	r := deliverTo(t, p, time.Second, "http://user:s3cret@"+plain.Listener.Addr().String()+"/hook")
	wantResult(t, r, KindForbidden, 0, "user name or password")
	if strings.Contains(r.Error, "s3cret") {
		t.Errorf("error %q shows the URL's password", r.Error)
	}
	wantResult(t, deliverTo(t, p, time.Second, "://bad"), KindForbidden, 0, "not a valid URL")
}

func TestClientCanceled(t *testing.T) {
	p, _ := mustPolicy(t, "127.0.0.1")
	rc := newReceiver(t, func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() })
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(100*time.Millisecond, cancel)
	r := Deliver(ctx, p.Client(5*time.Second), Delivery{URL: rc.URL, Body: []byte("{}")})
	wantResult(t, r, KindCanceled, 0, "canceled")
}

func TestClientTransportSettings(t *testing.T) {
	var p Policy
	c := p.Client(0)
	if c.Timeout != DefaultTimeout {
		t.Errorf("Client(0).Timeout = %v, want %v", c.Timeout, DefaultTimeout)
	}
	tr := c.Transport.(*transport)
	for _, h := range []*http.Transport{tr.secure, tr.plain} {
		if h.Proxy != nil {
			t.Error("transport has a Proxy; HTTP_PROXY would bypass the dial-time check")
		}
		if h.TLSClientConfig.MinVersion < tls.VersionTLS12 || h.TLSClientConfig.InsecureSkipVerify || h.TLSClientConfig.RootCAs != nil {
			t.Errorf("TLS config %+v, want system roots and TLS 1.2 or newer", h.TLSClientConfig)
		}
	}
}

func itoa(n int) string { return strconv.Itoa(n) }

func TestShareDeadline(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 9*time.Second)
	defer cancel()
	tests := []struct {
		left     int
		min, max time.Duration
	}{
		{3, 2900 * time.Millisecond, 3 * time.Second},   // a third each
		{1, 8900 * time.Millisecond, 9 * time.Second},   // the last gets all
		{100, 1900 * time.Millisecond, 2 * time.Second}, // never under minDialShare
	}
	for _, tt := range tests {
		sub, cancel := shareDeadline(ctx, tt.left)
		d, _ := sub.Deadline()
		if got := time.Until(d); got < tt.min || got > tt.max {
			t.Errorf("shareDeadline(9s, %d) = %v, want between %v and %v", tt.left, got, tt.min, tt.max)
		}
		cancel()
	}
	sub, cancel := shareDeadline(context.Background(), 3)
	defer cancel()
	if _, ok := sub.Deadline(); ok {
		t.Error("shareDeadline without a deadline set one")
	}
}
