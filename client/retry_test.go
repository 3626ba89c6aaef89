package client_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/instachat/instachat/client"
)

// fast retries quickly, so the tests measure the server's Retry-After, not
// the backoff.
var fast = client.RetryPolicy{MaxAttempts: 4, Base: time.Millisecond, Max: 5 * time.Millisecond, AttemptTimeout: 2 * time.Second}

// attempts records what every attempt of a test's calls carried.
type attempts struct {
	mu   sync.Mutex
	keys []string // the Idempotency-Key of each request ("" for none)
}

func (a *attempts) add(r *http.Request) int {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.keys = append(a.keys, r.Header.Get("Idempotency-Key"))
	return len(a.keys)
}

func (a *attempts) seen() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]string(nil), a.keys...)
}

// serve starts a server whose answer to attempt n (from 1) is answer's,
// and a client of it that retries with policy fast.
func serve(t *testing.T, answer func(n int, w http.ResponseWriter, r *http.Request)) (*client.App, *attempts) {
	t.Helper()
	return serveWith(t, fast, answer)
}

func serveWith(t *testing.T, p client.RetryPolicy, answer func(n int, w http.ResponseWriter, r *http.Request)) (*client.App, *attempts) {
	t.Helper()
	rec := &attempts{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		answer(rec.add(r), w, r)
	}))
	t.Cleanup(srv.Close)
	c, err := client.New(srv.URL, client.WithRetry(p))
	if err != nil {
		t.Fatal(err)
	}
	return c.App("secret-token"), rec
}

func created(w http.ResponseWriter) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusCreated)
	_, _ = w.Write([]byte(`{"chat_number":1,"number":7,"body":"hi","status":"pending"}` + "\n"))
}

// hangUp reads the request, then closes the connection without a word: the
// server may have applied it, the client never hears.
func hangUp(t *testing.T, w http.ResponseWriter) {
	conn, _, err := http.NewResponseController(w).Hijack()
	if err != nil {
		t.Errorf("hijack: %v", err)
		return
	}
	conn.Close()
}

func sameKey(t *testing.T, keys []string, want int) {
	t.Helper()
	if len(keys) < want {
		t.Fatalf("got %d attempts, want at least %d", len(keys), want)
	}
	for i, k := range keys {
		if k == "" || k != keys[0] {
			t.Fatalf("attempt %d carried key %q, want the first attempt's %q on every one", i+1, k, keys[0])
		}
	}
}

func TestLostReplyIsRetriedWithTheSameKey(t *testing.T) {
	app, rec := serve(t, func(n int, w http.ResponseWriter, r *http.Request) {
		if n == 1 {
			hangUp(t, w)
			return
		}
		created(w)
	})
	var resp client.Response
	m, err := app.PostMessage(context.Background(), 1, "hi", client.WithResponse(&resp))
	if err != nil || m.Number != 7 {
		t.Fatalf("got %+v, %v; want number 7 after a retry", m, err)
	}
	sameKey(t, rec.seen(), 2)
	if resp.IdempotencyKey != rec.seen()[0] || resp.Attempts != 2 || resp.StatusCode != http.StatusCreated {
		t.Errorf("response: got %+v, want key %q, 2 attempts, 201", resp, rec.seen()[0])
	}
}

func TestLostRepliesExhaustedAreOutcomeUnknown(t *testing.T) {
	app, rec := serve(t, func(_ int, w http.ResponseWriter, _ *http.Request) { hangUp(t, w) })
	var resp client.Response
	_, err := app.PostMessage(context.Background(), 1, "hi", client.WithResponse(&resp))
	if !errors.Is(err, client.ErrOutcomeUnknown) || client.StatusOf(err) != 0 {
		t.Fatalf("got %v (status %d), want ErrOutcomeUnknown without a status", err, client.StatusOf(err))
	}
	sameKey(t, rec.seen(), fast.MaxAttempts)
	if resp.IdempotencyKey != rec.seen()[0] {
		t.Errorf("response key %q, want %q: the key to retry with", resp.IdempotencyKey, rec.seen()[0])
	}
	if strings.Contains(err.Error(), "secret-token") {
		t.Errorf("error %q shows the token", err)
	}
	// The retry the error invites: same key, and this time an answer.
	app2, rec2 := serve(t, func(_ int, w http.ResponseWriter, _ *http.Request) { created(w) })
	if _, err := app2.PostMessage(context.Background(), 1, "hi", client.WithIdempotencyKey(resp.IdempotencyKey)); err != nil {
		t.Fatal(err)
	}
	if got := rec2.seen(); len(got) != 1 || got[0] != resp.IdempotencyKey {
		t.Errorf("retry sent keys %q, want [%q]", got, resp.IdempotencyKey)
	}
}

func TestRetryAfterIsHonoured(t *testing.T) {
	for _, status := range []int{http.StatusServiceUnavailable, http.StatusTooManyRequests} {
		t.Run(http.StatusText(status), func(t *testing.T) {
			app, rec := serve(t, func(n int, w http.ResponseWriter, _ *http.Request) {
				if n == 1 {
					w.Header().Set("Retry-After", "1")
					http.Error(w, `{"error":"busy"}`, status)
					return
				}
				created(w)
			})
			start := time.Now()
			if _, err := app.PostMessage(context.Background(), 1, "hi"); err != nil {
				t.Fatal(err)
			}
			if d := time.Since(start); d < time.Second {
				t.Errorf("retried after %v, want at least the Retry-After of 1s", d)
			}
			sameKey(t, rec.seen(), 2)
		})
	}
}

func TestRetriesRunOut(t *testing.T) {
	app, rec := serve(t, func(_ int, w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Retry-After", "0")
		w.Header().Set("X-Request-ID", "req-429")
		w.WriteHeader(http.StatusTooManyRequests)
		_, _ = w.Write([]byte(`{"error":"too many writes for this application"}`))
	})
	_, err := app.CreateChat(context.Background())
	var e *client.Error
	if !errors.As(err, &e) || !errors.Is(err, client.ErrRateLimited) {
		t.Fatalf("got %v, want an *Error matching ErrRateLimited", err)
	}
	if e.StatusCode != 429 || e.Message != "too many writes for this application" || e.RequestID != "req-429" {
		t.Errorf("got %+v, want status 429, the api's message and request id", e)
	}
	if errors.Is(err, client.ErrOutcomeUnknown) {
		t.Errorf("got %v: every attempt was answered, the outcome is known", err)
	}
	sameKey(t, rec.seen(), fast.MaxAttempts)
	if got := len(rec.seen()); got != fast.MaxAttempts {
		t.Errorf("got %d attempts, want %d", got, fast.MaxAttempts)
	}
}

func TestAttemptTimeout(t *testing.T) {
	p := fast
	p.AttemptTimeout = 100 * time.Millisecond
	app, rec := serveWith(t, p, func(n int, w http.ResponseWriter, r *http.Request) {
		if n == 1 {
			// Muted: no answer until the client gives up. The server sees
			// the hang-up only once it has read the body.
			_, _ = io.Copy(io.Discard, r.Body)
			select {
			case <-r.Context().Done():
			case <-time.After(5 * time.Second):
			}
			return
		}
		created(w)
	})
	start := time.Now()
	m, err := app.PostMessage(context.Background(), 1, "hi")
	if err != nil || m.Number != 7 {
		t.Fatalf("got %+v, %v; want the second attempt's answer", m, err)
	}
	if d := time.Since(start); d < p.AttemptTimeout || d > time.Second {
		t.Errorf("took %v, want one attempt timeout (%v) and a quick retry", d, p.AttemptTimeout)
	}
	sameKey(t, rec.seen(), 2)
}

func TestCancelDuringBackoff(t *testing.T) {
	app, rec := serve(t, func(_ int, w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Retry-After", "30")
		w.WriteHeader(http.StatusServiceUnavailable)
	})
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(100*time.Millisecond, cancel)
	start := time.Now()
	_, err := app.PostMessage(ctx, 1, "hi")
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("got %v, want context.Canceled", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("returned after %v, want soon after the cancel (100ms)", d)
	}
	if got := len(rec.seen()); got != 1 {
		t.Errorf("got %d attempts, want 1: the cancel came during the wait", got)
	}
}

func TestDeadlineBeforeRetryAfterAnswersAtOnce(t *testing.T) {
	app, _ := serve(t, func(_ int, w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Retry-After", "30")
		w.WriteHeader(http.StatusServiceUnavailable)
	})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	start := time.Now()
	_, err := app.Get(ctx)
	var e *client.Error
	if !errors.As(err, &e) || e.RetryAfter != 30*time.Second || !errors.Is(err, client.ErrUnavailable) {
		t.Fatalf("got %v, want the 503 *Error with its Retry-After of 30s", err)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("returned after %v: it waited although the deadline comes before the Retry-After", d)
	}
}

// TestWhatIsRetried: reads always, writes only with a key; gateways,
// unavailability and rate limits are; other 4xx and 500 never.
func TestWhatIsRetried(t *testing.T) {
	cases := []struct {
		name     string
		status   int
		write    bool
		noKey    bool
		attempts int
	}{
		{"read 503", 503, false, false, fast.MaxAttempts},
		{"read 502", 502, false, false, fast.MaxAttempts},
		{"read 504", 504, false, false, fast.MaxAttempts},
		{"read 500", 500, false, false, 1},
		{"read 404", 404, false, false, 1},
		{"write 503", 503, true, false, fast.MaxAttempts},
		{"write 429", 429, true, false, fast.MaxAttempts},
		{"write 500", 500, true, false, 1},
		{"write 400", 400, true, false, 1},
		{"write 409", 409, true, false, 1},
		{"write 422", 422, true, false, 1},
		{"write 503 without a key", 503, true, true, 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rec := &attempts{}
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				rec.add(r)
				w.WriteHeader(tc.status)
			}))
			defer srv.Close()
			opts := []client.Option{client.WithRetry(fast)}
			if tc.noKey {
				opts = append(opts, client.WithKeyFunc(nil))
			}
			c, err := client.New(srv.URL, opts...)
			if err != nil {
				t.Fatal(err)
			}
			app := c.App("t")
			if tc.write {
				_, err = app.CreateChat(context.Background())
			} else {
				_, err = app.Chat(context.Background(), 1)
			}
			if client.StatusOf(err) != tc.status {
				t.Errorf("got %v, want status %d", err, tc.status)
			}
			keys := rec.seen()
			if len(keys) != tc.attempts {
				t.Errorf("got %d attempts, want %d", len(keys), tc.attempts)
			}
			if wantKey := tc.write && !tc.noKey; (keys[0] != "") != wantKey {
				t.Errorf("Idempotency-Key %q, want one: %v", keys[0], wantKey)
			}
		})
	}
}

func TestKeys(t *testing.T) {
	app, rec := serve(t, func(_ int, w http.ResponseWriter, _ *http.Request) { created(w) })
	ctx := context.Background()
	for range 2 {
		if _, err := app.PostMessage(ctx, 1, "hi"); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := app.PostMessage(ctx, 1, "hi", client.WithIdempotencyKey("my-key-1")); err != nil {
		t.Fatal(err)
	}
	keys := rec.seen()
	if len(keys[0]) != 32 || keys[0] == keys[1] || keys[2] != "my-key-1" {
		t.Errorf("got keys %q, want two different random 128-bit keys, then my-key-1", keys)
	}
	for _, bad := range []string{"", strings.Repeat("k", 256), "tab\tkey", "naïve"} {
		_, err := app.PostMessage(ctx, 1, "hi", client.WithIdempotencyKey(bad))
		if bad == "" {
			continue // empty means: make one
		}
		if !errors.Is(err, client.ErrInvalid) {
			t.Errorf("key %q: got %v, want ErrInvalid", bad, err)
		}
	}
	if got := len(rec.seen()); got != 4 {
		t.Errorf("got %d requests, want 4: a bad key is refused before sending", got)
	}
}

func TestNetworkErrorsHideTheToken(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close() // nothing listens: every dial fails
	c, err := client.New(url, client.WithRetry(fast))
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.App("secret-token").PostMessage(context.Background(), 1, "hi")
	if err == nil || strings.Contains(err.Error(), "secret-token") {
		t.Fatalf("got %v, want an error without the token", err)
	}
	if errors.Is(err, client.ErrOutcomeUnknown) {
		t.Errorf("got %v: a refused connection sent nothing, the outcome is known", err)
	}
}
