package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
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
	number int
	max    atomic.Int64
}

// workload holds the applications and chats and sends requests to one base
// URL (the api, or the reference server).
type workload struct {
	client *http.Client
	base   string // e.g. http://127.0.0.1:8080/api/v1
	chats  []*chatRef
	textMu sync.Mutex
	text   *textGen
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

func (w *workload) send(ctx context.Context, method, url string, body any) (int, []byte) {
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, rd)
	if err != nil {
		return 0, nil
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := w.client.Do(req)
	if err != nil {
		return 0, nil
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

// setup creates apps applications with chats chats each.
func (w *workload) setup(ctx context.Context, apps, chats int) error {
	for a := 0; a < apps; a++ {
		status, b := w.send(ctx, http.MethodPost, w.base+"/applications", map[string]string{"name": fmt.Sprintf("bench %d", a)})
		if status != http.StatusCreated {
			return fmt.Errorf("create application: status %d: %s", status, b)
		}
		var app struct{ Token string }
		if err := json.Unmarshal(b, &app); err != nil {
			return fmt.Errorf("create application: %w", err)
		}
		for c := 0; c < chats; c++ {
			status, b := w.send(ctx, http.MethodPost, w.base+"/applications/"+app.Token+"/chats", nil)
			if status != http.StatusCreated {
				return fmt.Errorf("create chat: status %d: %s", status, b)
			}
			var chat struct{ Number int }
			if err := json.Unmarshal(b, &chat); err != nil {
				return fmt.Errorf("create chat: %w", err)
			}
			w.chats = append(w.chats, &chatRef{token: app.Token, number: chat.Number})
		}
	}
	return nil
}

func (w *workload) chatURL(c *chatRef) string {
	return fmt.Sprintf("%s/applications/%s/chats/%d/messages", w.base, c.token, c.number)
}

// op returns the request for endpoint name, aimed at chat i mod len(chats).
func (w *workload) op(name string, i int) op {
	c := w.chats[i%len(w.chats)]
	switch name {
	case "update", "read":
		return func(ctx context.Context) int {
			max := c.max.Load()
			if max == 0 { // nothing created here yet: create instead
				return w.create(ctx, c)
			}
			n := 1 + rand.Int64N(max)
			url := fmt.Sprintf("%s/%d", w.chatURL(c), n)
			if name == "read" {
				s, _ := w.send(ctx, http.MethodGet, url, nil)
				return s
			}
			s, _ := w.send(ctx, http.MethodPatch, url, map[string]string{"body": w.body()})
			return s
		}
	case "search":
		return func(ctx context.Context) int {
			s, _ := w.send(ctx, http.MethodGet, w.chatURL(c)+"/search?q="+w.word(), nil)
			return s
		}
	default:
		return func(ctx context.Context) int { return w.create(ctx, c) }
	}
}

func (w *workload) create(ctx context.Context, c *chatRef) int {
	status, b := w.send(ctx, http.MethodPost, w.chatURL(c), map[string]string{"body": w.body()})
	if status == http.StatusCreated {
		var m struct{ Number int64 }
		if json.Unmarshal(b, &m) == nil {
			for {
				cur := c.max.Load()
				if m.Number <= cur || c.max.CompareAndSwap(cur, m.Number) {
					break
				}
			}
		}
	}
	return status
}
