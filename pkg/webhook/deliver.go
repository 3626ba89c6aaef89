package webhook

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// MaxExcerpt is the most of a response body a Result keeps, in bytes.
const MaxExcerpt = 256

// maxDrain is how much more of a response body is read, and thrown away,
// so that the connection can be reused; a longer body closes it instead.
const maxDrain = 64 << 10

// Delivery is one attempt to POST one event to one endpoint.
type Delivery struct {
	URL      string    // the endpoint, checked by CheckURL when it was saved
	Body     []byte    // the event as JSON
	ID       string    // delivery id, the same on every attempt (HeaderDelivery)
	Attempt  int       // 1 for the first attempt (HeaderAttempt)
	Event    string    // event type, such as "message.created" (HeaderEvent)
	Position string    // the event's "<gen>-<seq>" position (HeaderEventPosition)
	Secrets  []string  // signing secrets: the current one, then any still in overlap
	Now      time.Time // signing time; zero means time.Now()
}

// Result is the outcome of a Delivery.
type Result struct {
	Status   int           // HTTP status, 0 when no response came
	Duration time.Duration // from sending until the status and excerpt were read
	Excerpt  string        // the start of the response body: valid UTF-8, at most MaxExcerpt bytes
	Kind     Kind          // the outcome class, a metrics label
	Error    string        // what went wrong, safe to show the tenant; "" when OK
}

// OK reports whether the receiver answered 2xx.
func (r Result) OK() bool { return r.Status >= 200 && r.Status <= 299 }

// Deliver POSTs d.Body to d.URL with client (from Policy.Client), with
// Content-Type application/json, the User-Agent, the delivery headers and
// the signature, and reports the outcome. It never returns an error: a
// failure is a Result whose Kind and Error say what happened. A 3xx is an
// http_error, since the client does not follow redirects.
func Deliver(ctx context.Context, client *http.Client, d Delivery) Result {
	now := d.Now
	if now.IsZero() {
		now = time.Now()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, d.URL, bytes.NewReader(d.Body))
	if err != nil {
		return Result{Kind: KindForbidden, Error: invalid("not a valid URL").Error()}
	}
	h := req.Header
	h.Set("Content-Type", "application/json")
	h.Set("User-Agent", UserAgent)
	// Assigned, not Set, so that HTTP/1 carries the names as documented
	// (Set would send "X-Instachat-…"); header names are case-insensitive.
	h[HeaderDelivery] = []string{d.ID}
	h[HeaderAttempt] = []string{strconv.Itoa(d.Attempt)}
	h[HeaderEvent] = []string{d.Event}
	h[HeaderEventPosition] = []string{d.Position}
	h[HeaderSignature] = []string{Sign(d.Secrets, now, d.Body)}

	start := time.Now()
	resp, err := client.Do(req)
	if err != nil {
		kind, msg := classify(ctx, err, client.Timeout)
		return Result{Duration: time.Since(start), Kind: kind, Error: msg}
	}
	defer resp.Body.Close()
	r := Result{Status: resp.StatusCode, Excerpt: readExcerpt(resp.Body), Kind: KindOK}
	r.Duration = time.Since(start)
	_, _ = io.CopyN(io.Discard, resp.Body, maxDrain)
	if !r.OK() {
		r.Kind, r.Error = KindHTTPError, statusError(resp.StatusCode)
	}
	return r
}

// statusError describes a non-2xx answer.
func statusError(code int) string {
	msg := "receiver answered " + strconv.Itoa(code)
	if text := http.StatusText(code); text != "" {
		msg += " " + text
	}
	if code >= 300 && code <= 399 {
		msg += "; redirects are not followed"
	}
	return msg
}

// readExcerpt reads at most MaxExcerpt bytes of body and returns them as
// valid UTF-8: a character cut at the end is dropped, invalid bytes become
// U+FFFD, and the result still fits in MaxExcerpt bytes. Read errors just
// end the excerpt: the status already says how the receiver answered.
func readExcerpt(body io.Reader) string {
	b, _ := io.ReadAll(io.LimitReader(body, MaxExcerpt))
	return excerpt(b)
}

// excerpt is readExcerpt's conversion of b (at most MaxExcerpt bytes).
func excerpt(b []byte) string {
	for i := len(b) - 1; i >= 0 && i >= len(b)-utf8.UTFMax; i-- {
		if utf8.RuneStart(b[i]) {
			if !utf8.FullRune(b[i:]) {
				b = b[:i]
			}
			break
		}
	}
	s := strings.ToValidUTF8(string(b), "\uFFFD")
	for len(s) > MaxExcerpt {
		_, size := utf8.DecodeLastRuneInString(s)
		s = s[:len(s)-size]
	}
	return s
}
