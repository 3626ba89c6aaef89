package httpapi

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/coder/websocket/wsjson"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/instachat/instachat/pkg/chat"
	"github.com/instachat/instachat/pkg/events"
	"github.com/instachat/instachat/pkg/queue"
	"github.com/instachat/instachat/services/api/internal/index"
	"github.com/instachat/instachat/services/api/internal/live"
)

// eventsAPI is the whole api with its live-event hub behind a real listener
// whose read and write timeouts are short, so a stream that outlives them
// proves it lifted them. Chat 1 of the application is handed out.
type eventsAPI struct {
	*liveAPI
	keys queue.Keys
	hub  *live.Hub
	reg  *prometheus.Registry
}

func newEventsAPI(t *testing.T, timeout time.Duration) *eventsAPI {
	t.Helper()
	d := newDeps(t, 2)
	reg := prometheus.NewRegistry()
	hub := live.New(live.Config{Heartbeat: time.Hour}, d.rdb, d.keys, live.NewMetrics(reg), d.log)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { hub.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	h := NewServer(Config{InternalToken: testInternalToken, Index: index.New(d.st, d.eng, d.log), Metrics: reg, Live: hub}, d.svc, d.in, d.log)
	srv := httptest.NewUnstartedServer(h)
	srv.Config.ReadTimeout, srv.Config.WriteTimeout = timeout, timeout
	srv.Start()
	t.Cleanup(srv.Close)
	srv.Config.RegisterOnShutdown(hub.CloseAll)
	a := &eventsAPI{liveAPI: &liveAPI{url: srv.URL, db: d.db, rdb: d.rdb, q: d.q, in: d.in}, keys: d.keys, hub: hub, reg: reg}
	r := a.do(t, "POST", "/api/v1/applications", nil, `{"name": "Live"}`)
	if r.status != http.StatusCreated {
		t.Fatalf("create application: got %d %s", r.status, r.raw)
	}
	a.token = r.body["token"].(string)
	if r := a.do(t, "POST", a.app("/chats"), nil, ""); r.status != http.StatusCreated {
		t.Fatalf("create chat: got %d %s", r.status, r.raw)
	}
	return a
}

// emit appends an event of the application to its partition's stream as the
// counter's Lua step does (next sequence of the generation in the meta hash),
// so it works whether or not the counter emits events itself.
func (a *eventsAPI) emit(t *testing.T, typ string, chatN, msg int64, body string) events.Position {
	t.Helper()
	ctx := context.Background()
	app := chat.TokenDigest(a.token)
	p := a.keys.Partition(app)
	m, err := a.rdb.HMGet(ctx, a.keys.EventsMeta(p), "g", "s").Result()
	if err != nil {
		t.Fatal(err)
	}
	pos := events.Position{Gen: uint64(time.Now().UnixMilli())}
	if g, ok := m[0].(string); ok {
		pos.Gen, _ = strconv.ParseUint(g, 10, 64)
		s, _ := m[1].(string)
		pos.Seq, _ = strconv.ParseUint(s, 10, 64)
	}
	pos.Seq++
	job, err := queue.Envelope{ID: queue.NewEventID(time.Now()), Type: typ, App: app, Chat: chatN, Message: msg, Body: body, Time: time.Now().UnixMicro()}.Encode()
	if err != nil {
		t.Fatal(err)
	}
	if err := a.rdb.XAdd(ctx, &redis.XAddArgs{Stream: a.keys.Events(p), ID: pos.String(), Values: []any{"j", job}}).Err(); err != nil {
		t.Fatal(err)
	}
	a.rdb.HSet(ctx, a.keys.EventsMeta(p), "g", strconv.FormatUint(pos.Gen, 10), "s", strconv.FormatUint(pos.Seq, 10))
	return pos
}

// truth is the stream's events of chat (0: all) after pos, as ids.
func (a *eventsAPI) truth(t *testing.T, chatN int64, after string) []string {
	t.Helper()
	pos, err := events.Parse(after)
	if err != nil {
		t.Fatal(err)
	}
	app := chat.TokenDigest(a.token)
	evs, err := events.NewReader(a.rdb, a.keys).Range(context.Background(), a.keys.Partition(app), pos, events.Position{Gen: 1 << 62}, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range evs {
		if chatN == 0 || e.Chat == chatN {
			out = append(out, e.ID.String())
		}
	}
	return out
}

// sseFrame is one parsed SSE event.
type sseFrame struct{ id, event, data string }

// sseStream reads SSE events off a response body.
type sseStream struct {
	res    *http.Response
	frames chan sseFrame
	first  chan string // the first line
}

func (a *eventsAPI) subscribe(t *testing.T, path string, headers map[string]string) *sseStream {
	t.Helper()
	req, _ := http.NewRequest("GET", a.url+a.app(path), nil)
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if res.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(res.Body)
		t.Fatalf("GET %s: got %d %s", path, res.StatusCode, b)
	}
	s := &sseStream{res: res, frames: make(chan sseFrame, 1000), first: make(chan string, 1)}
	t.Cleanup(func() { res.Body.Close() })
	go func() {
		defer close(s.frames)
		br := bufio.NewReader(res.Body)
		var f sseFrame
		for n := 0; ; n++ {
			line, err := br.ReadString('\n')
			if err != nil {
				return
			}
			line = strings.TrimSuffix(line, "\n")
			if n == 0 {
				s.first <- line
			}
			switch {
			case line == "":
				if f != (sseFrame{}) {
					s.frames <- f
				}
				f = sseFrame{}
			case strings.HasPrefix(line, "id: "):
				f.id = line[4:]
			case strings.HasPrefix(line, "event: "):
				f.event = line[7:]
			case strings.HasPrefix(line, "data: "):
				f.data = line[6:]
			}
		}
	}()
	return s
}

func (s *sseStream) next(t *testing.T) sseFrame {
	t.Helper()
	select {
	case f, ok := <-s.frames:
		if !ok {
			t.Fatal("stream ended")
		}
		return f
	case <-time.After(5 * time.Second):
		t.Fatal("no event within 5 s")
	}
	return sseFrame{}
}

// events reads n events (after the ready frame, which it checks) and returns their ids.
func (s *sseStream) events(t *testing.T, n int) []string {
	t.Helper()
	var ids []string
	for range n {
		f := s.next(t)
		var v map[string]any
		if err := json.Unmarshal([]byte(f.data), &v); err != nil || v["id"] != f.id || v["type"] != f.event {
			t.Fatalf("frame %+v: data does not match id and event (%v)", f, err)
		}
		ids = append(ids, f.id)
	}
	return ids
}

func TestEventsOverSSE(t *testing.T) {
	a := newEventsAPI(t, time.Minute)
	s := a.subscribe(t, "/chats/1/events", nil)
	h := s.res.Header
	if h.Get("Content-Type") != "text/event-stream" || h.Get("Cache-Control") != "no-cache" || h.Get("X-Accel-Buffering") != "no" {
		t.Errorf("headers: got %v", h)
	}
	if first := <-s.first; first != "retry: 1000" {
		t.Errorf("first line: got %q, want retry: 1000", first)
	}
	ready := s.next(t)
	if ready.event != "ready" {
		t.Fatalf("first event: got %+v, want ready", ready)
	}
	all := a.subscribe(t, "/events", map[string]string{"Last-Event-ID": ready.id})

	a.emit(t, queue.TypeMessageCreate, 1, 2, "one")
	a.emit(t, queue.TypeChatCreate, 2, 0, "")
	a.emit(t, queue.TypeMessageCreate, 1, 3, "two")
	want := a.truth(t, 1, ready.id)
	got := s.events(t, len(want))
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("chat 1: got %v, want %v", got, want)
	}
	if f := all.next(t); f.event != "ready" || f.id != ready.id {
		t.Fatalf("app stream: got %+v, want ready %s", f, ready.id)
	}
	wantAll := a.truth(t, 0, ready.id)
	if got := all.events(t, len(wantAll)); strings.Join(got, " ") != strings.Join(wantAll, " ") {
		t.Fatalf("application: got %v, want %v", got, wantAll)
	}

	// Cut; events go on; reconnecting with Last-Event-ID gets exactly the missed ones.
	s.res.Body.Close()
	last := got[len(got)-1]
	for i := range 3 {
		a.emit(t, queue.TypeMessageUpdate, 1, 2, "edit "+strconv.Itoa(i))
	}
	again := a.subscribe(t, "/chats/1/events?after=0-0", map[string]string{"Last-Event-ID": last})
	if f := again.next(t); f.event != "ready" || f.id != last {
		t.Fatalf("resumed: got %+v, want ready %s", f, last)
	}
	missed := a.truth(t, 1, last)
	if got := again.events(t, len(missed)); strings.Join(got, " ") != strings.Join(missed, " ") || len(missed) != 3 {
		t.Fatalf("resumed: got %v, want %v (3 updates)", got, missed)
	}
}

// TestEventStreamOutlivesServerTimeouts: the server's read and write
// timeouts (30 s in main, 300 ms here) would end a stream; it lifts them.
func TestEventStreamOutlivesServerTimeouts(t *testing.T) {
	a := newEventsAPI(t, 300*time.Millisecond)
	s := a.subscribe(t, "/chats/1/events", nil)
	ready := s.next(t)
	time.Sleep(time.Second)
	p := a.emit(t, queue.TypeMessageCreate, 1, 2, "late")
	if got := s.events(t, 1); got[0] != p.String() {
		t.Fatalf("after 1 s: got %v, want %s (ready %s)", got, p, ready.id)
	}
	// Ordinary requests still have the timeouts, and the stream is counted
	// without a latency observation.
	s.res.Body.Close()
	m := a.do(t, "GET", "/metrics", nil, "")
	route := `route="/api/v1/applications/:token/chats/:number/events"`
	if !strings.Contains(m.raw, "instachat_http_requests_total{method=\"GET\","+route+",status=\"200\"}") {
		t.Errorf("metrics: the stream is not counted")
	}
	if strings.Contains(m.raw, "instachat_http_request_duration_seconds_count{method=\"GET\","+route) {
		t.Errorf("metrics: the stream is in the latency histogram")
	}
}

func TestEventStreamRefusals(t *testing.T) {
	a := newEventsAPI(t, time.Minute)
	for _, tt := range []struct {
		path    string
		headers map[string]string
		want    int
	}{
		{a.app("/chats/1/events?after=1-01"), nil, http.StatusBadRequest},
		{a.app("/chats/1/events?after="), nil, http.StatusBadRequest},
		{a.app("/events"), map[string]string{"Last-Event-ID": "12"}, http.StatusBadRequest},
		{a.app("/chats/01/events"), nil, http.StatusBadRequest},
		{a.app("/chats/2/events"), nil, http.StatusNotFound},
		{a.app("/chats/99/events?after=1-1"), nil, http.StatusNotFound},
		{"/api/v1/applications/" + strings.Repeat("x", 32) + "/events", nil, http.StatusNotFound},
		{"/api/v1/applications/" + strings.Repeat("x", 32) + "/chats/1/events", nil, http.StatusNotFound},
	} {
		r := a.do(t, "GET", tt.path, tt.headers, "")
		if r.status != tt.want || r.body["error"] == nil || !strings.HasSuffix(r.raw, "}\n") {
			t.Errorf("GET %s %v: got %d %q, want %d with a JSON error", tt.path, tt.headers, r.status, r.raw, tt.want)
		}
	}
}

// TestShutdownEndsEventStreams: the server's shutdown closes streams at
// once instead of waiting for them until its timeout.
func TestShutdownEndsEventStreams(t *testing.T) {
	d := newDeps(t, 1)
	hub := live.New(live.Config{}, d.rdb, d.keys, nil, d.log)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go hub.Run(ctx)
	srv := httptest.NewUnstartedServer(NewServer(Config{Live: hub}, d.svc, d.in, d.log))
	srv.Config.RegisterOnShutdown(hub.CloseAll)
	srv.Start()
	defer srv.Close()
	a := &eventsAPI{liveAPI: &liveAPI{url: srv.URL}}
	a.token = a.do(t, "POST", "/api/v1/applications", nil, `{"name": "Bye"}`).body["token"].(string)
	s := a.subscribe(t, "/events", nil)
	s.next(t)
	shutdown, stop := context.WithTimeout(context.Background(), 5*time.Second)
	defer stop()
	start := time.Now()
	if err := srv.Config.Shutdown(shutdown); err != nil {
		t.Fatalf("shutdown: %v after %v", err, time.Since(start))
	}
	if _, ok := <-s.frames; ok {
		t.Error("stream still open after shutdown")
	}
}

// TestEventsOverWebSocket goes through gin (its writer, the newline
// middleware, the hijack): the same events, resumable with ?after=.
func TestEventsOverWebSocket(t *testing.T) {
	a := newEventsAPI(t, 300*time.Millisecond)
	url := "ws" + strings.TrimPrefix(a.url, "http") + a.app("/chats/1/events")
	dial := func(after string) *websocket.Conn {
		t.Helper()
		u := url
		if after != "" {
			u += "?after=" + after
		}
		c, _, err := websocket.Dial(context.Background(), u, nil)
		if err != nil {
			t.Fatalf("dial: %v", err)
		}
		t.Cleanup(func() { _ = c.CloseNow() })
		return c
	}
	read := func(c *websocket.Conn) EventResponse {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		var v EventResponse
		if err := wsjson.Read(ctx, c, &v); err != nil {
			t.Fatalf("read: %v", err)
		}
		return v
	}
	c := dial("")
	ready := read(c)
	if ready.Type != "ready" {
		t.Fatalf("first message: got %+v, want ready", ready)
	}
	time.Sleep(time.Second) // beyond the server's timeouts
	a.emit(t, queue.TypeMessageCreate, 1, 2, "over ws")
	want := a.truth(t, 1, ready.ID)
	var got []string
	for range want {
		v := read(c)
		got = append(got, v.ID)
		if v.Type == "message.created" && (v.Body == nil || *v.Body != "over ws") {
			t.Errorf("event %+v: want body %q", v, "over ws")
		}
	}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("got %v, want %v", got, want)
	}
	_ = c.CloseNow()
	a.emit(t, queue.TypeMessageDelete, 1, 2, "")
	again := dial(got[len(got)-1])
	if v := read(again); v.Type != "ready" || v.ID != got[len(got)-1] {
		t.Fatalf("resumed: got %+v, want ready %s", v, got[len(got)-1])
	}
	missed := a.truth(t, 1, got[len(got)-1])
	for _, id := range missed {
		if v := read(again); v.ID != id {
			t.Fatalf("resumed: got %+v, want %s", v, id)
		}
	}
	if _, _, err := websocket.Dial(context.Background(), url+"?after=nope", nil); err == nil || !strings.Contains(err.Error(), "400") {
		t.Errorf("malformed after: got %v, want a 400 handshake", err)
	}
}

// TestResumeDeletedChat: a deleted chat is not found, except to a client
// resuming from before its chat.deleted, which gets the rest and the end.
func TestResumeDeletedChat(t *testing.T) {
	a := newEventsAPI(t, time.Minute)
	s := a.subscribe(t, "/events", nil)
	from := s.next(t).id
	for _, w := range []struct{ method, path, body string }{
		{"POST", "/chats", ""}, {"POST", "/chats/2/messages", `{"body": "short-lived"}`}, {"DELETE", "/chats/2", ""},
	} {
		if r := a.do(t, w.method, a.app(w.path), nil, w.body); r.status >= 300 {
			t.Fatalf("%s %s: got %d %s", w.method, w.path, r.status, r.raw)
		}
	}
	var want []string
	app := chat.TokenDigest(a.token)
	evs, _ := events.NewReader(a.rdb, a.keys).Range(context.Background(), a.keys.Partition(app), mustParse(t, from), events.Position{Gen: 1 << 62}, 1000)
	for _, e := range evs {
		if e.Chat == 2 {
			want = append(want, e.Type)
			if e.Type == events.ChatDeleted {
				break
			}
		}
	}
	replay := a.subscribe(t, "/chats/2/events?after="+from, nil)
	var got []string
	var last string
	for f := range replay.frames {
		if f.event != "ready" {
			got, last = append(got, f.event), f.id
		}
	}
	if strings.Join(got, " ") != strings.Join(want, " ") || len(want) != 3 {
		t.Errorf("resumed deleted chat: got %v, want %v, then the end", got, want)
	}
	for _, path := range []string{"/chats/2/events", "/chats/2/events?after=" + last} {
		if r := a.do(t, "GET", a.app(path), nil, ""); r.status != http.StatusNotFound {
			t.Errorf("GET %s: got %d %s, want 404", path, r.status, r.raw)
		}
	}
}

func mustParse(t *testing.T, s string) events.Position {
	t.Helper()
	p, err := events.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return p
}
