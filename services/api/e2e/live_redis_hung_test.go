package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	ic "github.com/instachat/instachat/client"
	"github.com/instachat/instachat/pkg/chat"
	"github.com/instachat/instachat/pkg/events"
	"github.com/instachat/instachat/pkg/queue"
	"github.com/instachat/instachat/pkg/testenv"
)

// Timings of TestLiveRedisHung.
const (
	hungFor       = 8 * time.Second         // how long Redis is stopped
	hungAnswer    = 3 * time.Second         // the longest a request may take to answer, hang or not
	hungSilence   = 3 * time.Second         // the longest an open stream may stay silent (heartbeat is 1 s)
	hungDelivery  = 3 * time.Second         // from a create's 201 to its event on every stream, after the hang
	hungPostEvery = 60 * time.Millisecond   // the load: one create this often, chats in turn
	hungMaxPerApp = 10                      // EVENTS_MAX_PER_APP: the slot check at the end fills it
	hungRing      = 16                      // EVENTS_RING: a resume from before the hang needs Redis
	hungChats     = 3                       // chats of the application
	hungRetryFor  = 15 * time.Second        // how long the refused creates are retried after the hang
	hungParts     = 2                       // QUEUE_PARTITIONS: a small hub
	hungHeartbeat = "EVENTS_HEARTBEAT=1s"   // idle streams hear from the api every second or so
	hungAfterHang = 2 * time.Second         // the load goes on this long after the hang
	hungBefore    = 1500 * time.Millisecond // and ran this long before it
)

// TestLiveRedisHung stops the api's own Redis (SIGSTOP: it keeps its
// connections and answers nothing) for 8 s under a subscribed hub: three
// chat SSE streams, a chat WebSocket and an application SSE stream, while
// creates go on. During the hang no request hangs (creates answer 503 with
// Retry-After within 3 s, new subscribes answer or open within 3 s, and
// open streams keep hearing heartbeats). After it, every create refused
// during the hang is retried with its idempotency key until it answers 201,
// and every stream (reconnecting with its last position whenever the api
// closed it) must end with exactly the events of the stream after its
// start: one per create, in number order, none missing, none repeated, no
// reset; the partition reader delivers new events within 3 s; and once the
// clients are gone the subscriber gauge is back to 0, every per-application
// slot can be taken again, and no stream goroutine is left behind.
func TestLiveRedisHung(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end test: skipped with -short")
	}
	began := time.Now()
	r := testenv.StartRedis(t)
	rdb := r.Client()
	t.Cleanup(func() { rdb.Close() })
	// Profiles on a spare port each (api and writer share the
	// environment): the leak check counts the api's stream goroutines.
	s := newSystemOn(t, rdb, "ic:", "REDIS_ADDR="+r.Addr, hungHeartbeat, "PPROF_ADDR=127.0.0.1:0",
		fmt.Sprintf("QUEUE_PARTITIONS=%d", hungParts), fmt.Sprintf("EVENTS_MAX_PER_APP=%d", hungMaxPerApp),
		fmt.Sprintf("EVENTS_RING=%d", hungRing))
	t.Cleanup(r.Resume) // before the services stop, should the test end during the hang
	pprofURL := "http://" + hungProfileAddr(t, s) + "/debug/pprof/goroutine?debug=1"
	a := newChatApp(s, hungChats)
	digest := chat.TokenDigest(a.token)
	keys := queue.NewKeys("ic:", hungParts)
	// Persisted chats: a subscribe during the hang needs MySQL only.
	eventually(t, 15*time.Second, "chats persisted", func() (bool, string) {
		for n := int64(1); n <= hungChats; n++ {
			c, err := a.app.Chat(hungCtx(t, hungAnswer), n)
			if err != nil || c.Status == ic.StatusPending {
				return false, fmt.Sprintf("chat %d: %+v, %v", n, c, err)
			}
		}
		return true, ""
	})
	_, from, _, err := events.NewReader(rdb, keys).Bounds(hungCtx(t, hungAnswer), keys.Partition(digest))
	if err != nil || from.IsZero() {
		t.Fatalf("stream tail after the chats: got %v, %v; want their events", from, err)
	}
	stacks := s.getURL(pprofURL)
	t.Logf("system up, application and chats persisted after %v", time.Since(began).Round(time.Millisecond))

	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	var running sync.WaitGroup
	start := func(sub *hungSub) *hungSub {
		running.Go(func() { sub.run(ctx) })
		return sub
	}
	subs := []*hungSub{
		start(newHungSub(s, "sse", a.token, 1, from.String())),
		start(newHungSub(s, "sse", a.token, 2, from.String())),
		start(newHungSub(s, "sse", a.token, 3, from.String())),
		start(newHungSub(s, "ws", a.token, 2, from.String())),
		start(newHungSub(s, "sse", a.token, 0, from.String())),
	}
	for _, sub := range subs {
		sub.waitReady(t, 5*time.Second)
	}

	load := newHungLoad(t, s, a.token)
	load.start(ctx)
	time.Sleep(hungBefore)

	r.Pause()
	pausedAt := time.Now()
	t.Logf("Redis stopped")
	time.Sleep(2 * time.Second)
	// New subscribers during the hang: one from now, two resuming from
	// before the hang, which the ring (16 events) no longer holds.
	late := []*hungSub{
		start(newHungSub(s, "sse", a.token, 1, "")),
		start(newHungSub(s, "sse", a.token, 0, from.String())),
		start(newHungSub(s, "ws", a.token, 3, from.String())),
	}
	readyStart := time.Now()
	ready, readyErr := s.newClient(ic.NoRetry).Ready(hungCtx(t, hungAnswer))
	readyTook := time.Since(readyStart)
	time.Sleep(time.Until(pausedAt.Add(hungFor)))
	r.Resume()
	resumedAt := time.Now()
	t.Logf("Redis continued after %v", resumedAt.Sub(pausedAt).Round(time.Millisecond))
	subs = append(subs, late...)

	time.Sleep(hungAfterHang)
	load.halt()
	load.retryRefused(hungRetryFor)
	posts := load.all()

	// During the hang.
	t.Logf("/readyz during the hang: %+v, %v, in %v", ready, readyErr, readyTook.Round(time.Millisecond))
	if readyTook > hungAnswer {
		t.Errorf("/readyz during the hang took %v, want an answer within %v", readyTook, hungAnswer)
	}
	hungCheckCreates(t, posts, pausedAt, resumedAt)

	// After it: the stream holds one event per create, each create answered 201.
	truth := hungTruth(t, s, keys, digest, from, posts)
	for _, sub := range subs {
		sub.waitCaughtUp(t, truth, 10*time.Second)
	}
	cancel()
	running.Wait()
	for _, sub := range subs {
		sub.check(t, truth, pausedAt, resumedAt)
	}
	hungCheckDelivery(t, subs, posts, resumedAt)

	// Nothing left behind.
	load.tr.CloseIdleConnections()
	hungCheckReleased(t, s, a.token, pprofURL, stacks)
	t.Logf("whole test %v", time.Since(began).Round(time.Millisecond))
}

// hungCtx is a context for one client call: a hang fails the test instead
// of blocking it.
func hungCtx(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), d)
	t.Cleanup(cancel)
	return ctx
}

// hungPost is one create of the load and what answered it.
type hungPost struct {
	chat       int64
	body       string
	key        string // idempotency key, kept for the retries
	sent       time.Time
	took       time.Duration // of the first attempt
	status     int           // of the first attempt (0: no answer)
	retryAfter time.Duration
	message    string
	number     int64     // once answered 201
	answered   time.Time // when the 201 came
	retries    int
	retryErr   string // what the last failed retry got
	replayed   bool   // the 201 of a retry replayed a create the hang had taken
}

// hungLoad posts to the chats in turn at a steady pace, one goroutine per
// create, each call bounded by a timeout.
type hungLoad struct {
	t     *testing.T
	app   *ic.App
	tr    *http.Transport
	stop  chan struct{}
	done  chan struct{}
	mu    sync.Mutex
	posts []*hungPost
}

func newHungLoad(t *testing.T, s *system, token string) *hungLoad {
	tr := &http.Transport{MaxIdleConnsPerHost: 64}
	t.Cleanup(tr.CloseIdleConnections)
	c, err := ic.New(s.apiURL, ic.WithRetry(ic.NoRetry), ic.WithHTTPClient(&http.Client{Transport: tr, Timeout: 2 * hungAnswer}))
	if err != nil {
		t.Fatal(err)
	}
	return &hungLoad{t: t, app: c.App(token), tr: tr, stop: make(chan struct{}), done: make(chan struct{})}
}

func (l *hungLoad) start(ctx context.Context) {
	go func() {
		defer close(l.done)
		tick := time.NewTicker(hungPostEvery)
		defer tick.Stop()
		var wg sync.WaitGroup
		defer wg.Wait()
		for i := 0; ; i++ {
			select {
			case <-l.stop:
				return
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			p := &hungPost{chat: int64(i%hungChats) + 1, body: fmt.Sprintf("hung post %d", i), key: ic.NewIdempotencyKey()}
			l.mu.Lock()
			l.posts = append(l.posts, p)
			l.mu.Unlock()
			wg.Go(func() { l.first(ctx, p) })
		}
	}()
}

// first makes a create's first attempt.
func (l *hungLoad) first(ctx context.Context, p *hungPost) {
	ctx, cancel := context.WithTimeout(ctx, 2*hungAnswer)
	defer cancel()
	p.sent = time.Now()
	m, err := l.app.PostMessage(ctx, p.chat, p.body, ic.WithIdempotencyKey(p.key))
	now := time.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	p.took, p.status = now.Sub(p.sent), ic.StatusOf(err)
	var e *ic.Error
	switch {
	case err == nil:
		p.status, p.number, p.answered = http.StatusCreated, m.Number, now
	case errors.As(err, &e):
		p.retryAfter, p.message = e.RetryAfter, e.Message
	default:
		p.message = err.Error()
	}
}

// halt stops the load and waits for its first attempts.
func (l *hungLoad) halt() {
	close(l.stop)
	<-l.done
}

// retryRefused retries every create not answered 201 with its idempotency
// key, as a client whose create got 503 does, until each answers 201.
func (l *hungLoad) retryRefused(within time.Duration) {
	l.t.Helper()
	deadline := time.Now().Add(within)
	var wg sync.WaitGroup
	slots := make(chan struct{}, 8)
	for _, p := range l.all() {
		if p.number != 0 {
			continue
		}
		slots <- struct{}{}
		wg.Go(func() {
			defer func() { <-slots }()
			l.retry(p, deadline)
		})
	}
	wg.Wait()
	for _, p := range l.all() {
		if p.number == 0 {
			l.t.Fatalf("create %q to chat %d: not answered 201 by retries with its key within %v of the hang's end (last: %s)",
				p.body, p.chat, within, p.retryErr)
		}
	}
}

// retry sends p again with its key until it answers 201, a 4xx (a test
// failure) or the deadline passes.
func (l *hungLoad) retry(p *hungPost, deadline time.Time) {
	for time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(l.t.Context(), hungAnswer)
		var resp ic.Response
		m, err := l.app.PostMessage(ctx, p.chat, p.body, ic.WithIdempotencyKey(p.key), ic.WithResponse(&resp))
		cancel()
		l.mu.Lock()
		p.retries++
		if err == nil {
			p.number, p.answered, p.replayed = m.Number, time.Now(), resp.Replayed
			l.mu.Unlock()
			return
		}
		p.retryErr = err.Error()
		l.mu.Unlock()
		var e *ic.Error
		if errors.As(err, &e) && e.StatusCode/100 == 4 {
			l.t.Errorf("create %q retried with its key after the hang: got %v, want 201", p.body, err)
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// all returns the creates, in the order they were sent.
func (l *hungLoad) all() []*hungPost {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]*hungPost(nil), l.posts...)
}

// hungCheckCreates holds the first attempts to the failure table: none
// takes longer than hungAnswer, and those sent well inside the hang answer
// 503 with Retry-After.
func hungCheckCreates(t *testing.T, posts []*hungPost, pausedAt, resumedAt time.Time) {
	t.Helper()
	inside, refused, unknown, replayed := 0, 0, 0, 0
	var slowest time.Duration
	for _, p := range posts {
		slowest = max(slowest, p.took)
		if p.took > hungAnswer {
			t.Errorf("create %q sent %v into the hang: answered %d after %v, want an answer within %v",
				p.body, p.sent.Sub(pausedAt).Round(time.Millisecond), p.status, p.took.Round(time.Millisecond), hungAnswer)
		}
		if p.status != http.StatusCreated {
			refused++
		}
		if p.replayed {
			replayed++
		}
		if strings.Contains(p.message, "may or may not") {
			unknown++
		}
		// A create sent 200 ms into the hang, and answered (see above)
		// before its end, cannot have reached a Redis that answers.
		if p.sent.Before(pausedAt.Add(200*time.Millisecond)) || p.sent.After(resumedAt.Add(-hungAnswer)) {
			continue
		}
		inside++
		if p.status != http.StatusServiceUnavailable || p.retryAfter <= 0 {
			t.Errorf("create %q sent during the hang: got %d (Retry-After %v) %q, want 503 with Retry-After",
				p.body, p.status, p.retryAfter, p.message)
		}
	}
	t.Logf("%d creates (%d sent well inside the hang); %d not answered 201 at first (%d of them 'may or may not have been accepted'), %d of those replayed the hang's create when retried; slowest first answer %v",
		len(posts), inside, refused, unknown, replayed, slowest.Round(time.Millisecond))
	if inside < 50 {
		t.Errorf("only %d creates sent during the hang: the load did not run", inside)
	}
}

// hungTruth reads the partition's stream after from and checks it against
// the creates: contiguous positions, one message.created per create with
// the number its 201 gave, each chat numbered 1..n, nothing else.
func hungTruth(t *testing.T, s *system, keys queue.Keys, digest string, from events.Position, posts []*hungPost) []liveRec {
	t.Helper()
	msgs, err := s.rdb.XRange(hungCtx(t, 5*time.Second), keys.Events(keys.Partition(digest)), "("+from.String(), "+").Result()
	if err != nil {
		t.Fatalf("read the event stream: %v", err)
	}
	want := map[liveRec]bool{}
	perChat := map[int64]int64{}
	for _, p := range posts {
		want[liveRec{Type: events.MessageCreated, Chat: p.chat, Message: p.number, Body: p.body}] = true
		perChat[p.chat]++
	}
	var truth []liveRec
	next := events.Position{Gen: from.Gen, Seq: from.Seq + 1}
	lastNumber := map[int64]int64{}
	for _, m := range msgs {
		job, _ := m.Values["j"].(string)
		ev, err := events.FromEntry(m.ID, job)
		if err != nil {
			t.Fatalf("stream entry %s: %v", m.ID, err)
		}
		if ev.ID != next {
			t.Errorf("stream: entry %s follows %d-%d, want %s: a gap in the stream itself", ev.ID, next.Gen, next.Seq-1, next)
		}
		next = events.Position{Gen: ev.ID.Gen, Seq: ev.ID.Seq + 1}
		r := liveRec{Type: ev.Type, Chat: ev.Chat, Message: ev.Message, Body: ev.Body}
		if ev.App != digest || !want[r] {
			t.Errorf("stream: event %s %v is of no create answered 201", ev.ID, r)
		}
		delete(want, r)
		if ev.Message != lastNumber[ev.Chat]+1 {
			t.Errorf("stream: chat %d message %d follows %d", ev.Chat, ev.Message, lastNumber[ev.Chat])
		}
		lastNumber[ev.Chat] = ev.Message
		r.ID = ev.ID.String()
		truth = append(truth, r)
	}
	for r := range want {
		t.Errorf("create answered 201 %v: no event of it in the stream", r)
	}
	for c, n := range perChat {
		if lastNumber[c] != n {
			t.Errorf("chat %d: numbers 1..%d in the stream, want 1..%d (one per create)", c, lastNumber[c], n)
		}
	}
	return truth
}

// hungSub is one subscriber: raw SSE or WebSocket, reconnecting with its
// last position whenever its stream ends, and recording every frame.
type hungSub struct {
	transport string
	chat      int64  // 0: the whole application
	path      string // of the stream
	hc        *http.Client

	mu       sync.Mutex
	start    string // the position it follows after: its first ready's
	last     string // where the next connection resumes
	got      []liveRec
	at       []time.Time // when each of got arrived
	beats    []time.Time
	resets   []string
	bad      []string // frames out of place, silent streams, slow answers
	attempts []hungAttempt
	readyCh  chan struct{}
	once     sync.Once
}

// hungAttempt is one connection attempt.
type hungAttempt struct {
	at, ended  time.Time
	took       time.Duration // to the response headers (SSE) or the handshake (WebSocket)
	status     int           // 0: no answer
	retryAfter string
	why        string // how it ended
}

func newHungSub(s *system, transport, token string, chatN int64, after string) *hungSub {
	path := "/api/v1/applications/" + token + "/events"
	if chatN != 0 {
		path = fmt.Sprintf("/api/v1/applications/%s/chats/%d/events", token, chatN)
	}
	// No keep-alive: a closed stream closes its connection, so the api
	// sees the client go at once.
	hc := &http.Client{Transport: &http.Transport{ResponseHeaderTimeout: hungAnswer, DisableKeepAlives: true}}
	return &hungSub{transport: transport, chat: chatN, path: s.apiURL + path, hc: hc, last: after, readyCh: make(chan struct{})}
}

func (sub *hungSub) String() string {
	what := fmt.Sprintf("chat %d", sub.chat)
	if sub.chat == 0 {
		what = "the application"
	}
	return sub.transport + " subscriber of " + what
}

func (sub *hungSub) run(ctx context.Context) {
	for ctx.Err() == nil {
		sub.mu.Lock()
		last := sub.last
		sub.mu.Unlock()
		a := hungAttempt{at: time.Now()}
		if sub.transport == "ws" {
			a = sub.connectWS(ctx, a, last)
		} else {
			a = sub.connectSSE(ctx, a, last)
		}
		a.ended = time.Now()
		sub.mu.Lock()
		sub.attempts = append(sub.attempts, a)
		sub.mu.Unlock()
		pause(ctx, 200*time.Millisecond)
	}
}

// connectSSE opens one SSE connection, resuming after last with
// Last-Event-ID as EventSource does, and reads it until it ends or stays
// silent.
func (sub *hungSub) connectSSE(ctx context.Context, a hungAttempt, last string) hungAttempt {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, sub.path, nil)
	if last != "" {
		req.Header.Set("Last-Event-ID", last)
	}
	res, err := sub.hc.Do(req)
	a.took = time.Since(a.at)
	if err != nil {
		a.why = err.Error()
		return a
	}
	defer res.Body.Close()
	a.status, a.retryAfter = res.StatusCode, res.Header.Get("Retry-After")
	if res.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(res.Body, 1024))
		a.why = strings.TrimSpace(string(b))
		return a
	}
	silent := sub.watchdog(cancel)
	defer silent.Stop()
	br := bufio.NewReader(res.Body)
	var id, typ, data string
	first := true
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			a.why = "ended: " + err.Error()
			return a
		}
		line = strings.TrimSuffix(line, "\n")
		switch {
		case strings.HasPrefix(line, ":"):
			silent.Reset(hungSilence)
			sub.frame(liveWire{Type: "heartbeat"}, last, &first)
		case strings.HasPrefix(line, "id: "):
			id = line[4:]
		case strings.HasPrefix(line, "event: "):
			typ = line[7:]
		case strings.HasPrefix(line, "data: "):
			data = line[6:]
		case line == "" && typ != "":
			silent.Reset(hungSilence)
			var w liveWire
			if err := json.Unmarshal([]byte(data), &w); err != nil || w.ID != id || w.Type != typ {
				sub.badf("SSE frame id %q event %q data %q does not agree with itself", id, typ, data)
			}
			sub.frame(w, last, &first)
			id, typ, data = "", "", ""
		}
	}
}

// connectWS opens one WebSocket connection resuming after last (?after=)
// and reads it until it ends or stays silent.
func (sub *hungSub) connectWS(ctx context.Context, a hungAttempt, last string) hungAttempt {
	u := "ws" + strings.TrimPrefix(sub.path, "http")
	if last != "" {
		u += "?after=" + last
	}
	dctx, cancel := context.WithTimeout(ctx, hungAnswer)
	c, res, err := websocket.Dial(dctx, u, &websocket.DialOptions{HTTPClient: sub.hc})
	cancel()
	a.took = time.Since(a.at)
	if res != nil {
		a.status, a.retryAfter = res.StatusCode, res.Header.Get("Retry-After")
	}
	if err != nil {
		a.why = err.Error()
		if res != nil && res.Body != nil {
			b, _ := io.ReadAll(io.LimitReader(res.Body, 1024))
			a.why = strings.TrimSpace(string(b))
		}
		return a
	}
	defer c.CloseNow()
	first := true
	for {
		rctx, cancel := context.WithTimeout(ctx, hungSilence)
		_, b, err := c.Read(rctx)
		cancel()
		if err != nil {
			if errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil {
				sub.badf("WebSocket silent for %v at %s", hungSilence, time.Now().Format("15:04:05.000"))
			}
			a.why = "ended: " + err.Error()
			return a
		}
		var w liveWire
		if err := json.Unmarshal(b, &w); err != nil {
			sub.badf("WebSocket frame %q: %v", b, err)
			continue
		}
		sub.frame(w, last, &first)
	}
}

// watchdog cancels an SSE connection that stays silent for hungSilence.
func (sub *hungSub) watchdog(cancel context.CancelFunc) *time.Timer {
	return time.AfterFunc(hungSilence, func() {
		sub.badf("SSE stream silent for %v at %s", hungSilence, time.Now().Format("15:04:05.000"))
		cancel()
	})
}

// frame records one frame of a connection that resumed after asked.
func (sub *hungSub) frame(w liveWire, asked string, first *bool) {
	sub.mu.Lock()
	defer sub.mu.Unlock()
	now := time.Now()
	if *first {
		*first = false
		if w.Type != "ready" || (asked != "" && w.ID != asked) {
			sub.bad = append(sub.bad, fmt.Sprintf("first frame %s %s, want ready at %q", w.Type, w.ID, asked))
		}
	}
	switch w.Type {
	case "heartbeat":
		sub.beats = append(sub.beats, now)
		return
	case "ready":
		if sub.start == "" {
			sub.start = w.ID
			sub.once.Do(func() { close(sub.readyCh) })
		}
	case "reset":
		sub.resets = append(sub.resets, w.ID)
	case "overflow":
		sub.bad = append(sub.bad, "overflow at "+w.ID)
	default:
		sub.got = append(sub.got, liveRec{ID: w.ID, Type: w.Type, Chat: w.Chat, Message: w.Message, Body: w.Body})
		sub.at = append(sub.at, now)
	}
	if w.ID != "" {
		sub.last = w.ID
	}
}

func (sub *hungSub) badf(format string, args ...any) {
	sub.mu.Lock()
	defer sub.mu.Unlock()
	sub.bad = append(sub.bad, fmt.Sprintf(format, args...))
}

func (sub *hungSub) waitReady(t *testing.T, d time.Duration) {
	t.Helper()
	select {
	case <-sub.readyCh:
	case <-time.After(d):
		t.Fatalf("%s: no ready frame within %v", sub, d)
	}
}

// want is the truth's events of the subscriber's chat (or application)
// after its start, and that start.
func (sub *hungSub) want(truth []liveRec) ([]liveRec, string) {
	sub.mu.Lock()
	start := sub.start
	sub.mu.Unlock()
	pos, err := events.Parse(start)
	var out []liveRec
	for _, r := range truth {
		p, _ := events.Parse(r.ID)
		if err == nil && pos.Less(p) && (sub.chat == 0 || r.Chat == sub.chat) {
			out = append(out, r)
		}
	}
	return out, start
}

// waitCaughtUp waits until the subscriber has received the last event the
// truth holds for it.
func (sub *hungSub) waitCaughtUp(t *testing.T, truth []liveRec, d time.Duration) {
	t.Helper()
	want, start := sub.want(truth)
	if len(want) == 0 {
		t.Errorf("%s: no event of it after its start %q: the test checked nothing", sub, start)
		return
	}
	deadline := time.Now().Add(d)
	for {
		sub.mu.Lock()
		n := len(sub.got)
		lastID := ""
		if n > 0 {
			lastID = sub.got[n-1].ID
		}
		sub.mu.Unlock()
		if lastID == want[len(want)-1].ID {
			return
		}
		if time.Now().After(deadline) {
			t.Errorf("%s: at %q after %v, want %s (the last event of its stream)", sub, lastID, d, want[len(want)-1].ID)
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// check holds what the subscriber received to the truth, and its
// connections to the hang's promises.
func (sub *hungSub) check(t *testing.T, truth []liveRec, pausedAt, resumedAt time.Time) {
	t.Helper()
	want, _ := sub.want(truth)
	sub.mu.Lock()
	defer sub.mu.Unlock()
	for _, b := range sub.bad {
		t.Errorf("%s: %s", sub, b)
	}
	if len(sub.resets) > 0 {
		t.Errorf("%s: %d resets (first to %s), want none: Redis kept every event", sub, len(sub.resets), sub.resets[0])
	}
	i := 0
	for i < len(sub.got) && i < len(want) && sub.got[i] == want[i] {
		i++
	}
	if i < len(sub.got) || i < len(want) {
		got, w := "nothing", "nothing"
		if i < len(sub.got) {
			got = sub.got[i].String()
		}
		if i < len(want) {
			w = want[i].String()
		}
		t.Errorf("%s: %d events, want %d; first divergence at %d: got %s, want %s", sub, len(sub.got), len(want), i, got, w)
	}
	// Every connection attempt was answered promptly: a stream, or a
	// refusal with Retry-After. Streams during the hang were not silent
	// (the watchdog above reports those) or were closed and resumed.
	var during, ended int
	for _, a := range sub.attempts {
		if a.took > hungAnswer {
			t.Errorf("%s: connection at %s answered after %v, want within %v", sub, a.at.Format("15:04:05.000"), a.took, hungAnswer)
		}
		switch {
		case a.status == http.StatusOK || a.status == http.StatusSwitchingProtocols:
		case a.status == http.StatusServiceUnavailable && a.retryAfter != "" && strings.HasPrefix(a.why, `{"error":`):
		default:
			t.Errorf("%s: connection at %s: got %d (Retry-After %q) %s, want a stream or 503 with Retry-After",
				sub, a.at.Format("15:04:05.000"), a.status, a.retryAfter, a.why)
		}
		if a.ended.After(pausedAt) && a.ended.Before(resumedAt) {
			ended++
		}
	}
	for _, b := range sub.beats {
		if b.After(pausedAt) && b.Before(resumedAt) {
			during++
		}
	}
	t.Logf("%s: %d events from %s, %d connections (%d ended during the hang), %d heartbeats during the hang",
		sub, len(sub.got), sub.start, len(sub.attempts), ended, during)
}

// hungCheckDelivery checks that the reader recovered: every create
// answered 201 after the hang reaches every stream within hungDelivery.
func hungCheckDelivery(t *testing.T, subs []*hungSub, posts []*hungPost, resumedAt time.Time) {
	t.Helper()
	answered := map[liveRec]time.Time{}
	for _, p := range posts {
		if p.status == http.StatusCreated && p.answered.After(resumedAt) {
			answered[liveRec{Type: events.MessageCreated, Chat: p.chat, Message: p.number, Body: p.body}] = p.answered
		}
	}
	if len(answered) < 10 {
		t.Errorf("only %d creates answered 201 after the hang: the reader's recovery was not checked", len(answered))
	}
	var worst time.Duration
	for _, sub := range subs {
		sub.mu.Lock()
		for i, r := range sub.got {
			r.ID = ""
			at, ok := answered[r]
			if !ok {
				continue
			}
			d := sub.at[i].Sub(at)
			worst = max(worst, d)
			if d > hungDelivery {
				t.Errorf("%s: %v reached it %v after its 201, want within %v", sub, r, d.Round(time.Millisecond), hungDelivery)
			}
		}
		sub.mu.Unlock()
	}
	t.Logf("%d creates answered 201 after the hang; slowest delivery %v", len(answered), worst.Round(time.Millisecond))
}

// hungCheckReleased checks, once every client is gone, that the subscriber
// gauge is 0, that the application's EVENTS_MAX_PER_APP slots can all be
// taken again (and one more is refused), and that the api runs no more
// stream goroutines than before the streams opened.
func hungCheckReleased(t *testing.T, s *system, token, pprofURL, beforeStacks string) {
	t.Helper()
	gauge := func() (bool, string) {
		n, err := seriesSum(s.apiURL+"/metrics", "instachat_event_subscribers")
		return err == nil && n == 0, fmt.Sprintf("instachat_event_subscribers %v, %v", n, err)
	}
	eventually(t, 5*time.Second, "subscriber gauge back to 0", gauge)

	ctx, cancel := context.WithCancel(t.Context())
	var open sync.WaitGroup
	statuses := make(chan int, hungMaxPerApp+1)
	hc := &http.Client{Transport: &http.Transport{ResponseHeaderTimeout: hungAnswer, DisableKeepAlives: true}}
	dial := func() {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, fmt.Sprintf("%s/api/v1/applications/%s/chats/1/events", s.apiURL, token), nil)
		res, err := hc.Do(req)
		if err != nil {
			statuses <- 0
			return
		}
		statuses <- res.StatusCode
		if res.StatusCode == http.StatusOK {
			open.Go(func() { io.Copy(io.Discard, res.Body); res.Body.Close() })
		} else {
			res.Body.Close()
		}
	}
	var dials sync.WaitGroup
	for range hungMaxPerApp {
		dials.Go(dial)
	}
	dials.Wait()
	got := map[int]int{}
	for range hungMaxPerApp {
		got[<-statuses]++
	}
	if got[http.StatusOK] != hungMaxPerApp {
		t.Errorf("%d streams of one application after the hang: got statuses %v, want %d × 200 (a slot was not released)",
			hungMaxPerApp, got, hungMaxPerApp)
	}
	dial()
	if st := <-statuses; st != http.StatusTooManyRequests {
		t.Errorf("stream %d of one application: got %d, want 429 (the limit holds)", hungMaxPerApp+1, st)
	}
	cancel()
	open.Wait()
	eventually(t, 5*time.Second, "subscriber gauge back to 0 after the slot check", gauge)
	before := hungStreamGoroutines(beforeStacks)
	if before == 0 {
		t.Errorf("no goroutine of the live package in the api's profile: the leak check looks at nothing")
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		after := s.getURL(pprofURL)
		n := hungStreamGoroutines(after)
		if n <= before {
			return
		}
		if time.Now().After(deadline) {
			t.Errorf("api goroutines of streams (live, WebSocket, handlers): got %d 5 s after every client left, want %d as before the streams; before:\n%s\nafter:\n%s",
				n, before, beforeStacks, after)
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// hungProfileAddr is where the api serves its profiles, as its log says.
func hungProfileAddr(t *testing.T, s *system) string {
	t.Helper()
	for line := range strings.SplitSeq(s.logOf("api"), "\n") {
		if !strings.Contains(line, `msg="serving profiles"`) {
			continue
		}
		_, addr, ok := strings.Cut(line, " addr=")
		if ok {
			addr, _, _ = strings.Cut(addr, " ")
			return addr
		}
	}
	t.Fatalf("the api did not log where it serves its profiles")
	return ""
}

// hungStreamGoroutines counts, in a goroutine profile (debug=1), the
// goroutines whose stack runs the live package, a WebSocket or an HTTP
// handler: the hub's own readers and heartbeat, and every open stream.
func hungStreamGoroutines(profile string) int {
	// The header line shares the first block ("goroutine profile: total
	// N\n2 @ …"): without it, the first block's count would not parse and
	// the largest group of goroutines would go uncounted.
	if rest, ok := strings.CutPrefix(strings.TrimSpace(profile), "goroutine profile:"); ok {
		_, profile, _ = strings.Cut(rest, "\n")
	}
	n := 0
	for block := range strings.SplitSeq(profile, "\n\n") {
		count, _, ok := strings.Cut(strings.TrimSpace(block), " @ ")
		if !ok {
			continue
		}
		if strings.Contains(block, "/internal/live.") || strings.Contains(block, "coder/websocket") ||
			strings.Contains(block, "/internal/httpapi.") {
			c, _ := strconv.Atoi(count)
			n += c
		}
	}
	return n
}

// TestHungStreamGoroutinesCountsEveryBlock: the leak check counts the first
// group of a profile too, the one that shares its block with the header.
func TestHungStreamGoroutinesCountsEveryBlock(t *testing.T) {
	profile := "goroutine profile: total 9\n" +
		"2 @ 0x1 0x2\n#\t0x1\tgithub.com/instachat/instachat/services/api/internal/live.(*Hub).read+0x1\t/x/reader.go:36\n\n" +
		"6 @ 0x3\n#\t0x3\truntime.gopark+0x1\t/x/proc.go:1\n\n" +
		"1 @ 0x4\n#\t0x4\tgithub.com/instachat/instachat/services/api/internal/live.(*Hub).beat+0x1\t/x/hub.go:225\n"
	if got := hungStreamGoroutines(profile); got != 3 {
		t.Errorf("stream goroutines: got %d, want 3 (2 readers and the heartbeat)", got)
	}
}
