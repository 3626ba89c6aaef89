package chatpage

import (
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
)

// fakeAPI is the part of the public API the chat page calls, in memory, for
// one application: enough to run the page's script in a browser without the
// real system. Events are numbered 1-<seq> as the real stream's positions
// are; every write is applied at once, so a list's Event-Position is the
// last event. The test can cut the event streams (closing them and
// answering 503 meanwhile) and send a reset.
type fakeAPI struct {
	token string

	mu      sync.Mutex
	name    string
	chats   []int64
	msgs    map[int64]map[int64]string // chat -> number -> body
	next    map[int64]int64            // chat -> last message number
	events  []fakeEvent
	wake    chan struct{} // closed and replaced on every event
	cut     bool
	kill    chan struct{} // closed to end every open stream
	resetAt int64         // a reset to send, at this sequence (0: none)
	streams int           // streams served, for the test to wait on
	keys    map[string]string
}

type fakeEvent struct {
	Seq     int64
	Type    string
	Chat    int64
	Message int64
	Body    string
}

func newFakeAPI(token string) *fakeAPI {
	return &fakeAPI{token: token, msgs: map[int64]map[int64]string{}, next: map[int64]int64{},
		wake: make(chan struct{}), kill: make(chan struct{}), keys: map[string]string{}}
}

// emit records an event; the caller holds mu.
func (f *fakeAPI) emit(typ string, chat, msg int64, body string) {
	f.events = append(f.events, fakeEvent{int64(len(f.events)) + 1, typ, chat, msg, body})
	close(f.wake)
	f.wake = make(chan struct{})
}

func (f *fakeAPI) pos() string { return "1-" + strconv.Itoa(len(f.events)) }

// post adds a message as the api would, with its event.
func (f *fakeAPI) post(chat int64, body string) int64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.next[chat]++
	n := f.next[chat]
	f.msgs[chat][n] = body
	f.emit("message.created", chat, n, body)
	return n
}

func (f *fakeAPI) update(chat, n int64, body string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.msgs[chat][n] = body
	f.emit("message.updated", chat, n, body)
}

func (f *fakeAPI) remove(chat, n int64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.msgs[chat], n)
	f.emit("message.deleted", chat, n, "")
}

// silently adds a message with no event, as a change the streams cannot
// serve any more: only a reload shows it.
func (f *fakeAPI) silently(chat int64, body string) int64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.next[chat]++
	n := f.next[chat]
	f.msgs[chat][n] = body
	return n
}

// setCut closes every stream and answers 503 to new ones (on), or lets
// them in again (off).
func (f *fakeAPI) setCut(on bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.cut = on
	if on {
		close(f.kill)
		f.kill = make(chan struct{})
	}
}

// reset makes every open stream send a reset at the current position.
func (f *fakeAPI) reset() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.resetAt = int64(len(f.events))
	close(f.wake)
	f.wake = make(chan struct{})
}

func (f *fakeAPI) served() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.streams
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

type fakeMessage struct {
	ChatNumber int64  `json:"chat_number"`
	Number     int64  `json:"number"`
	Body       string `json:"body"`
	Status     string `json:"status"`
}

func (f *fakeAPI) handler() http.Handler {
	mux := http.NewServeMux()
	base := "/api/v1/applications/{token}"
	mux.HandleFunc("POST /api/v1/applications", func(w http.ResponseWriter, r *http.Request) {
		var in struct{ Name string }
		_ = json.NewDecoder(r.Body).Decode(&in)
		f.mu.Lock()
		f.name = in.Name
		f.mu.Unlock()
		writeJSON(w, 201, map[string]any{"token": f.token, "name": in.Name})
	})
	app := func(h func(w http.ResponseWriter, r *http.Request)) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			if r.PathValue("token") != f.token {
				writeJSON(w, 404, map[string]string{"error": "application not found"})
				return
			}
			if r.Method != http.MethodGet && r.Header.Get("Idempotency-Key") == "" {
				writeJSON(w, 400, map[string]string{"error": "the fake wants an Idempotency-Key"})
				return
			}
			h(w, r)
		}
	}
	mux.HandleFunc("GET "+base, app(func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		defer f.mu.Unlock()
		writeJSON(w, 200, map[string]any{"token": f.token, "name": f.name})
	}))
	mux.HandleFunc("GET "+base+"/settings", app(func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, 200, map[string]any{"version": 2, "max_body_bytes": 500, "write_rate_limit": nil, "events": nil,
			"webhooks": []map[string]any{{"id": "wh_x", "url": "https://hooks.example/in", "events": []string{"message.created"},
				"active": false, "paused_reason": "failing for 24h", "secret_hint": "whsec_abcd…"}}})
	}))
	mux.HandleFunc("POST "+base+"/chats", app(func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		defer f.mu.Unlock()
		n := int64(len(f.chats)) + 1
		f.chats = append(f.chats, n)
		f.msgs[n] = map[int64]string{}
		f.emit("chat.created", n, 0, "")
		writeJSON(w, 201, map[string]any{"number": n, "status": "pending"})
	}))
	mux.HandleFunc("GET "+base+"/chats", app(func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		defer f.mu.Unlock()
		out := []map[string]any{}
		for i := len(f.chats) - 1; i >= 0; i-- {
			out = append(out, map[string]any{"number": f.chats[i], "status": "persisted"})
		}
		w.Header().Set("Event-Position", f.pos())
		writeJSON(w, 200, map[string]any{"chats": out, "limit": 50, "has_more": false})
	}))
	chat := func(h func(w http.ResponseWriter, r *http.Request, chat int64)) http.HandlerFunc {
		return app(func(w http.ResponseWriter, r *http.Request) {
			n, _ := strconv.ParseInt(r.PathValue("chat"), 10, 64)
			f.mu.Lock()
			_, ok := f.msgs[n]
			f.mu.Unlock()
			if !ok {
				writeJSON(w, 404, map[string]string{"error": "chat not found"})
				return
			}
			h(w, r, n)
		})
	}
	mux.HandleFunc("GET "+base+"/chats/{chat}", chat(func(w http.ResponseWriter, r *http.Request, c int64) {
		writeJSON(w, 200, map[string]any{"number": c, "status": "persisted"})
	}))
	mux.HandleFunc("GET "+base+"/chats/{chat}/messages", chat(func(w http.ResponseWriter, r *http.Request, c int64) {
		f.mu.Lock()
		defer f.mu.Unlock()
		limit, _ := strconv.Atoi(r.URL.Query().Get("limit"))
		before, _ := strconv.ParseInt(r.URL.Query().Get("before"), 10, 64)
		var nums []int64
		for n := range f.msgs[c] {
			if before == 0 || n < before {
				nums = append(nums, n)
			}
		}
		sort.Slice(nums, func(i, j int) bool { return nums[i] > nums[j] })
		more := len(nums) > limit
		if more {
			nums = nums[:limit]
		}
		out := []fakeMessage{}
		for _, n := range nums {
			out = append(out, fakeMessage{c, n, f.msgs[c][n], "persisted"})
		}
		body := map[string]any{"messages": out, "limit": limit, "has_more": more}
		if more {
			body["next"] = map[string]int64{"before": nums[len(nums)-1]}
		}
		w.Header().Set("Event-Position", f.pos())
		writeJSON(w, 200, body)
	}))
	mux.HandleFunc("POST "+base+"/chats/{chat}/messages", chat(func(w http.ResponseWriter, r *http.Request, c int64) {
		var in struct{ Body string }
		_ = json.NewDecoder(r.Body).Decode(&in)
		key := r.Header.Get("Idempotency-Key")
		f.mu.Lock()
		if prev, ok := f.keys[key]; ok {
			f.mu.Unlock()
			w.Header().Set("Idempotent-Replayed", "true")
			writeJSON(w, 201, json.RawMessage(prev))
			return
		}
		f.mu.Unlock()
		n := f.post(c, in.Body)
		b, _ := json.Marshal(fakeMessage{c, n, in.Body, "pending"})
		f.mu.Lock()
		f.keys[key] = string(b)
		f.mu.Unlock()
		writeJSON(w, 201, json.RawMessage(b))
	}))
	mux.HandleFunc("PATCH "+base+"/chats/{chat}/messages/{n}", chat(func(w http.ResponseWriter, r *http.Request, c int64) {
		var in struct{ Body string }
		_ = json.NewDecoder(r.Body).Decode(&in)
		n, _ := strconv.ParseInt(r.PathValue("n"), 10, 64)
		f.update(c, n, in.Body)
		writeJSON(w, 200, fakeMessage{c, n, in.Body, "persisted"})
	}))
	mux.HandleFunc("DELETE "+base+"/chats/{chat}/messages/{n}", chat(func(w http.ResponseWriter, r *http.Request, c int64) {
		n, _ := strconv.ParseInt(r.PathValue("n"), 10, 64)
		f.remove(c, n)
		writeJSON(w, 202, map[string]any{})
	}))
	mux.HandleFunc("GET "+base+"/chats/{chat}/messages/search", chat(func(w http.ResponseWriter, r *http.Request, c int64) {
		f.mu.Lock()
		defer f.mu.Unlock()
		q := strings.ToLower(r.URL.Query().Get("q"))
		out := []fakeMessage{}
		for n, b := range f.msgs[c] {
			if strings.Contains(strings.ToLower(b), q) {
				out = append(out, fakeMessage{c, n, b, "persisted"})
			}
		}
		sort.Slice(out, func(i, j int) bool { return out[i].Number < out[j].Number })
		writeJSON(w, 200, map[string]any{"messages": out, "page": 1, "per_page": 50, "total": len(out)})
	}))
	mux.HandleFunc("GET "+base+"/chats/{chat}/events", chat(f.serveEvents))
	return mux
}

// serveEvents serves one chat's events as the contract's SSE stream.
func (f *fakeAPI) serveEvents(w http.ResponseWriter, r *http.Request, c int64) {
	from := r.Header.Get("Last-Event-ID")
	if from == "" {
		from = r.URL.Query().Get("after")
	}
	f.mu.Lock()
	if f.cut {
		f.mu.Unlock()
		w.Header().Set("Retry-After", "1")
		writeJSON(w, 503, map[string]string{"error": "events are unavailable"})
		return
	}
	f.streams++
	after := int64(len(f.events))
	if from != "" {
		seq, ok := strings.CutPrefix(from, "1-")
		n, err := strconv.ParseInt(seq, 10, 64)
		if !ok || err != nil {
			f.mu.Unlock()
			writeJSON(w, 400, map[string]string{"error": "malformed position"})
			return
		}
		after = n
	}
	kill, sentReset := f.kill, f.resetAt
	f.mu.Unlock()

	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	fl := w.(http.Flusher)
	fmt.Fprintf(w, "retry: 1000\n\n")
	fmt.Fprintf(w, "id: 1-%d\nevent: ready\ndata: {\"type\":\"ready\",\"id\":\"1-%d\"}\n\n", after, after)
	fl.Flush()
	for {
		f.mu.Lock()
		var out []fakeEvent
		if f.resetAt != sentReset {
			sentReset = f.resetAt
			after = f.resetAt
			fmt.Fprintf(w, "id: 1-%d\nevent: reset\ndata: {\"type\":\"reset\",\"id\":\"1-%d\"}\n\n", after, after)
		}
		for _, e := range f.events[min(after, int64(len(f.events))):] {
			if e.Chat == c {
				out = append(out, e)
			}
			after = e.Seq
		}
		wake := f.wake
		f.mu.Unlock()
		for _, e := range out {
			m := map[string]any{"id": fmt.Sprintf("1-%d", e.Seq), "type": e.Type, "chat": e.Chat}
			if e.Message != 0 {
				m["message"] = e.Message
			}
			if e.Type == "message.created" || e.Type == "message.updated" {
				m["body"] = e.Body
			}
			b, _ := json.Marshal(m)
			fmt.Fprintf(w, "id: 1-%d\nevent: %s\ndata: %s\n\n", e.Seq, e.Type, b)
		}
		fl.Flush()
		select {
		case <-wake:
		case <-kill:
			return
		case <-r.Context().Done():
			return
		}
	}
}
