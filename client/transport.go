package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// maxAnswerBytes bounds an answer's body: a page of 100 messages of 16 KiB,
// JSON-escaped, stays well below it.
const maxAnswerBytes = 32 << 20

// call is one API call. do is the only path to the network, so retries,
// idempotency keys and error mapping are the same for every endpoint (and
// for the live-event stream to come).
type call struct {
	op     string // the route, for errors: "POST /api/v1/applications/{token}/chats"
	method string
	path   string       // escaped, from the base URL on
	query  url.Values   // nil: none
	body   any          // JSON-encoded once and re-sent by every attempt; nil: no body
	write  bool         // an /api/v1 write: it carries an idempotency key
	auth   string       // Authorization header, "" for none
	once   bool         // one attempt whatever the policy
	out    any          // decoded from a 2xx answer
	errOut any          // decoded from any other answer too
	header *http.Header // set to a 2xx answer's header
	opts   writeOpts
	// reqHeader is added to every attempt's request.
	reqHeader http.Header
	// versioned marks a write conditional on a version (a settings write):
	// without an idempotency key it is still retried, since a repeat of an
	// applied attempt is refused as stale; and such a refusal after an
	// unanswered attempt leaves the outcome unknown.
	versioned bool
}

// answer is one attempt's complete HTTP answer.
type answer struct {
	status int
	header http.Header
	body   []byte
}

// do runs r with retries and decodes its answer into r.out.
func (c *Client) do(ctx context.Context, r *call) error {
	var body []byte
	if r.body != nil {
		b, err := json.Marshal(r.body)
		if err != nil {
			return fmt.Errorf("instachat: %s: encode request: %w", r.op, err)
		}
		body = b
	}
	key := ""
	if r.write {
		key = r.opts.key
		if key == "" && c.newKey != nil {
			key = c.newKey()
		}
		if key != "" {
			if err := checkKey(key); err != nil {
				return fmt.Errorf("instachat: %s: %w", r.op, err)
			}
		}
	}
	p := c.retry.withDefaults()
	attempts := p.MaxAttempts
	if r.once || (r.method != http.MethodGet && key == "" && !r.versioned) {
		attempts = 1 // a write without a key may take effect twice
	}
	target := c.base + r.path
	if len(r.query) > 0 {
		target += "?" + r.query.Encode()
	}
	s := &session{r: r, key: key}
	defer s.report()
	for n := 1; ; n++ {
		s.attempts = n
		a, err := c.attempt(ctx, r, target, body, key, p.AttemptTimeout)
		s.last = a
		var retryAfter time.Duration
		switch {
		case err != nil:
			if r.method != http.MethodGet && !notSent(err) {
				s.unanswered = true
			}
			if ctx.Err() != nil {
				return s.fail(fmt.Errorf("instachat: %s: %w", r.op, ctx.Err()))
			}
			s.err = err
		case a.status >= 200 && a.status < 300:
			if r.header != nil {
				*r.header = a.header
			}
			return s.decode(a)
		default:
			e := apiError(r.op, a)
			e.versioned = r.versioned
			if !retryableStatus(a.status) && a.status != http.StatusInternalServerError && !(r.versioned && isStale(a.status)) {
				s.unanswered = false // a definite refusal: nothing was applied
			}
			if r.errOut != nil {
				_ = json.Unmarshal(a.body, r.errOut)
			}
			if !retryableStatus(a.status) {
				return s.fail(e)
			}
			s.err, retryAfter = e, e.RetryAfter
		}
		if n >= attempts {
			return s.fail(s.err)
		}
		wait := p.backoff(n, retryAfter)
		if dl, ok := ctx.Deadline(); ok && time.Until(dl) < wait {
			return s.fail(s.err) // the context would end first: answer now
		}
		if err := sleep(ctx, wait); err != nil {
			return s.fail(fmt.Errorf("instachat: %s: %w while waiting to retry after: %v", r.op, err, s.err))
		}
	}
}

// session is the state of one call across its attempts.
type session struct {
	r          *call
	key        string
	attempts   int
	last       answer
	err        error // the last attempt's error
	unanswered bool  // a write went out and no definite answer has come back since
}

func (s *session) fail(err error) error {
	if s.unanswered {
		return &outcomeError{err: err, keyless: s.key == ""}
	}
	return err
}

func (s *session) decode(a answer) error {
	if s.r.out == nil || len(bytes.TrimSpace(a.body)) == 0 {
		return nil
	}
	if err := json.Unmarshal(a.body, s.r.out); err != nil {
		return fmt.Errorf("instachat: %s: decode the %d answer: %w", s.r.op, a.status, err)
	}
	return nil
}

// report fills the caller's Response, if it asked for one.
func (s *session) report() {
	out := s.r.opts.resp
	if out == nil {
		return
	}
	*out = Response{StatusCode: s.last.status, IdempotencyKey: s.key, Attempts: s.attempts}
	if s.last.header != nil {
		out.RequestID = s.last.header.Get("X-Request-ID")
		out.Replayed = strings.EqualFold(s.last.header.Get("Idempotent-Replayed"), "true")
	}
}

// attempt sends the request once and reads the whole answer within timeout.
func (c *Client) attempt(ctx context.Context, r *call, target string, body []byte, key string, timeout time.Duration) (answer, error) {
	actx, cancel := ctx, context.CancelFunc(func() {})
	if timeout > 0 {
		actx, cancel = context.WithTimeout(ctx, timeout)
	}
	defer cancel()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(actx, r.method, target, rd)
	if err != nil {
		return answer{}, fmt.Errorf("instachat: %s: %w", r.op, stripURL(err))
	}
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.ua != "" {
		req.Header.Set("User-Agent", c.ua)
	}
	if key != "" {
		req.Header.Set("Idempotency-Key", key)
	}
	if r.auth != "" {
		req.Header.Set("Authorization", r.auth)
	}
	for k, v := range r.reqHeader {
		req.Header[k] = v
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return answer{}, attemptErr(ctx, actx, r.op, timeout, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswerBytes+1))
	if err != nil {
		return answer{}, attemptErr(ctx, actx, r.op, timeout, err)
	}
	if len(b) > maxAnswerBytes {
		return answer{}, fmt.Errorf("instachat: %s: answer larger than %d bytes", r.op, maxAnswerBytes)
	}
	return answer{status: resp.StatusCode, header: resp.Header, body: b}, nil
}

// attemptErr names an attempt that got no (complete) answer, telling an
// attempt timeout from the caller's context ending.
func attemptErr(ctx, actx context.Context, op string, timeout time.Duration, err error) error {
	if ctx.Err() == nil && errors.Is(actx.Err(), context.DeadlineExceeded) {
		return fmt.Errorf("instachat: %s: no answer within the attempt timeout (%v)", op, timeout)
	}
	return fmt.Errorf("instachat: %s: %w", op, stripURL(err))
}

// stripURL drops *url.Error's URL, which holds the application's token.
func stripURL(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return fmt.Errorf("%s: %w", strings.ToLower(ue.Op), ue.Err)
	}
	return err
}

// notSent reports errors that prove the request never left: it could not
// have been applied, so its outcome is known.
func notSent(err error) bool {
	var op *net.OpError
	if errors.As(err, &op) && (op.Op == "dial" || op.Op == "proxyconnect") {
		return true
	}
	var dns *net.DNSError
	return errors.As(err, &dns)
}

// apiError is the *Error of a non-2xx answer.
func apiError(op string, a answer) *Error {
	e := &Error{Op: op, StatusCode: a.status, RequestID: a.header.Get("X-Request-ID"),
		RetryAfter: parseRetryAfter(a.header.Get("Retry-After"), time.Now())}
	var body struct {
		Error string `json:"error"`
	}
	if json.Unmarshal(a.body, &body) == nil && body.Error != "" {
		e.Message = body.Error
	} else {
		e.Message = strings.ToLower(http.StatusText(a.status))
	}
	return e
}

// sleep waits d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
