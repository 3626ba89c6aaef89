package client

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Client calls one InstaChat api. It is safe for concurrent use.
type Client struct {
	base   string // scheme://host[/prefix], no trailing slash
	hc     *http.Client
	retry  RetryPolicy
	ua     string
	newKey func() string // nil: writes carry no idempotency key unless given one
	// heartbeat is the api's EVENTS_HEARTBEAT: a subscription silent for
	// three of them reconnects.
	heartbeat time.Duration
}

// Option configures a Client.
type Option func(*Client)

// WithHTTPClient sends requests through hc instead of a client of its own.
// Leave hc.Timeout zero: RetryPolicy.AttemptTimeout bounds each attempt.
func WithHTTPClient(hc *http.Client) Option { return func(c *Client) { c.hc = hc } }

// WithRetry replaces DefaultRetry.
func WithRetry(p RetryPolicy) Option { return func(c *Client) { c.retry = p } }

// WithUserAgent sets the User-Agent header.
func WithUserAgent(ua string) Option { return func(c *Client) { c.ua = ua } }

// WithKeyFunc replaces the random idempotency keys with keys from f. A nil f
// sends writes without a key, which also means they are never retried: a
// retried write without a key may take effect twice.
func WithKeyFunc(f func() string) Option { return func(c *Client) { c.newKey = f } }

// WithHeartbeat tells the client the api's heartbeat interval
// (EVENTS_HEARTBEAT, 15 s unless its operator changed it): a subscription
// that hears nothing for three of them takes its connection for dead and
// resumes on a new one. d ≤ 0 keeps the default.
func WithHeartbeat(d time.Duration) Option {
	return func(c *Client) {
		if d > 0 {
			c.heartbeat = d
		}
	}
}

// New returns a client of the api at baseURL (for example
// "http://localhost:8080").
func New(baseURL string, opts ...Option) (*Client, error) {
	u, err := url.Parse(baseURL)
	if err != nil {
		return nil, fmt.Errorf("instachat: base URL: %w", err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("instachat: base URL %q: want http(s)://host[:port]", baseURL)
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return nil, errors.New("instachat: base URL must have no query or fragment")
	}
	c := &Client{
		base:      strings.TrimRight(u.String(), "/"),
		hc:        &http.Client{},
		retry:     DefaultRetry,
		ua:        "instachat-go-client",
		newKey:    NewIdempotencyKey,
		heartbeat: defaultHeartbeat,
	}
	for _, o := range opts {
		o(c)
	}
	return c, nil
}

// App addresses the application with this token. It does no I/O; the token
// is sent in paths only, and never appears in errors.
func (c *Client) App(token string) *App { return &App{c: c, token: token} }

// App is one application, addressed by its token.
type App struct {
	c     *Client
	token string
}

// Token is the application's token.
func (a *App) Token() string { return a.token }

// path is the application's base path followed by the escaped parts.
func (a *App) path(parts ...string) string {
	var b strings.Builder
	b.WriteString("/api/v1/applications/")
	b.WriteString(url.PathEscape(a.token))
	for _, p := range parts {
		b.WriteByte('/')
		b.WriteString(p)
	}
	return b.String()
}

// Health is the api's liveness answer.
type Health struct {
	Status  string `json:"status"`
	Version string `json:"version,omitempty"`
}

// Readiness says which dependencies the api reaches: Status is "ok",
// "degraded" (some requests answer 503) or "unavailable".
type Readiness struct {
	Status  string `json:"status"`
	Version string `json:"version,omitempty"`
	MySQL   string `json:"mysql"`
	Redis   string `json:"redis"`
	Search  string `json:"search"`
}

// Health asks /healthz, once: a liveness probe reports now, without retries.
func (c *Client) Health(ctx context.Context) (Health, error) {
	var out Health
	err := c.do(ctx, &call{op: "GET /healthz", method: http.MethodGet, path: "/healthz", once: true, out: &out})
	return out, err
}

// Ready asks /readyz, once. An unavailable api answers 503 with its
// Readiness, which is returned along with the *Error.
func (c *Client) Ready(ctx context.Context) (Readiness, error) {
	var out Readiness
	err := c.do(ctx, &call{op: "GET /readyz", method: http.MethodGet, path: "/readyz", once: true, out: &out, errOut: &out})
	return out, err
}
