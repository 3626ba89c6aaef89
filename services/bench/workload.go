package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	ic "github.com/instachat/instachat/client"
)

// mix is the share of each endpoint in the load, as weights.
type mix map[string]int

var endpoints = []string{"create", "update", "read", "search"}

// parseMix reads "create=80,update=10,read=5,search=5".
func parseMix(s string) (mix, error) {
	m := mix{}
	for _, part := range strings.Split(s, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			return nil, fmt.Errorf("mix %q: want name=weight", part)
		}
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return nil, fmt.Errorf("mix %q: weight must be a non-negative integer", part)
		}
		found := false
		for _, e := range endpoints {
			found = found || e == k
		}
		if !found {
			return nil, fmt.Errorf("mix %q: unknown endpoint (want %s)", part, strings.Join(endpoints, ", "))
		}
		m[k] = n
	}
	if m.total() == 0 {
		return nil, fmt.Errorf("mix %q: all weights are zero", s)
	}
	return m, nil
}

func (m mix) total() int {
	t := 0
	for _, v := range m {
		t += v
	}
	return t
}

// picker turns request index i into an endpoint name deterministically, so a
// run is reproducible: the index is hashed, then mapped onto the weights.
func (m mix) picker() func(i int) string {
	names := make([]string, 0, len(m))
	for k := range m {
		names = append(names, k)
	}
	sort.Strings(names)
	total := uint64(m.total())
	return func(i int) string {
		x := uint64(i)*0x9e3779b97f4a7c15 ^ uint64(i)>>7
		x %= total
		for _, n := range names {
			if x < uint64(m[n]) {
				return n
			}
			x -= uint64(m[n])
		}
		return names[len(names)-1]
	}
}

// chatRef is one chat the load writes to; max is its highest created number.
type chatRef struct {
	token  string
	number int64
	max    atomic.Int64
}

// workload holds the applications and chats and sends requests to one base
// URL (the api, or the reference server) through the Go client.
type workload struct {
	// load sends the measured requests, one attempt each. retrying makes
	// the applications and chats and reads back the seed: not measured, so
	// it retries (safe: its writes carry idempotency keys).
	load, retrying *ic.Client
	chats          []*chatRef
	textMu         sync.Mutex
	text           *textGen
}

// loadRetry tries each measured request once: a retry would hide an error
// and fold its backoff into the latency. 30 s bounds an attempt, as the
// harness's HTTP client did before it used the Go client.
var loadRetry = ic.RetryPolicy{MaxAttempts: 1, AttemptTimeout: 30 * time.Second}

// newWorkload returns a workload against base (scheme://host[:port]) whose
// two clients share one transport with an idle connection for each request
// in flight, so no measured request waits for a new connection that the
// last one's could have served.
//
// Writes carry idempotency keys: the Go client sends them by default, and
// the benchmark measures what a typical client sends, including the extra
// GET and SET a keyed write costs in the api's Lua step. The reference
// endpoint ignores the header, so the api/reference ratio includes that
// cost.
func newWorkload(base string, maxInFlight int, seed uint64) (*workload, error) {
	hc := &http.Client{Transport: &http.Transport{
		MaxIdleConns: maxInFlight, MaxIdleConnsPerHost: maxInFlight, IdleConnTimeout: 90 * time.Second,
	}}
	load, err := ic.New(base, ic.WithHTTPClient(hc), ic.WithRetry(loadRetry), ic.WithUserAgent("instachat-bench"))
	if err != nil {
		return nil, err
	}
	retrying, err := ic.New(base, ic.WithHTTPClient(hc), ic.WithUserAgent("instachat-bench"))
	if err != nil {
		return nil, err
	}
	return &workload{load: load, retrying: retrying, text: newTextGen(seed, 5000)}, nil
}

func (w *workload) body() string {
	w.textMu.Lock()
	defer w.textMu.Unlock()
	return w.text.message()
}

func (w *workload) word() string {
	w.textMu.Lock()
	defer w.textMu.Unlock()
	return w.text.word()
}

// statusOf is the status the recorder files a call under: ok when it
// succeeded, the answer's status when the api refused it, statusUnreadable
// for a 2xx answer whose body did not decode, 0 when no answer came.
func statusOf(err error, ok int) int {
	if err == nil {
		return ok
	}
	var syntax *json.SyntaxError
	var typ *json.UnmarshalTypeError
	if errors.As(err, &syntax) || errors.As(err, &typ) {
		return statusUnreadable
	}
	return ic.StatusOf(err)
}

// setup creates apps applications with chats chats each.
func (w *workload) setup(ctx context.Context, apps, chats int) error {
	for a := 0; a < apps; a++ {
		created, err := w.retrying.CreateApplication(ctx, fmt.Sprintf("bench %d", a))
		if err != nil {
			return fmt.Errorf("create application %d: %w", a, err)
		}
		app := w.retrying.App(created.Token)
		for c := 0; c < chats; c++ {
			chat, err := app.CreateChat(ctx)
			if err != nil {
				return fmt.Errorf("create chat %d of application %d: %w", c, a, err)
			}
			w.chats = append(w.chats, &chatRef{token: created.Token, number: chat.Number})
		}
	}
	return nil
}

// op returns the request for endpoint name, aimed at chat i mod len(chats).
func (w *workload) op(name string, i int) op {
	c := w.chats[i%len(w.chats)]
	app := w.load.App(c.token)
	switch name {
	case "update", "read":
		return func(ctx context.Context) int {
			max := c.max.Load()
			if max == 0 { // nothing created here yet: create instead
				return w.create(ctx, c)
			}
			n := 1 + rand.Int64N(max)
			if name == "read" {
				_, err := app.Message(ctx, c.number, n)
				return statusOf(err, http.StatusOK)
			}
			var r ic.Response
			_, err := app.UpdateMessage(ctx, c.number, n, w.body(), ic.WithResponse(&r))
			return statusOf(err, r.StatusCode)
		}
	case "search":
		return func(ctx context.Context) int {
			_, err := app.Search(ctx, c.number, w.word(), 0, 0)
			return statusOf(err, http.StatusOK)
		}
	default:
		return func(ctx context.Context) int { return w.create(ctx, c) }
	}
}

func (w *workload) create(ctx context.Context, c *chatRef) int {
	var r ic.Response
	m, err := w.load.App(c.token).PostMessage(ctx, c.number, w.body(), ic.WithResponse(&r))
	if err != nil {
		return statusOf(err, r.StatusCode)
	}
	for {
		cur := c.max.Load()
		if m.Number <= cur || c.max.CompareAndSwap(cur, m.Number) {
			break
		}
	}
	return r.StatusCode
}
