package webhook

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

// fakeResolver answers from a table that a test can change between calls;
// names not in it do not exist.
type fakeResolver struct {
	mu      sync.Mutex
	answers map[string][]netip.Addr
}

func newFakeResolver() *fakeResolver {
	r := &fakeResolver{answers: map[string][]netip.Addr{}}
	r.set("localhost", "127.0.0.1", "::1")
	r.set("public.example", "93.184.215.14")
	r.set("public6.example", "2606:2800:21f:cb07:6820:80da:af6b:8b2c")
	r.set("internal.example", "10.1.2.3")
	r.set("mixed.example", "93.184.215.14", "192.168.1.1")
	r.set("mapped.example", "::ffff:169.254.169.254")
	return r
}

// set makes host resolve to addrs from now on.
func (r *fakeResolver) set(host string, addrs ...string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	var as []netip.Addr
	for _, a := range addrs {
		as = append(as, netip.MustParseAddr(a))
	}
	r.answers[host] = as
}

func (r *fakeResolver) LookupNetIP(_ context.Context, _, host string) ([]netip.Addr, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	// DNS names are case-insensitive and may end in the root's dot.
	if as, ok := r.answers[strings.ToLower(strings.TrimSuffix(host, "."))]; ok {
		return as, nil
	}
	return nil, &net.DNSError{Err: "no such host", Name: host, Server: "10.99.0.53:53", IsNotFound: true}
}

// mustPolicy parses allow with a fresh fake resolver.
func mustPolicy(t *testing.T, allow string) (Policy, *fakeResolver) {
	t.Helper()
	p, err := ParsePolicy(allow)
	if err != nil {
		t.Fatalf("ParsePolicy(%q): %v", allow, err)
	}
	r := newFakeResolver()
	return p.WithResolver(r), r
}

// receiver is a loopback HTTP server that counts the requests it gets.
type receiver struct {
	*httptest.Server
	hits atomic.Int64
}

// newReceiver starts a receiver that counts each request, then lets h
// answer it (200 "ok" when h is nil). It reads the request body before h
// runs, as a real receiver would: only then does net/http notice a client
// hanging up and cancel r.Context(), which slow handlers wait on.
func newReceiver(t *testing.T, h http.HandlerFunc) *receiver {
	t.Helper()
	rc := &receiver{}
	rc.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rc.hits.Add(1)
		body, err := io.ReadAll(r.Body)
		if err != nil {
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		if h == nil {
			_, _ = w.Write([]byte("ok"))
			return
		}
		h(w, r)
	}))
	t.Cleanup(rc.Close)
	return rc
}
