package live

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/instachat/instachat/pkg/events"
	"github.com/instachat/instachat/pkg/queue"
)

// expect reads the next events and checks their ids and types.
func expect(t *testing.T, c *sseConn, want ...string) {
	t.Helper()
	for i, w := range want {
		m := c.next(t, false)
		if got := m.Event + " " + m.ID; got != w {
			t.Fatalf("event %d: got %q, want %q", i, got, w)
		}
	}
}

// waitRead waits until the hub's reader of p has reached pos.
func (r *rig) waitRead(t *testing.T, p int, pos events.Position) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for r.hub.shards[p].position().Less(pos) {
		if time.Now().After(deadline) {
			t.Fatalf("hub reader at %v, want %v", r.hub.shards[p].position(), pos)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func ev(typ string, p events.Position) string { return typ + " " + p.String() }

func TestDispatchToTheRightStreams(t *testing.T) {
	r := newRig(t, Config{}, 2, true)
	a1, a2, aAll, bAll := r.open(t, "A", 1, "", ""), r.open(t, "A", 2, "", ""), r.open(t, "A", 0, "", ""), r.open(t, "B", 0, "", "")
	for _, c := range []*sseConn{a1, a2, aAll, bAll} {
		if m := c.next(t, false); m.Event != "ready" || m.ID != "0-0" || m.Data != `{"type":"ready","id":"0-0"}` {
			t.Fatalf("first frame: got %+v, want ready 0-0", m)
		}
	}
	c1 := r.add(t, queue.TypeChatCreate, "A", 1, 0, "")
	m1 := r.add(t, queue.TypeMessageCreate, "A", 1, 1, "hi\nthere \"you\"")
	b1 := r.add(t, queue.TypeChatCreate, "B", 1, 0, "")
	c2 := r.add(t, queue.TypeChatCreate, "A", 2, 0, "")
	u1 := r.add(t, queue.TypeMessageUpdate, "A", 1, 1, "edited")
	d1 := r.add(t, queue.TypeMessageDelete, "A", 1, 1, "")
	m2 := r.add(t, queue.TypeMessageCreate, "A", 2, 1, "two")

	expect(t, a1, ev("chat.created", c1), ev("message.created", m1), ev("message.updated", u1), ev("message.deleted", d1))
	expect(t, a2, ev("chat.created", c2), ev("message.created", m2))
	expect(t, aAll, ev("chat.created", c1), ev("message.created", m1), ev("chat.created", c2), ev("message.updated", u1),
		ev("message.deleted", d1), ev("message.created", m2))
	expect(t, bAll, ev("chat.created", b1))
	for _, c := range []*sseConn{a1, a2, aAll, bAll} {
		c.quiet(t, 100*time.Millisecond)
	}

	// The wire shape of each kind of event.
	r2 := r.open(t, "A", 1, "0-0", "")
	expect(t, r2, "ready 0-0")
	for _, tt := range []struct {
		id   events.Position
		want map[string]any
	}{
		{c1, map[string]any{"type": "chat.created", "chat": 1.0}},
		{m1, map[string]any{"type": "message.created", "chat": 1.0, "message": 1.0, "body": "hi\nthere \"you\""}},
		{u1, map[string]any{"type": "message.updated", "chat": 1.0, "message": 1.0, "body": "edited"}},
		{d1, map[string]any{"type": "message.deleted", "chat": 1.0, "message": 1.0}},
	} {
		got := r2.next(t, false).data(t)
		at, _ := got["accepted_at"].(string)
		if ts, err := time.Parse(time.RFC3339Nano, at); err != nil || time.Since(ts) > time.Minute || len(at) != len("2026-11-28T10:00:00.123456Z") {
			t.Errorf("%v accepted_at: got %q", tt.id, at)
		}
		delete(got, "accepted_at")
		tt.want["id"] = tt.id.String()
		if g, w := fmt.Sprint(got), fmt.Sprint(tt.want); g != w {
			t.Errorf("%v: got %s, want %s", tt.id, g, w)
		}
	}
	if got := r.metric(t, "instachat_event_subscribers", "transport", "sse", "scope", "app"); got != 2 {
		t.Errorf("app subscribers: got %v, want 2", got)
	}
	// Both are counted once a batch is flushed, which the client may see first.
	r.waitMetricAtLeast(t, 13, "instachat_events_delivered_total", "transport", "sse")
	r.waitMetricAtLeast(t, 13, "instachat_event_delivery_seconds")
}

func TestResume(t *testing.T) {
	r := newRig(t, Config{Ring: 4}, 1, true)
	first := r.open(t, "A", 1, "", "")
	expect(t, first, "ready 0-0")
	first.close()
	var all, mine []events.Position // every event; chat 1's
	for i := range 10 {
		all = append(all, r.add(t, queue.TypeChatCreate, "A", 2+int64(i), 0, ""))
		mine = append(mine, r.add(t, queue.TypeMessageCreate, "A", 1, int64(i+1), "m"))
	}
	r.waitRead(t, 0, mine[9])
	gen := mine[0].Gen
	names := func(ps []events.Position) []string {
		var out []string
		for _, p := range ps {
			out = append(out, ev("message.created", p))
		}
		return out
	}
	tail := mine[9].String()
	for _, tt := range []struct {
		name, after, lastID string
		want                []string
		source              string
	}{
		{"from the ring", mine[8].String(), "", names(mine[9:]), "ring"},
		{"from Redis", "", mine[1].String(), names(mine[2:]), "redis"},
		{"from the start", "0-0", "", names(mine), "redis"},
		{"Last-Event-ID wins over after", "0-0", mine[6].String(), names(mine[7:]), "redis"},
		{"nothing missed", "", tail, nil, "ring"},
		{"another generation", "", "1-1", []string{"reset " + tail}, "reset"},
		{"beyond the stream", "", events.Position{Gen: gen, Seq: 999}.String(), []string{"reset " + tail}, "reset"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			before := r.metric(t, "instachat_event_resumes_total", "source", tt.source)
			c := r.open(t, "A", 1, tt.after, tt.lastID)
			from := tt.lastID
			if from == "" {
				from = tt.after
			}
			expect(t, c, append([]string{"ready " + from}, tt.want...)...)
			c.quiet(t, 50*time.Millisecond)
			if got := r.metric(t, "instachat_event_resumes_total", "source", tt.source); got != before+1 {
				t.Errorf("resumes from %s: got %v, want %v", tt.source, got, before+1)
			}
		})
	}

	// Trimmed beyond the resume position: reset, then live on the same stream.
	if err := r.rdb.XTrimMaxLen(context.Background(), r.keys.Events(0), 3).Err(); err != nil {
		t.Fatal(err)
	}
	c := r.open(t, "A", 1, mine[1].String(), "")
	expect(t, c, "ready "+mine[1].String(), "reset "+tail)
	next := r.add(t, queue.TypeMessageCreate, "A", 1, 11, "m")
	expect(t, c, ev("message.created", next))
}

// TestResumeAheadOfThisHub: a client that got its position from a replica
// whose reader is ahead resumes on a lagging hub without repeats.
func TestResumeAheadOfThisHub(t *testing.T) {
	r := newRig(t, Config{}, 1, false)
	r.add(t, queue.TypeChatCreate, "A", 1, 0, "")
	if err := r.hub.verify(context.Background(), 0, r.hub.shards[0]); err != nil { // the hub starts, its reader stalls
		t.Fatal(err)
	}
	r.add(t, queue.TypeMessageCreate, "A", 1, 1, "x")
	seen := r.add(t, queue.TypeMessageCreate, "A", 1, 2, "y")
	c := r.open(t, "A", 1, seen.String(), "")
	expect(t, c, "ready "+seen.String())
	r.run(t)
	next := r.add(t, queue.TypeMessageCreate, "A", 1, 3, "z")
	expect(t, c, ev("message.created", next))

	bad := r.open(t, "A", 1, events.Position{Gen: seen.Gen, Seq: 99}.String(), "")
	expect(t, bad, "ready "+events.Position{Gen: seen.Gen, Seq: 99}.String(), "reset "+next.String())
}

// TestOverflowClosesWithTheLastDeliveredID: a client that stops reading is
// closed after the frames it was sent, told where to resume, and resumes
// from there without a gap or a repeat.
func TestOverflowClosesWithTheLastDeliveredID(t *testing.T) {
	r := newRig(t, Config{Buffer: 4}, 1, true)
	conn, err := net.Dial("tcp", strings.TrimPrefix(r.url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	req, _ := http.NewRequest("GET", r.url+"/?app=A&chat=1", nil)
	if err := req.Write(conn); err != nil {
		t.Fatal(err)
	}
	big := strings.Repeat("x", 64<<10)
	var ids []events.Position
	for i := range 300 { // ~20 MB: more than the socket buffers hold
		ids = append(ids, r.add(t, queue.TypeMessageCreate, "A", 1, int64(i+1), big))
	}
	r.waitRead(t, 0, ids[len(ids)-1])
	time.Sleep(200 * time.Millisecond)

	res, err := http.ReadResponse(bufio.NewReader(conn), req)
	if err != nil {
		t.Fatal(err)
	}
	c := &sseConn{res: res, msgs: make(chan msg, 1000)}
	go c.parse(bufio.NewReader(res.Body))
	got := c.ended(t)
	if len(got) < 3 || got[0].Event != "ready" {
		t.Fatalf("got %d frames, want ready, events, overflow", len(got))
	}
	last := got[len(got)-1]
	evs := got[1 : len(got)-1]
	if last.Event != "overflow" || len(evs) == 0 || last.ID != evs[len(evs)-1].ID || last.Data != `{"type":"overflow","id":"`+last.ID+`"}` {
		t.Fatalf("last frame: got %+v after %d events, want overflow with the last event's id", last, len(evs))
	}
	for i, m := range evs {
		if m.ID != ids[i].String() {
			t.Fatalf("event %d: got %s, want %s", i, m.ID, ids[i])
		}
	}
	if len(evs) >= len(ids) {
		t.Fatalf("got all %d events, want an overflow before", len(evs))
	}
	if got := r.metric(t, "instachat_event_drops_total", "reason", "slow"); got != 1 {
		t.Errorf("slow drops: got %v, want 1", got)
	}

	again := r.open(t, "A", 1, "", last.ID)
	want := []string{"ready " + last.ID}
	for _, p := range ids[len(evs):] {
		want = append(want, ev("message.created", p))
	}
	expect(t, again, want...)
}

func TestHeartbeat(t *testing.T) {
	r := newRig(t, Config{Heartbeat: 50 * time.Millisecond}, 1, true)
	c := r.open(t, "A", 0, "", "")
	expect(t, c, "ready 0-0")
	start := time.Now()
	for range 2 {
		if m := c.next(t, true); m.Event != "hb" {
			t.Fatalf("got %+v, want a heartbeat", m)
		}
	}
	if d := time.Since(start); d < 50*time.Millisecond || d > 2*time.Second {
		t.Errorf("two heartbeats took %v, want about 100 ms", d)
	}
}

func TestLimits(t *testing.T) {
	r := newRig(t, Config{MaxPerApp: 1, MaxSubscribers: 2}, 1, true)
	a := r.open(t, "A", 1, "", "")
	refused := func(app, reason string) {
		t.Helper()
		res, err := http.Get(r.url + "/?app=" + app + "&chat=1")
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		var body map[string]string
		if err := json.NewDecoder(res.Body).Decode(&body); err != nil || res.StatusCode != http.StatusTooManyRequests ||
			res.Header.Get("Retry-After") == "" || body["error"] == "" {
			t.Errorf("%s: got %d Retry-After %q %v %v, want 429 JSON with Retry-After", app, res.StatusCode, res.Header.Get("Retry-After"), body, err)
		}
		if got := r.metric(t, "instachat_event_drops_total", "reason", reason); got != 1 {
			t.Errorf("%s drops: got %v, want 1", reason, got)
		}
	}
	refused("A", "limit_app")
	r.open(t, "B", 1, "", "")
	refused("C", "limit_process")
	a.close()
	deadline := time.Now().Add(5 * time.Second)
	for {
		c, status, _ := r.dial(t, "C", 1, "", "")
		if status == http.StatusOK {
			expect(t, c, "ready 0-0")
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("a closed stream's slot was not released")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestRedisGoesBackInTime: a new generation, or a stream whose tail is now
// before the reader, resets every stream of the partition; each goes on.
func TestRedisGoesBackInTime(t *testing.T) {
	r := newRig(t, Config{}, 1, true)
	c := r.open(t, "A", 1, "", "")
	other := r.open(t, "B", 0, "", "")
	expect(t, c, "ready 0-0")
	expect(t, other, "ready 0-0")
	p := r.add(t, queue.TypeChatCreate, "A", 1, 0, "")
	expect(t, c, ev("chat.created", p))

	r.newGeneration()
	p = r.add(t, queue.TypeMessageCreate, "A", 1, 1, "after failover")
	expect(t, c, "reset "+events.Position{Gen: p.Gen}.String(), ev("message.created", p))
	expect(t, other, "reset "+events.Position{Gen: p.Gen}.String())

	// FLUSHALL: the stream is gone; an idle reader notices within a block.
	r.rdb.Del(context.Background(), r.keys.Events(0), r.keys.EventsMeta(0))
	expect(t, c, "reset 0-0")
	r.newGeneration()
	p = r.add(t, queue.TypeMessageCreate, "A", 1, 2, "after flush")
	expect(t, c, ev("message.created", p))
}

func TestCloseAllEndsStreams(t *testing.T) {
	r := newRig(t, Config{}, 1, true)
	c := r.open(t, "A", 1, "", "")
	expect(t, c, "ready 0-0")
	r.hub.CloseAll()
	if rest := c.ended(t); len(rest) != 0 {
		t.Errorf("after close: got %v", rest)
	}
	if _, status, _ := r.dial(t, "A", 1, "", ""); status != http.StatusServiceUnavailable {
		t.Errorf("after close: got %d, want 503", status)
	}
}

func TestChatDeletedEndsItsStream(t *testing.T) {
	r := newRig(t, Config{}, 1, true)
	c, all := r.open(t, "A", 1, "", ""), r.open(t, "A", 0, "", "")
	expect(t, c, "ready 0-0")
	expect(t, all, "ready 0-0")
	p := r.add(t, queue.TypeChatDelete, "A", 1, 0, "")
	if got := c.ended(t); len(got) != 1 || got[0].ID != p.String() || got[0].Event != "chat.deleted" {
		t.Errorf("chat stream: got %v, want chat.deleted, then the end", got)
	}
	q := r.add(t, queue.TypeChatCreate, "A", 2, 0, "")
	expect(t, all, ev("chat.deleted", p), ev("chat.created", q))
}

func TestFrom(t *testing.T) {
	for _, tt := range []struct {
		query, header string
		want          string // "" none, "err"
	}{
		{"", "", ""},
		{"after=5-2", "", "5-2"},
		{"after=5-2", "7-1", "7-1"},
		{"", "7-1", "7-1"},
		{"after=", "", "err"},
		{"after=05-1", "", "err"},
		{"after=1-1", "x", "err"},
	} {
		req, _ := http.NewRequest("GET", "/?"+tt.query, nil)
		if tt.header != "" {
			req.Header.Set("Last-Event-ID", tt.header)
		}
		p, err := From(req)
		got := ""
		switch {
		case err != nil:
			got = "err"
		case p != nil:
			got = p.String()
		}
		if got != tt.want {
			t.Errorf("From(%q, %q): got %q (%v), want %q", tt.query, tt.header, got, err, tt.want)
		}
	}
}

// TestStalledClientHitsTheWriteDeadline: a client that reads nothing while
// its socket is full is dropped after EVENTS_WRITE_TIMEOUT, not held forever.
func TestStalledClientHitsTheWriteDeadline(t *testing.T) {
	r := newRig(t, Config{Buffer: 10000, WriteTimeout: 300 * time.Millisecond}, 1, true)
	conn, err := net.Dial("tcp", strings.TrimPrefix(r.url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	req, _ := http.NewRequest("GET", r.url+"/?app=A&chat=1", nil)
	if err := req.Write(conn); err != nil {
		t.Fatal(err)
	}
	big := strings.Repeat("x", 64<<10)
	for i := range 300 {
		r.add(t, queue.TypeMessageCreate, "A", 1, int64(i+1), big)
	}
	deadline := time.Now().Add(10 * time.Second)
	for r.metric(t, "instachat_event_drops_total", "reason", "write_timeout") != 1 {
		if time.Now().After(deadline) {
			t.Fatal("the stalled stream was not dropped")
		}
		time.Sleep(20 * time.Millisecond)
	}
	r.waitMetric(t, 0, "instachat_event_subscribers", "transport", "sse", "scope", "chat") // released after the drop is counted
}

// TestReaderStepsOverABadEntry: an entry that is not an event (corrupt, or
// from a newer version) resets the partition's streams at its position
// instead of stalling the reader; what follows is delivered.
func TestReaderStepsOverABadEntry(t *testing.T) {
	r := newRig(t, Config{}, 1, true)
	c := r.open(t, "A", 1, "", "")
	expect(t, c, "ready 0-0")
	p1 := r.add(t, queue.TypeMessageCreate, "A", 1, 1, "before")
	expect(t, c, ev("message.created", p1))
	bad := r.addRaw(t, 0, "{not json")
	p3 := r.add(t, queue.TypeMessageCreate, "A", 1, 2, "after")
	expect(t, c, "reset "+bad.String(), ev("message.created", p3))
}
