package e2e

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	ic "github.com/instachat/instachat/client"
	"github.com/instachat/instachat/pkg/chat"
	"github.com/instachat/instachat/pkg/events"
	"github.com/instachat/instachat/pkg/queue"
)

// receiver is a webhook endpoint on loopback that the test can stop
// (connections refused), make fail (500) or bring back; it keeps every
// delivery that verified, by delivery id.
type receiver struct {
	t       *testing.T
	addr    string
	secrets []string

	mu         sync.Mutex
	srv        *http.Server
	failing    bool
	deliveries map[string][]receivedDelivery // delivery id → every arrival
	badSigs    int
	answered   atomic.Int64
}

type receivedDelivery struct {
	event    ic.Event
	attempt  int
	position string
}

func newReceiver(t *testing.T) *receiver {
	r := &receiver{t: t, addr: "127.0.0.1:" + freePort(t), deliveries: map[string][]receivedDelivery{}}
	r.start()
	t.Cleanup(r.stop)
	return r
}

func (r *receiver) url() string { return "http://" + r.addr + "/instachat" }

// start listens again on the same address.
func (r *receiver) start() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.srv != nil {
		return
	}
	var ln net.Listener
	var err error
	for range 50 { // the port may linger a moment after a stop
		if ln, err = net.Listen("tcp", r.addr); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		r.t.Errorf("receiver: listen again on %s: %v", r.addr, err)
		return
	}
	r.srv = &http.Server{Handler: http.HandlerFunc(r.serve), ReadHeaderTimeout: 5 * time.Second}
	go func(srv *http.Server) { _ = srv.Serve(ln) }(r.srv)
}

// stop closes the listener and every connection: deliveries are refused.
func (r *receiver) stop() {
	r.mu.Lock()
	srv := r.srv
	r.srv = nil
	r.mu.Unlock()
	if srv != nil {
		_ = srv.Close()
	}
}

func (r *receiver) setFailing(f bool) {
	r.mu.Lock()
	r.failing = f
	r.mu.Unlock()
}

func (r *receiver) setSecrets(s ...string) {
	r.mu.Lock()
	r.secrets = s
	r.mu.Unlock()
}

func (r *receiver) serve(w http.ResponseWriter, req *http.Request) {
	r.mu.Lock()
	failing, secrets := r.failing, r.secrets
	r.mu.Unlock()
	if failing {
		_, _ = io.Copy(io.Discard, req.Body)
		http.Error(w, "receiver failing on purpose", http.StatusInternalServerError)
		return
	}
	ev, d, err := ic.ParseWebhook(req, secrets)
	if err != nil {
		r.mu.Lock()
		r.badSigs++
		r.mu.Unlock()
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	r.mu.Lock()
	r.deliveries[d.ID] = append(r.deliveries[d.ID], receivedDelivery{event: ev, attempt: d.Attempt, position: req.Header.Get(ic.HeaderWebhookPosition)})
	r.mu.Unlock()
	r.answered.Add(1)
	w.WriteHeader(http.StatusNoContent)
}

// retried counts the deliveries that got through on a later attempt.
func (r *receiver) retried() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, ds := range r.deliveries {
		if ds[0].attempt > 1 {
			n++
		}
	}
	return n
}

// byPosition returns the distinct events received, by position.
func (r *receiver) byPosition() map[string]ic.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := map[string]ic.Event{}
	for _, ds := range r.deliveries {
		for _, d := range ds {
			out[d.position] = d.event
		}
	}
	return out
}

const (
	hookChats      = 20
	hookOps        = 5000
	hookPartitions = 4
)

// TestWebhooksThroughAnOutage is issue 14's first done-when: 5,000 messages,
// edits and deletes over 20 chats while the receiver (loopback, allow-listed)
// is stopped for 20 s and then answers 500 for 10 s. Afterwards every event
// of the application's streams was delivered at least once with a valid
// signature, each delivery id names one event, and the deliveries that ran
// out of attempts during the outage were on the hooks' dead list and were
// delivered by a replay.
func TestWebhooksThroughAnOutage(t *testing.T) {
	if testing.Short() {
		t.Skip("a minute of outage and retries")
	}
	// Retries over about 18 s (0.2, 0.4, … doubling, at most 4 s, 9
	// attempts): deliveries that fail from early in the outage run out of
	// attempts; later ones get through on a retry.
	s := newSystemWith(t, fmt.Sprintf("QUEUE_PARTITIONS=%d", hookPartitions), "WEBHOOK_BACKOFF=200ms", "WEBHOOK_BACKOFF_MAX=4s",
		"WEBHOOK_MAX_ATTEMPTS=9", "WEBHOOK_TIMEOUT=2s", "WEBHOOK_CONCURRENCY=32")
	ctx := t.Context()
	rcv := newReceiver(t)
	app := s.newApp("Hooked")
	set, err := app.PutSettings(ctx, ic.SettingsInput{Webhooks: ic.Set([]ic.WebhookInput{{URL: rcv.url()}})}, ic.AnyVersion)
	if err != nil {
		t.Fatalf("save the webhook: %v", err)
	}
	rcv.setSecrets(set.Webhooks[0].Secret)
	s.newChats(app, hookChats)

	var posted atomic.Int64
	done := make(chan struct{})
	go func() {
		defer close(done)
		hookLoad(t, app, &posted)
	}()
	// The outage: from a fifth of the load, refused for 20 s, then 500 for 10 s.
	waitFor(t, func() bool { return posted.Load() >= hookOps/5 })
	rcv.stop()
	time.Sleep(20 * time.Second)
	rcv.setFailing(true)
	rcv.start()
	time.Sleep(10 * time.Second)
	rcv.setFailing(false)
	<-done

	s.drainHooks(t, 2*time.Minute)
	dead := s.hooksDead(t)
	if dead == 0 {
		t.Errorf("no delivery ran out of its 9 attempts during a 30 s outage: the retry schedule is not what the test assumes")
	}
	if n := rcv.retried(); n == 0 {
		t.Errorf("no delivery got through on a retry: the outage did not overlap the load as the test assumes")
	}
	s.replayHooksDead(t)
	s.drainHooks(t, time.Minute)
	if n := s.hooksDead(t); n != 0 {
		t.Errorf("after the replay: %d dead deliveries, want 0", n)
	}
	checkEveryEventDelivered(t, s, app.Token(), rcv)
	t.Logf("%d writes, %d deliveries answered (%d on a retry), %d dead before the replay", posted.Load(), rcv.answered.Load(), rcv.retried(), dead)
}

// hookLoad posts, edits and deletes hookOps times over the chats, through
// the Go client (with its retries and idempotency keys), at about 125 a
// second: the load spans the outage.
func hookLoad(t *testing.T, app *ic.App, posted *atomic.Int64) {
	ctx := t.Context()
	var wg sync.WaitGroup
	var next atomic.Int64
	msgs := make([]atomic.Int64, hookChats+1) // highest message number per chat
	for w := range 8 {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(w), 14))
			for next.Add(1) <= hookOps {
				c := int64(1 + rng.IntN(hookChats))
				n := msgs[c].Load()
				var err error
				switch p := rng.IntN(10); {
				case p < 7 || n == 0:
					var m ic.Message
					m, err = app.PostMessage(ctx, c, fmt.Sprintf("message from %d", w))
					if err == nil {
						for cur := msgs[c].Load(); m.Number > cur && !msgs[c].CompareAndSwap(cur, m.Number); cur = msgs[c].Load() {
						}
					}
				case p < 9:
					_, err = app.UpdateMessage(ctx, c, 1+rng.Int64N(n), "edited")
				default:
					_, err = app.DeleteMessage(ctx, c, 1+rng.Int64N(n))
				}
				if err != nil && !isGone(err) {
					t.Errorf("write: %v", err)
					return
				}
				posted.Add(1)
				time.Sleep(60 * time.Millisecond)
			}
		})
	}
	wg.Wait()
}

// isGone is a write to a message deleted meanwhile: refused, never emitted.
func isGone(err error) bool { return strings.Contains(err.Error(), "not found") }

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met in 2 minutes")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// checkEveryEventDelivered compares the application's events in the
// partition streams with what the receiver verified: every one delivered,
// with the same content, and each delivery id naming one event.
func checkEveryEventDelivered(t *testing.T, s *system, token string, rcv *receiver) {
	t.Helper()
	want := s.streamEvents(t, token)
	got := rcv.byPosition()
	missing := 0
	for pos, ev := range want {
		g, ok := got[pos]
		switch {
		case !ok:
			if missing++; missing <= 5 {
				t.Errorf("event %s (%s chat %d message %d) never delivered", pos, ev.Type, ev.Chat, ev.Message)
			}
		case g.Type != ev.Type || g.Chat != ev.Chat || g.Message != ev.Message || g.Body != ev.Body:
			t.Errorf("event %s: delivered %+v, the stream holds %+v", pos, g, ev)
		}
	}
	if missing > 0 {
		t.Errorf("%d of %d events never delivered", missing, len(want))
	}
	if len(got) != len(want) {
		t.Errorf("delivered %d distinct events, the streams hold %d", len(got), len(want))
	}
	rcv.mu.Lock()
	defer rcv.mu.Unlock()
	if rcv.badSigs != 0 {
		t.Errorf("%d deliveries failed signature verification", rcv.badSigs)
	}
	for id, ds := range rcv.deliveries {
		for _, d := range ds[1:] {
			if d.position != ds[0].position {
				t.Errorf("delivery id %s came with two events: %s and %s", id, ds[0].position, d.position)
			}
		}
	}
}

// streamEvents returns the application's events in every partition's
// stream, by position, as the live streams carry them.
func (s *system) streamEvents(t *testing.T, token string) map[string]ic.Event {
	t.Helper()
	keys := queue.NewKeys(s.prefix, hookPartitions)
	app := chat.TokenDigest(token)
	out := map[string]ic.Event{}
	msgs, err := s.rdb.XRange(context.Background(), keys.Events(keys.Partition(app)), "-", "+").Result()
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range msgs {
		job, _ := m.Values["j"].(string)
		ev, err := events.FromEntry(m.ID, job)
		if err != nil {
			t.Fatal(err)
		}
		if ev.App != app {
			continue
		}
		out[m.ID] = ic.Event{ID: ic.Position(m.ID), Type: ev.Type, Chat: ev.Chat, Message: ev.Message, Body: ev.Body}
	}
	return out
}

// hooks is an inspector of the webhook deliveries' lane.
func (s *system) hooks() *queue.Inspector {
	return queue.NewInspector(s.rdb, queue.NewKeys(s.prefix, hookPartitions).Hooks())
}

// drainHooks waits until no delivery is pending, in flight or waiting to be
// retried (dead ones aside).
func (s *system) drainHooks(t *testing.T, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		depths, err := s.hooks().Depths(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		var left int64
		for _, d := range depths {
			left += d.Pending + d.Processing + d.Retry
		}
		if left == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d deliveries still queued after %v: %+v", left, within, depths)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// hooksDead counts the dead deliveries.
func (s *system) hooksDead(t *testing.T) int64 {
	t.Helper()
	depths, err := s.hooks().Depths(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var n int64
	for _, d := range depths {
		n += d.Dead
	}
	return n
}

// replayHooksDead replays every dead delivery, as an operator does from the
// queue dashboard.
func (s *system) replayHooksDead(t *testing.T) {
	t.Helper()
	if _, err := s.hooks().ReplayAllDead(context.Background(), -1); err != nil {
		t.Fatalf("replay the dead deliveries: %v", err)
	}
}
