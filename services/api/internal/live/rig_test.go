package live

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/instachat/instachat/pkg/events"
	"github.com/instachat/instachat/pkg/queue"
	"github.com/instachat/instachat/pkg/testenv"
)

// rig is a hub on real Redis (fresh prefix) behind a real listener that
// serves /?app=…&chat=…&after=… as httpapi does once a token is resolved.
type rig struct {
	rdb  *redis.Client
	keys queue.Keys
	hub  *Hub
	reg  *prometheus.Registry
	url  string

	mu  sync.Mutex
	gen uint64
	seq map[int]uint64 // last sequence per partition
}

// newRig starts a hub (and its readers, unless run is false) with cfg.
func newRig(t *testing.T, cfg Config, partitions int, run bool) *rig {
	t.Helper()
	rdb, prefix := testenv.Redis(t)
	r := &rig{rdb: rdb, keys: queue.NewKeys(prefix, partitions), reg: prometheus.NewRegistry(),
		gen: uint64(time.Now().UnixMilli()), seq: map[int]uint64{}}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	r.hub = New(cfg, rdb, r.keys, NewMetrics(r.reg), log)
	r.hub.block = 100 * time.Millisecond // quick shutdown and idle checks
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		from, err := From(req)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		chat, _ := strconv.ParseInt(req.URL.Query().Get("chat"), 10, 64)
		f := Filter{App: req.URL.Query().Get("app"), Chat: chat}
		if req.URL.Query().Get("deleted") != "" {
			if err := r.hub.ServeDeleted(w, req, f, *from); err != nil {
				http.Error(w, err.Error(), http.StatusNotFound)
			}
			return
		}
		r.hub.Serve(w, req, f, from)
	}))
	r.url = srv.URL
	if run {
		r.run(t)
	}
	t.Cleanup(srv.Close)
	return r
}

// run starts the hub until the test ends.
func (r *rig) run(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { r.hub.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	for _, sh := range r.hub.shards {
		select {
		case <-sh.ready:
		case <-time.After(5 * time.Second):
			t.Fatal("hub did not start")
		}
	}
}

// add appends an event to app's partition as the counter's Lua does: id
// <gen>-<seq>, field j the job, meta g and s.
func (r *rig) add(t *testing.T, typ, app string, chat, msg int64, body string) events.Position {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	p := r.keys.Partition(app)
	r.seq[p]++
	pos := events.Position{Gen: r.gen, Seq: r.seq[p]}
	job, err := queue.Envelope{ID: queue.NewEventID(time.Now()), Type: typ, App: app, Chat: chat, Message: msg, Body: body,
		Time: time.Now().UnixMicro()}.Encode()
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := r.rdb.XAdd(ctx, &redis.XAddArgs{Stream: r.keys.Events(p), ID: pos.String(), Values: []any{"j", job}}).Err(); err != nil {
		t.Fatalf("xadd %s: %v", pos, err)
	}
	r.rdb.HSet(ctx, r.keys.EventsMeta(p), "g", strconv.FormatUint(pos.Gen, 10), "s", strconv.FormatUint(pos.Seq, 10))
	return pos
}

// addRaw appends an entry whose job field is j, at partition p's next position.
func (r *rig) addRaw(t *testing.T, p int, j string) events.Position {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	r.seq[p]++
	pos := events.Position{Gen: r.gen, Seq: r.seq[p]}
	if err := r.rdb.XAdd(context.Background(), &redis.XAddArgs{Stream: r.keys.Events(p), ID: pos.String(), Values: []any{"j", j}}).Err(); err != nil {
		t.Fatalf("xadd %s: %v", pos, err)
	}
	return pos
}

// newGeneration makes the next events of every partition start a generation.
func (r *rig) newGeneration() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.gen += 1000
	r.seq = map[int]uint64{}
}

// msg is one SSE event (or "hb" for a heartbeat comment) as a client sees it.
type msg struct {
	ID, Event, Data string
}

// sseConn is an open SSE stream parsed into msgs.
type sseConn struct {
	res  *http.Response
	msgs chan msg
}

// open subscribes; after and lastEventID are sent when not empty.
func (r *rig) open(t *testing.T, app string, chat int64, after, lastEventID string) *sseConn {
	t.Helper()
	c, status, body := r.dial(t, app, chat, after, lastEventID)
	if status != http.StatusOK {
		t.Fatalf("subscribe %s/%d: got %d %s", app, chat, status, body)
	}
	return c
}

// dial subscribes and returns the stream, or the status and body of a refusal.
func (r *rig) dial(t *testing.T, app string, chat int64, after, lastEventID string) (*sseConn, int, string) {
	t.Helper()
	u := r.url + "/?app=" + app + "&chat=" + strconv.FormatInt(chat, 10)
	if after != "" {
		u += "&after=" + after
	}
	return dialSSE(t, u, lastEventID)
}

func dialSSE(t *testing.T, url, lastEventID string) (*sseConn, int, string) {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	if lastEventID != "" {
		req.Header.Set("Last-Event-ID", lastEventID)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if res.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		return nil, res.StatusCode, string(b)
	}
	if ct := res.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Errorf("Content-Type: got %q, want text/event-stream", ct)
	}
	c := &sseConn{res: res, msgs: make(chan msg, 100000)}
	go c.parse(bufio.NewReader(res.Body))
	t.Cleanup(c.close)
	return c, res.StatusCode, ""
}

// parse reads events the way EventSource does: fields until a blank line.
func (c *sseConn) parse(br *bufio.Reader) {
	defer close(c.msgs)
	var m msg
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			return // a frame cut mid-way is not an event
		}
		line = strings.TrimSuffix(line, "\n")
		switch {
		case line == "":
			if m != (msg{}) {
				c.msgs <- m
			}
			m = msg{}
		case strings.HasPrefix(line, ":"):
			c.msgs <- msg{Event: "hb"}
		case strings.HasPrefix(line, "id: "):
			m.ID = line[4:]
		case strings.HasPrefix(line, "event: "):
			m.Event = line[7:]
		case strings.HasPrefix(line, "data: "):
			m.Data = line[6:]
		case strings.HasPrefix(line, "retry: "):
		}
	}
}

func (c *sseConn) close() { c.res.Body.Close() }

// next returns the next event, skipping heartbeats unless hb.
func (c *sseConn) next(t *testing.T, hb bool) msg {
	t.Helper()
	deadline := time.After(5 * time.Second)
	for {
		select {
		case m, ok := <-c.msgs:
			if !ok {
				t.Fatal("stream ended; want another event")
			}
			if m.Event == "hb" && !hb {
				continue
			}
			return m
		case <-deadline:
			t.Fatal("no event within 5 s")
		}
	}
}

// ended waits for the end of the stream and returns what came before it.
func (c *sseConn) ended(t *testing.T) []msg {
	t.Helper()
	var out []msg
	deadline := time.After(10 * time.Second)
	for {
		select {
		case m, ok := <-c.msgs:
			if !ok {
				return out
			}
			if m.Event != "hb" {
				out = append(out, m)
			}
		case <-deadline:
			t.Fatalf("stream did not end; got %d events", len(out))
		}
	}
}

// quiet checks that no event (heartbeats aside) arrives for d.
func (c *sseConn) quiet(t *testing.T, d time.Duration) {
	t.Helper()
	deadline := time.After(d)
	for {
		select {
		case m, ok := <-c.msgs:
			if ok && m.Event != "hb" {
				t.Fatalf("got %+v, want nothing", m)
			}
			if !ok {
				return
			}
		case <-deadline:
			return
		}
	}
}

// data decodes an event's JSON.
func (m msg) data(t *testing.T) map[string]any {
	t.Helper()
	var v map[string]any
	if err := json.Unmarshal([]byte(m.Data), &v); err != nil {
		t.Fatalf("data of %+v: %v", m, err)
	}
	return v
}

// waitMetric waits up to 5 s for a series to be want.
func (r *rig) waitMetric(t *testing.T, want float64, name string, labels ...string) {
	t.Helper()
	r.waitSeries(t, func(v float64) bool { return v == want }, fmt.Sprint(want), name, labels...)
}

// waitMetricAtLeast waits up to 5 s for a series to reach least.
func (r *rig) waitMetricAtLeast(t *testing.T, least float64, name string, labels ...string) {
	t.Helper()
	r.waitSeries(t, func(v float64) bool { return v >= least }, fmt.Sprint("at least ", least), name, labels...)
}

func (r *rig) waitSeries(t *testing.T, ok func(float64) bool, want, name string, labels ...string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		got := r.metric(t, name, labels...)
		if ok(got) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s %v: got %v, want %s", name, labels, got, want)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// metric reads one series of the rig's registry.
func (r *rig) metric(t *testing.T, name string, labels ...string) float64 {
	t.Helper()
	families, err := r.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
	series:
		for _, m := range f.GetMetric() {
			for i := 0; i+1 < len(labels); i += 2 {
				ok := false
				for _, l := range m.GetLabel() {
					if l.GetName() == labels[i] && l.GetValue() == labels[i+1] {
						ok = true
					}
				}
				if !ok {
					continue series
				}
			}
			switch {
			case m.Counter != nil:
				return m.Counter.GetValue()
			case m.Gauge != nil:
				return m.Gauge.GetValue()
			case m.Histogram != nil:
				return float64(m.Histogram.GetSampleCount())
			}
		}
	}
	t.Fatalf("no series %s %v", name, labels)
	return 0
}
