package webhook

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"net/http"
	"net/netip"
	"time"
)

// DefaultTimeout bounds one delivery (connect, TLS, request and response)
// when Client is given no timeout.
const DefaultTimeout = 5 * time.Second

// maxHeaderBytes bounds the response headers a receiver may send.
const maxHeaderBytes = 64 << 10

// Client returns an HTTP client for deliveries under p. Its dialer resolves
// the host itself, checks every address again (DNS may have changed since
// CheckURL: rebinding), then connects to a checked address, so no second
// lookup can swap it. It also re-applies CheckURL's URL rules to every
// request. It ignores HTTP_PROXY and friends, does not follow redirects
// (the 3xx response is returned as is), verifies TLS against the system
// roots with TLS 1.2 or newer, keeps idle connections per host, and bounds
// each request, reading the response body included, by timeout
// (DefaultTimeout if timeout ≤ 0). Create one per process and share it.
func (p Policy) Client(timeout time.Duration) *http.Client {
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	return &http.Client{
		Transport: &transport{
			policy: p,
			secure: p.pool(timeout, false),
			plain:  p.pool(timeout, true),
		},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		Timeout:       timeout,
	}
}

// transport sends https and plain http through separate pools, because
// their dial-time checks differ: plain http needs allow-listed addresses.
type transport struct {
	policy        Policy
	secure, plain *http.Transport
}

// RoundTrip refuses a URL that CheckURL would refuse on its face, then
// sends the request on the pool for its scheme.
func (t *transport) RoundTrip(req *http.Request) (*http.Response, error) {
	_, plain, err := t.policy.checkShape(req.URL)
	if err != nil {
		if req.Body != nil {
			req.Body.Close()
		}
		return nil, err
	}
	if plain {
		return t.plain.RoundTrip(req)
	}
	return t.secure.RoundTrip(req)
}

// CloseIdleConnections closes both pools' idle connections; http.Client's
// method of the same name calls it.
func (t *transport) CloseIdleConnections() {
	t.secure.CloseIdleConnections()
	t.plain.CloseIdleConnections()
}

// pool builds one connection pool whose dialer enforces p.
func (p Policy) pool(timeout time.Duration, plain bool) *http.Transport {
	return &http.Transport{
		Proxy:                  nil,
		DialContext:            p.dialer(timeout, plain),
		TLSClientConfig:        &tls.Config{MinVersion: tls.VersionTLS12},
		ForceAttemptHTTP2:      true,
		TLSHandshakeTimeout:    timeout,
		ResponseHeaderTimeout:  timeout,
		ExpectContinueTimeout:  time.Second,
		MaxIdleConns:           100,
		MaxIdleConnsPerHost:    8,
		IdleConnTimeout:        90 * time.Second,
		MaxResponseHeaderBytes: maxHeaderBytes,
		// Excerpts are cut from the bytes on the wire; no decompression
		// means no decompression bomb either.
		DisableCompression: true,
	}
}

// dialer returns a DialContext that resolves the host, refuses it unless
// every address passes the policy, and connects to the checked addresses
// in turn until one answers, all within timeout. (net/http detaches dials
// from the request's deadline so that a late connection can serve the next
// request; the dial needs its own bound.)
func (p Policy) dialer(timeout time.Duration, plain bool) func(ctx context.Context, network, addr string) (net.Conn, error) {
	d := &net.Dialer{KeepAlive: 30 * time.Second}
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		ctx, cancel := context.WithTimeout(ctx, timeout)
		defer cancel()
		host, port, err := net.SplitHostPort(addr)
		if err != nil {
			return nil, invalid("bad address " + addr)
		}
		addrs, err := p.resolve(ctx, host)
		if err != nil {
			return nil, err
		}
		if err := p.check(host, addrs, plain); err != nil {
			return nil, err
		}
		return dialFirst(ctx, d, network, addrs, port)
	}
}

// dialFirst connects to the first of addrs that answers on port.
func dialFirst(ctx context.Context, d *net.Dialer, network string, addrs []netip.Addr, port string) (net.Conn, error) {
	var errs []error
	for i, a := range addrs {
		dctx, cancel := shareDeadline(ctx, len(addrs)-i)
		conn, err := d.DialContext(dctx, network, net.JoinHostPort(a.Unmap().String(), port))
		cancel()
		if err == nil {
			return conn, nil
		}
		errs = append(errs, err)
		if ctx.Err() != nil {
			break
		}
	}
	return nil, errors.Join(errs...)
}

// minDialShare is the least time one address gets before the dialer moves
// on to the next.
const minDialShare = 2 * time.Second

// shareDeadline gives one of left addresses its share of the time ctx has
// left (at least minDialShare), so that an address that drops packets
// cannot use up the whole delivery while others wait untried.
func shareDeadline(ctx context.Context, left int) (context.Context, context.CancelFunc) {
	deadline, ok := ctx.Deadline()
	if !ok || left <= 1 {
		return context.WithCancel(ctx)
	}
	share := time.Until(deadline) / time.Duration(left)
	if share < minDialShare {
		share = minDialShare
	}
	return context.WithTimeout(ctx, share)
}
