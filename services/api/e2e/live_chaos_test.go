package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"

	ic "github.com/instachat/instachat/client"
	"github.com/instachat/instachat/pkg/chat"
	"github.com/instachat/instachat/pkg/events"
	"github.com/instachat/instachat/pkg/queue"
)

// liveChaosPlan is the size of a TestLiveEventsChaos run.
type liveChaosPlan struct {
	ops     int // writes of the load: ~70 % creates, 20 % edits, 10 % deletes
	writers int // goroutines sending them
}

// liveChaosPlanFor returns the 20,000 operations, which make test
// runs (about a minute on two cores), or with LIVE_CHAOS=long (make
// chaos-live) 100,000.
func liveChaosPlanFor(t *testing.T) liveChaosPlan {
	switch mode := os.Getenv("LIVE_CHAOS"); mode {
	case "":
		return liveChaosPlan{ops: 20000, writers: 16}
	case "long":
		return liveChaosPlan{ops: 100000, writers: 16}
	default:
		t.Fatalf("LIVE_CHAOS=%q: want long or nothing", mode)
		return liveChaosPlan{}
	}
}

const (
	liveApps        = 2
	liveChatsPerApp = 25
	livePartitions  = 8
)

// TestLiveEventsChaos is issue 13's done-when: writes (posts, edits,
// deletes) go through the Go client to two api processes at random while
// every chat has an SSE subscriber (the Go client's Subscribe) and a
// WebSocket one, and each application a SubscribeAll. Each subscriber dials
// through a cutter that kills its connection every 1–3 s, half the time in
// the middle of whatever it is reading, and every reconnect goes to api1 or
// api2 at random. The writer is stopped at 30 % of the load and started
// again at 70 %. api2 remembers only the last 64 events of a partition, so
// its resumes also read the Redis streams. Every subscriber must end with
// exactly the events of its chat (or application) that the partition
// streams hold after its starting position: same order, no gap, no repeat,
// no reset; and every write answered 2xx must be in the streams exactly
// once, a refused one not at all.
//
// LIVE_CHAOS=long runs 100,000 operations (make chaos-live).
func TestLiveEventsChaos(t *testing.T) {
	if testing.Short() {
		t.Skip("a chaos run of minutes")
	}
	plan := liveChaosPlanFor(t)
	began := time.Now()
	s := newSystemWith(t, "EVENTS_RETAIN_MAX=1000000", fmt.Sprintf("QUEUE_PARTITIONS=%d", livePartitions))
	// api2 keeps a short ring, so that many of its resumes read Redis.
	api2 := s.startSecondAPI("EVENTS_RING=64")
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("--- last lines of api2.log:\n%s", lastLines(s.logOf("api2"), 30))
		}
	})
	apis := []string{s.apiURL, api2}
	keys := queue.NewKeys(s.prefix, livePartitions)

	// Two applications of 25 chats each, then where their partitions'
	// streams stand: every subscriber starts there, before the load.
	tokens := make([]string, liveApps)
	for i := range tokens {
		app := s.newApp(fmt.Sprintf("live chaos %d", i))
		s.newChats(app, liveChatsPerApp)
		tokens[i] = app.Token()
	}
	reader := events.NewReader(s.rdb, keys)
	from := make([]events.Position, liveApps)
	for i, tok := range tokens {
		_, last, _, err := reader.Bounds(t.Context(), keys.Partition(chat.TokenDigest(tok)))
		if err != nil || last.IsZero() {
			t.Fatalf("stream tail of application %d: got %v, %v; want the chats' events", i, last, err)
		}
		from[i] = last
	}

	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	var subs []*liveSub
	var running sync.WaitGroup
	for a, tok := range tokens {
		for c := int64(1); c <= liveChatsPerApp; c++ {
			subs = append(subs, newLiveSub("sse", a, c, tok, apis), newLiveSub("ws", a, c, tok, apis))
		}
		subs = append(subs, newLiveSub("sse", a, 0, tok, apis))
	}
	for _, sub := range subs {
		running.Go(func() { sub.run(ctx, from[sub.app]) })
		running.Go(func() { sub.cut.run(ctx) })
	}
	t.Cleanup(func() { cancel(); running.Wait() })

	// The load, with the writer away for its middle 40 %.
	load := newLiveLoad(t, tokens, apis)
	var faults sync.WaitGroup
	faults.Go(func() {
		load.waitDone(ctx, plan.ops*3/10)
		s.stop("writer")
		t.Logf("writer stopped after %d operations", load.done.Load())
		load.waitDone(ctx, plan.ops*7/10)
		s.startWriter()
		t.Logf("writer started again after %d operations", load.done.Load())
	})
	loadBegan := time.Now()
	load.run(ctx, plan)
	faults.Wait()
	loadTook := time.Since(loadBegan)

	// Ground truth: the streams after each application's starting point.
	truth := liveTruth(t, s, keys, tokens, from)
	if lag := waitCaughtUp(subs, truth, 2*time.Minute); lag != "" {
		t.Errorf("subscribers still short of the last event of their stream after 2 min: %s", lag)
	}
	cancel()
	running.Wait()

	for _, sub := range subs {
		sub.check(t, truth[sub.key()])
	}
	load.check(t, truth)
	total := 0
	for a := range liveApps {
		total += len(truth[liveKey{a, 0}])
	}
	t.Logf("plan %d operations: load %v (%d answered 2xx, %d refused, %d retried, %d replays checked), %d events in the streams, whole test %v",
		plan.ops, loadTook.Round(time.Millisecond), len(load.accepted), load.refused.Load(), load.retried.Load(), load.replays.Load(),
		total, time.Since(began).Round(time.Millisecond))
	logLiveFigures(t, s, subs, apis)
}

// logLiveFigures logs the cuts and reconnects per transport and the apis'
// resume and drop counters.
func logLiveFigures(t *testing.T, s *system, subs []*liveSub, apis []string) {
	t.Helper()
	for _, tr := range []string{"sse", "ws"} {
		var n, kills, mid, dials, api1, received int64
		for _, sub := range subs {
			if sub.transport == tr {
				n++
				k, m := sub.cut.counts()
				kills, mid, dials, received = kills+k, mid+m, dials+sub.cut.dials.Load(), received+int64(len(sub.got))
				api1 += sub.cut.perAPI[0].Load()
			}
		}
		t.Logf("%s: %d subscribers, %d events received, %d connections killed (%d mid-read), %d reconnects; connections to api1 %d, api2 %d",
			tr, n, received, kills, mid, dials-n, api1, dials-api1)
	}
	for i, u := range apis {
		t.Logf("api%d: %s", i+1, metricLines(s.getURL(u+"/metrics"), "instachat_event_resumes_total", "instachat_event_drops_total"))
	}
}

// waitCaughtUp waits until every subscriber has received the last event of
// its stream, and otherwise says who lags.
func waitCaughtUp(subs []*liveSub, truth map[liveKey][]liveRec, timeout time.Duration) string {
	deadline := time.Now().Add(timeout)
	for {
		var lag []string
		for _, sub := range subs {
			want := truth[sub.key()]
			if got := sub.lastID(); len(want) > 0 && got != want[len(want)-1].ID {
				lag = append(lag, fmt.Sprintf("%s at %q, its stream at %s", sub, got, want[len(want)-1].ID))
			}
		}
		if len(lag) == 0 {
			return ""
		}
		if time.Now().After(deadline) {
			return fmt.Sprintf("%d lag, first %s", len(lag), lag[0])
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// lastLines returns the last n lines of a log.
func lastLines(log string, n int) string {
	lines := strings.Split(strings.TrimSpace(log), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

// metricLines returns the samples of the named metrics, on one line.
func metricLines(body string, names ...string) string {
	var out []string
	for line := range strings.SplitSeq(body, "\n") {
		for _, n := range names {
			if strings.HasPrefix(line, n+"{") || strings.HasPrefix(line, n+" ") {
				out = append(out, line)
			}
		}
	}
	return strings.Join(out, "; ")
}

// liveRec is what a subscriber compares of an event.
type liveRec struct {
	ID      string
	Type    string
	Chat    int64
	Message int64
	Body    string
}

func (r liveRec) String() string {
	return fmt.Sprintf("%s %s chat %d message %d %q", r.ID, r.Type, r.Chat, r.Message, r.Body)
}

// liveKey names what a subscriber follows: one chat, or (chat 0) every chat
// of an application.
type liveKey struct {
	app  int
	chat int64
}

// liveTruth reads each application's partition stream after its starting
// position and files its events by chat and by application.
func liveTruth(t *testing.T, s *system, keys queue.Keys, tokens []string, from []events.Position) map[liveKey][]liveRec {
	t.Helper()
	truth := map[liveKey][]liveRec{}
	for a, tok := range tokens {
		digest := chat.TokenDigest(tok)
		msgs, err := s.rdb.XRange(t.Context(), keys.Events(keys.Partition(digest)), "("+from[a].String(), "+").Result()
		if err != nil {
			t.Fatalf("read the event stream of application %d: %v", a, err)
		}
		next := events.Position{Gen: from[a].Gen, Seq: from[a].Seq + 1}
		for _, m := range msgs {
			job, _ := m.Values["j"].(string)
			ev, err := events.FromEntry(m.ID, job)
			if err != nil {
				t.Fatalf("stream entry %s: %v", m.ID, err)
			}
			// The truth itself has no gap: one generation, every sequence.
			if ev.ID != next {
				t.Fatalf("stream of application %d: entry %s follows %d-%d, want %s", a, ev.ID, next.Gen, next.Seq-1, next)
			}
			next.Seq++
			if ev.App != digest {
				continue
			}
			r := liveRec{ID: ev.ID.String(), Type: ev.Type, Chat: ev.Chat, Message: ev.Message, Body: ev.Body}
			truth[liveKey{a, 0}] = append(truth[liveKey{a, 0}], r)
			truth[liveKey{a, ev.Chat}] = append(truth[liveKey{a, ev.Chat}], r)
		}
	}
	return truth
}

// liveSub is one subscriber: its transport, what it follows, the cutter its
// connections go through, and what it received.
type liveSub struct {
	transport string // "sse" (the Go client's Subscribe) or "ws"
	app       int
	chat      int64 // 0: every chat of the application (SubscribeAll)
	token     string
	cut       *cutter
	hc        *http.Client

	mu       sync.Mutex
	got      []liveRec
	at       []time.Time // when each of got arrived
	resets   []string
	badReady []string // WebSocket ready frames at another position than the one asked for
	err      error    // what ended the subscription early
}

func newLiveSub(transport string, app int, chat int64, token string, apis []string) *liveSub {
	cut := &cutter{}
	for _, u := range apis {
		cut.targets = append(cut.targets, strings.TrimPrefix(u, "http://"))
	}
	// No keep-alive: every reconnect dials, so it picks an api afresh.
	hc := &http.Client{Transport: &http.Transport{DialContext: cut.dial, DisableKeepAlives: true}}
	return &liveSub{transport: transport, app: app, chat: chat, token: token, cut: cut, hc: hc}
}

func (sub *liveSub) String() string {
	if sub.chat == 0 {
		return fmt.Sprintf("%s subscriber of application %d", sub.transport, sub.app)
	}
	return fmt.Sprintf("%s subscriber of application %d chat %d", sub.transport, sub.app, sub.chat)
}

func (sub *liveSub) key() liveKey { return liveKey{sub.app, sub.chat} }

// liveHost is the subscribers' base URL: their dialer picks the api.
const liveHost = "instachat.test"

func (sub *liveSub) run(ctx context.Context, from events.Position) {
	if sub.transport == "ws" {
		sub.runWS(ctx, from.String())
		return
	}
	c, err := ic.New("http://"+liveHost, ic.WithHTTPClient(sub.hc),
		ic.WithRetry(ic.RetryPolicy{Base: 20 * time.Millisecond, Max: 300 * time.Millisecond}))
	if err != nil {
		sub.fail(err)
		return
	}
	app := c.App(sub.token)
	stream := app.SubscribeAll(ctx, ic.Position(from.String()))
	if sub.chat != 0 {
		stream = app.Subscribe(ctx, sub.chat, ic.Position(from.String()))
	}
	for ev, err := range stream {
		if err != nil {
			sub.fail(err)
			return
		}
		if ev.Type == ic.EventReset {
			sub.reset(string(ev.ID))
			continue
		}
		sub.add(liveRec{ID: string(ev.ID), Type: ev.Type, Chat: ev.Chat, Message: ev.Message, Body: ev.Body})
	}
}

// liveWire is an event's or control frame's JSON.
type liveWire struct {
	ID      string `json:"id"`
	Type    string `json:"type"`
	Chat    int64  `json:"chat"`
	Message int64  `json:"message"`
	Body    string `json:"body"`
}

// runWS follows the stream over WebSocket, resuming each new connection
// with ?after= the last event received, as a browser would.
func (sub *liveSub) runWS(ctx context.Context, last string) {
	path := "/api/v1/applications/" + sub.token + "/events"
	if sub.chat != 0 {
		path = fmt.Sprintf("/api/v1/applications/%s/chats/%d/events", sub.token, sub.chat)
	}
	for ctx.Err() == nil {
		// Dial's context is the subscriber's: a hung handshake ends with
		// the cutter's next cut.
		c, resp, err := websocket.Dial(ctx, "ws://"+liveHost+path+"?after="+last, &websocket.DialOptions{HTTPClient: sub.hc})
		if err != nil {
			if resp != nil && resp.StatusCode/100 == 4 && resp.StatusCode != http.StatusTooManyRequests {
				sub.fail(fmt.Errorf("dial: %d: %w", resp.StatusCode, err))
				return
			}
			pause(ctx, time.Duration(10+rand.IntN(100))*time.Millisecond)
			continue
		}
		last = sub.readWS(ctx, c, last)
		c.CloseNow()
		pause(ctx, time.Duration(rand.IntN(50))*time.Millisecond)
	}
}

// readWS reads one connection until it ends and returns the position to
// resume after.
func (sub *liveSub) readWS(ctx context.Context, c *websocket.Conn, last string) string {
	for {
		_, b, err := c.Read(ctx)
		if err != nil {
			return last // a cut, an overflow close (4008), the end of the run
		}
		var w liveWire
		if err := json.Unmarshal(b, &w); err != nil {
			sub.fail(fmt.Errorf("frame after %s: %q: %w", last, b, err))
			return last
		}
		switch w.Type {
		case "ready":
			if w.ID != last {
				sub.mu.Lock()
				sub.badReady = append(sub.badReady, fmt.Sprintf("ready at %s after ?after=%s", w.ID, last))
				sub.mu.Unlock()
			}
		case "heartbeat", "overflow":
		case "reset":
			sub.reset(w.ID)
			last = w.ID
		default:
			sub.add(liveRec{ID: w.ID, Type: w.Type, Chat: w.Chat, Message: w.Message, Body: w.Body})
			last = w.ID
		}
	}
}

func pause(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}

func (sub *liveSub) add(r liveRec) {
	sub.mu.Lock()
	defer sub.mu.Unlock()
	sub.got = append(sub.got, r)
	sub.at = append(sub.at, time.Now())
}

func (sub *liveSub) reset(id string) {
	sub.mu.Lock()
	defer sub.mu.Unlock()
	sub.resets = append(sub.resets, id)
}

func (sub *liveSub) fail(err error) {
	sub.mu.Lock()
	defer sub.mu.Unlock()
	if sub.err == nil {
		sub.err = err
	}
}

// lastID is the id of the last event received, or the error that ended
// the subscription.
func (sub *liveSub) lastID() string {
	sub.mu.Lock()
	defer sub.mu.Unlock()
	switch {
	case sub.err != nil:
		return "error: " + sub.err.Error()
	case len(sub.got) == 0:
		return ""
	}
	return sub.got[len(sub.got)-1].ID
}

// check compares what the subscriber received with the stream's events of
// its chat or application, and reports the first divergence with the cuts
// around it.
func (sub *liveSub) check(t *testing.T, want []liveRec) {
	t.Helper()
	sub.mu.Lock()
	defer sub.mu.Unlock()
	if sub.err != nil {
		t.Errorf("%s: ended early: %v", sub, sub.err)
	}
	if len(sub.resets) > 0 {
		t.Errorf("%s: got %d resets (first to %s), want none", sub, len(sub.resets), sub.resets[0])
	}
	if len(sub.badReady) > 0 {
		t.Errorf("%s: %d ready frames elsewhere than asked, first %s", sub, len(sub.badReady), sub.badReady[0])
	}
	if len(want) == 0 {
		t.Errorf("%s: the streams hold no event of it: the run checked nothing", sub)
		return
	}
	i := 0
	for i < len(sub.got) && i < len(want) && sub.got[i] == want[i] {
		i++
	}
	if i == len(sub.got) && i == len(want) {
		return
	}
	got, wantRec, when := "nothing", "nothing", time.Now()
	if i < len(sub.got) {
		got, when = sub.got[i].String(), sub.at[i]
	}
	if i < len(want) {
		wantRec = want[i].String()
	}
	prev := "the start"
	if i > 0 {
		prev = sub.got[i-1].String() + " at " + sub.at[i-1].Format("15:04:05.000")
	}
	t.Errorf("%s: %d events, want %d; first divergence at index %d: got %s, want %s (after %s); cuts around it: %s",
		sub, len(sub.got), len(want), i, got, wantRec, prev, sub.cut.around(when, 3*time.Second))
}

// cutter is a subscriber's dialer: each connection goes to one of the apis
// at random, and run kills the current one every 1–3 s.
type cutter struct {
	targets []string        // host:port of each api
	dials   atomic.Int64    // connections opened
	perAPI  [2]atomic.Int64 // of them, to each api

	mu    sync.Mutex
	cur   *cutConn
	kills []cutRecord
}

// cutRecord is one kill: when, and whether it came in the middle of a read.
type cutRecord struct {
	at  time.Time
	mid bool
}

func (c *cutter) dial(ctx context.Context, network, _ string) (net.Conn, error) {
	d := net.Dialer{Timeout: 5 * time.Second}
	i := rand.IntN(len(c.targets))
	nc, err := d.DialContext(ctx, network, c.targets[i])
	if err != nil {
		return nil, err
	}
	c.perAPI[i].Add(1)
	cc := &cutConn{Conn: nc}
	cc.budget.Store(-1)
	c.mu.Lock()
	c.cur = cc
	c.mu.Unlock()
	c.dials.Add(1)
	return cc, nil
}

// run kills the current connection every 1–3 s until ctx ends: half the
// time at once, half after the next few bytes it reads, so that the reader
// gets a frame's beginning and then the end of the connection.
func (c *cutter) run(ctx context.Context) {
	for {
		pause(ctx, time.Second+time.Duration(rand.Int64N(int64(2*time.Second))))
		if ctx.Err() != nil {
			return
		}
		c.mu.Lock()
		cc := c.cur
		mid := rand.IntN(2) == 0
		if cc != nil {
			c.kills = append(c.kills, cutRecord{at: time.Now(), mid: mid})
		}
		c.mu.Unlock()
		switch {
		case cc == nil:
		case mid:
			cc.cutAfter(1 + rand.Int64N(60))
		default:
			cc.Close()
		}
	}
}

// counts returns how many kills there were, and how many of them mid-read.
func (c *cutter) counts() (kills, mid int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, k := range c.kills {
		kills++
		if k.mid {
			mid++
		}
	}
	return kills, mid
}

// around lists the kills within d of t.
func (c *cutter) around(t time.Time, d time.Duration) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []string
	for _, k := range c.kills {
		if k.at.After(t.Add(-d)) && k.at.Before(t.Add(d)) {
			kind := "at once"
			if k.mid {
				kind = "mid-read"
			}
			out = append(out, k.at.Format("15:04:05.000")+" "+kind)
		}
	}
	if len(out) == 0 {
		return "none"
	}
	return strings.Join(out, ", ") + " (event received " + t.Format("15:04:05.000") + ")"
}

// cutConn is a connection that the cutter can end after a number of bytes
// read.
type cutConn struct {
	net.Conn
	budget atomic.Int64 // bytes it may still read; -1: no cut armed
}

// cutAfter ends the connection once n more bytes are read, or in 2 s if
// fewer come.
func (c *cutConn) cutAfter(n int64) {
	c.budget.Store(n)
	time.AfterFunc(2*time.Second, func() { c.Close() })
}

func (c *cutConn) Read(p []byte) (int, error) {
	b := c.budget.Load()
	if b == 0 {
		c.Close()
		return 0, net.ErrClosed
	}
	if b > 0 && int64(len(p)) > b {
		p = p[:b]
	}
	n, err := c.Conn.Read(p)
	if b > 0 && c.budget.Add(-int64(n)) <= 0 {
		c.budget.Store(0)
		c.Close()
	}
	return n, err
}

// liveWrite is one write of the load, as its event would show it.
type liveWrite struct {
	Type    string // the event type it makes: message.created, .updated or .deleted
	App     int
	Chat    int64
	Message int64 // for creates, the number the answer gave
	Body    string
}

// liveChat is one chat's messages that the load may still edit or delete.
type liveChat struct {
	app  int
	chat int64
	mu   sync.Mutex
	live []int64
}

// liveLoad sends the writes through the Go client, each attempt to one of
// the apis at random, and keeps what was answered.
type liveLoad struct {
	t     *testing.T
	apps  [][]*ic.App // [api][application]
	chats []*liveChat
	seq   atomic.Int64 // makes every body unique
	done  atomic.Int64 // operations finished

	refused, retried, replays atomic.Int64

	mu       sync.Mutex
	accepted []liveWrite // answered 2xx
	rejected []liveWrite // answered 4xx
}

func newLiveLoad(t *testing.T, tokens, apis []string) *liveLoad {
	l := &liveLoad{t: t}
	for _, u := range apis {
		c, err := ic.New(u, ic.WithHTTPClient(&http.Client{Transport: transport}), ic.WithRetry(ic.RetryPolicy{
			MaxAttempts: 3, Base: 20 * time.Millisecond, Max: 500 * time.Millisecond, AttemptTimeout: 5 * time.Second}))
		if err != nil {
			t.Fatal(err)
		}
		var apps []*ic.App
		for _, tok := range tokens {
			apps = append(apps, c.App(tok))
		}
		l.apps = append(l.apps, apps)
	}
	for a := range tokens {
		for c := int64(1); c <= liveChatsPerApp; c++ {
			l.chats = append(l.chats, &liveChat{app: a, chat: c})
		}
	}
	return l
}

// run sends plan.ops writes from plan.writers goroutines.
func (l *liveLoad) run(ctx context.Context, plan liveChaosPlan) {
	var left atomic.Int64
	left.Store(int64(plan.ops))
	var wg sync.WaitGroup
	for range plan.writers {
		wg.Go(func() {
			for left.Add(-1) >= 0 && ctx.Err() == nil {
				ch := l.chats[rand.IntN(len(l.chats))]
				l.send(ctx, ch, l.pick(ch))
				l.done.Add(1)
			}
		})
	}
	wg.Wait()
}

// waitDone returns once n operations are finished.
func (l *liveLoad) waitDone(ctx context.Context, n int) {
	for l.done.Load() < int64(n) && ctx.Err() == nil {
		time.Sleep(10 * time.Millisecond)
	}
}

// pick chooses the next write of a chat: ~70 % posts, 20 % edits, 10 %
// deletes of a message that was posted and not yet picked for deletion.
func (l *liveLoad) pick(ch *liveChat) liveWrite {
	w := liveWrite{Type: events.MessageCreated, App: ch.app, Chat: ch.chat,
		Body: fmt.Sprintf("app %d chat %d write %d", ch.app, ch.chat, l.seq.Add(1))}
	ch.mu.Lock()
	defer ch.mu.Unlock()
	r := rand.IntN(100)
	if r < 70 || len(ch.live) == 0 {
		return w
	}
	i := rand.IntN(len(ch.live))
	w.Message = ch.live[i]
	if r < 90 {
		w.Type = events.MessageUpdated
		return w
	}
	w.Type, w.Body = events.MessageDeleted, ""
	ch.live[i] = ch.live[len(ch.live)-1]
	ch.live = ch.live[:len(ch.live)-1]
	return w
}

// send makes one write, retrying it with its idempotency key until an
// answer says whether it was taken; one in twenty taken writes is sent
// again with the same key to the other api, which must replay the answer.
func (l *liveLoad) send(ctx context.Context, ch *liveChat, w liveWrite) {
	key := ic.NewIdempotencyKey()
	for ctx.Err() == nil {
		api := rand.IntN(len(l.apps))
		n, resp, err := l.call(ctx, api, w, key)
		var e *ic.Error
		switch {
		case err == nil:
			if w.Type == events.MessageCreated {
				w.Message = n
				ch.mu.Lock()
				ch.live = append(ch.live, n)
				ch.mu.Unlock()
			}
			l.mu.Lock()
			l.accepted = append(l.accepted, w)
			l.mu.Unlock()
			if rand.IntN(20) == 0 {
				l.replay(ctx, (api+1)%len(l.apps), w, key)
			}
			return
		case errors.Is(err, ic.ErrOutcomeUnknown), errors.Is(err, ic.ErrUnavailable), errors.Is(err, ic.ErrRateLimited):
			l.retried.Add(1)
		case errors.As(err, &e) && e.StatusCode/100 == 4:
			l.refused.Add(1)
			l.mu.Lock()
			l.rejected = append(l.rejected, w)
			l.mu.Unlock()
			return
		case ctx.Err() == nil:
			l.t.Errorf("%+v (request %s): %v", w, resp.RequestID, err)
			return
		}
	}
}

// replay sends a taken write again with its key to another api: the answer
// must be the recorded one, and the streams must not get a second event.
func (l *liveLoad) replay(ctx context.Context, api int, w liveWrite, key string) {
	n, resp, err := l.call(ctx, api, w, key)
	for errors.Is(err, ic.ErrOutcomeUnknown) || errors.Is(err, ic.ErrUnavailable) || errors.Is(err, ic.ErrRateLimited) {
		l.retried.Add(1)
		n, resp, err = l.call(ctx, api, w, key)
	}
	switch {
	case err != nil && ctx.Err() == nil:
		l.t.Errorf("%+v sent again with its key: %v", w, err)
	case !resp.Replayed:
		l.t.Errorf("%+v sent again with its key: got status %d not replayed, want the recorded answer", w, resp.StatusCode)
	case w.Type == events.MessageCreated && n != w.Message:
		l.t.Errorf("%+v sent again with its key: got number %d, want %d", w, n, w.Message)
	default:
		l.replays.Add(1)
	}
}

// call makes one attempt of w on an api and returns the message number a
// post was given.
func (l *liveLoad) call(ctx context.Context, api int, w liveWrite, key string) (int64, ic.Response, error) {
	var resp ic.Response
	a := l.apps[api][w.App]
	opts := []ic.WriteOption{ic.WithIdempotencyKey(key), ic.WithResponse(&resp)}
	switch w.Type {
	case events.MessageCreated:
		m, err := a.PostMessage(ctx, w.Chat, w.Body, opts...)
		return m.Number, resp, err
	case events.MessageUpdated:
		_, err := a.UpdateMessage(ctx, w.Chat, w.Message, w.Body, opts...)
		return 0, resp, err
	default:
		_, err := a.DeleteMessage(ctx, w.Chat, w.Message, opts...)
		return 0, resp, err
	}
}

// check holds the load against the streams: each taken write is one event,
// nothing else is, a refused write has none, and each chat's posts are
// numbered 1..n once each.
func (l *liveLoad) check(t *testing.T, truth map[liveKey][]liveRec) {
	t.Helper()
	seen := map[liveWrite]int{}
	created := map[liveKey][]int64{}
	count := 0
	for a := range liveApps {
		for _, r := range truth[liveKey{a, 0}] {
			seen[liveWrite{Type: r.Type, App: a, Chat: r.Chat, Message: r.Message, Body: r.Body}]++
			if r.Type == events.MessageCreated {
				created[liveKey{a, r.Chat}] = append(created[liveKey{a, r.Chat}], r.Message)
			}
			count++
		}
	}
	for _, w := range l.accepted {
		if n := seen[w]; n != 1 {
			t.Errorf("write answered 2xx %+v: %d events of it in the streams, want 1", w, n)
		}
	}
	if count != len(l.accepted) {
		t.Errorf("events in the streams: got %d, want %d, one per write answered 2xx", count, len(l.accepted))
	}
	for _, w := range l.rejected {
		if w.Type != events.MessageDeleted && seen[w] != 0 {
			t.Errorf("write refused %+v: %d events of it in the streams, want none", w, seen[w])
		}
	}
	for k, nums := range created {
		slices.Sort(nums)
		for i, n := range nums {
			if n != int64(i+1) {
				t.Errorf("application %d chat %d: message.created numbers %v…, want 1..%d once each", k.app, k.chat, nums[max(0, i-2):i+1], len(nums))
				break
			}
		}
	}
}
