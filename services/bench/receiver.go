package main

import (
	"context"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	ic "github.com/instachat/instachat/client"
)

// The webhooks scenario's receiver is the endpoint of every application's
// one webhook: net/http on loopback, answering 204. It verifies each
// delivery's signature with client.ParseWebhook (a failure is answered 400
// and counted: there must be none), deduplicates by delivery id (deliveries
// are at least once: a repeat is counted, not an error) and notes when the
// message.created events of the timed chats arrive, by chat and number.

// hookKey names a chat to the receiver: the application's index (its
// endpoint is /hook/<index>) and the chat's number.
type hookKey struct {
	app  int
	chat int64
}

// hookChat is one timed chat: when the creates were answered (sub.t201)
// and when their events first arrived at the receiver.
type hookChat struct {
	sub      *subChat
	recv     []int64 // unix ns when number i+1 first arrived; 0: not (yet)
	accepted []int64 // unix ns when the api accepted number i+1 (the event's accepted_at), as first arrived
	dups     int64   // deliveries of its events whose id had arrived before
}

// receiver is the webhook endpoint. Safe for concurrent use.
type receiver struct {
	srv *http.Server
	url string // base: an application's endpoint is url + "/hook/<index>"

	mu      sync.Mutex
	secrets map[int]string // application index → its endpoint's secret
	timed   map[hookKey]*hookChat
	seen    map[string]struct{} // delivery ids
	tot     receiverTotals
}

// receiverTotals is everything the receiver was sent over the run.
type receiverTotals struct {
	requests   int64            // POSTs, verified or not
	deliveries int64            // distinct delivery ids that verified
	dups       int64            // verified deliveries whose id had arrived before
	badSigs    int64            // refused by ParseWebhook
	byType     map[string]int64 // distinct deliveries by event type
	retried    int64            // distinct deliveries first seen on an attempt > 1
}

// startReceiver listens on a free loopback port and serves until close.
func startReceiver() (*receiver, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	r := newReceiver("http://" + ln.Addr().String())
	r.srv = &http.Server{Handler: r, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = r.srv.Serve(ln) }()
	return r, nil
}

func newReceiver(url string) *receiver {
	return &receiver{url: url, secrets: map[int]string{}, timed: map[hookKey]*hookChat{}, seen: map[string]struct{}{},
		tot: receiverTotals{byType: map[string]int64{}}}
}

// endpoint is the URL of application app's webhook.
func (r *receiver) endpoint(app int) string { return r.url + "/hook/" + strconv.Itoa(app) }

// close stops serving; deliveries in flight are cut off.
func (r *receiver) close() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := r.srv.Shutdown(ctx); err != nil {
		_ = r.srv.Close()
	}
}

// setSecret files the secret application app's deliveries are signed with.
func (r *receiver) setSecret(app int, secret string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.secrets[app] = secret
}

// time makes the receiver note the arrivals of c's message.created events.
func (r *receiver) time(app int, c *subChat) *hookChat {
	h := &hookChat{sub: c}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.timed[hookKey{app, c.ref.number}] = h
	return h
}

// ServeHTTP receives one delivery at /hook/<app>.
func (r *receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	at := time.Now()
	rest, ok := strings.CutPrefix(req.URL.Path, "/hook/")
	app, err := strconv.Atoi(rest)
	r.mu.Lock()
	secret, known := r.secrets[app]
	r.tot.requests++
	r.mu.Unlock()
	if req.Method != http.MethodPost || !ok || err != nil || !known {
		http.Error(w, "no such endpoint", http.StatusNotFound)
		return
	}
	ev, d, err := ic.ParseWebhook(req, []string{secret})
	if err != nil {
		r.mu.Lock()
		r.tot.badSigs++
		r.mu.Unlock()
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	r.arrived(app, ev, d, at)
	w.WriteHeader(http.StatusNoContent)
}

// arrived files a verified delivery of ev to application app's endpoint.
func (r *receiver) arrived(app int, ev ic.Event, d ic.Delivery, at time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	h := r.timed[hookKey{app, ev.Chat}]
	if ev.Type != ic.EventMessageCreated || ev.Message <= 0 {
		h = nil
	}
	if _, dup := r.seen[d.ID]; dup {
		r.tot.dups++
		if h != nil {
			h.dups++
		}
		return
	}
	r.seen[d.ID] = struct{}{}
	r.tot.deliveries++
	r.tot.byType[ev.Type]++
	if d.Attempt > 1 {
		r.tot.retried++
	}
	if h == nil {
		return
	}
	for int64(len(h.recv)) < ev.Message {
		h.recv = append(h.recv, 0)
		h.accepted = append(h.accepted, 0)
	}
	if h.recv[ev.Message-1] == 0 { // another delivery id for the same event: the first arrival counts
		h.recv[ev.Message-1] = at.UnixNano()
		if !ev.AcceptedAt.IsZero() {
			h.accepted[ev.Message-1] = ev.AcceptedAt.UnixNano()
		}
	}
}

// totals returns a copy of what the receiver was sent so far.
func (r *receiver) totals() receiverTotals {
	r.mu.Lock()
	defer r.mu.Unlock()
	t := r.tot
	t.byType = map[string]int64{}
	for k, v := range r.tot.byType {
		t.byType[k] = v
	}
	return t
}

// hookTally counts the timed chats' deliveries against their creates.
type hookTally struct {
	expected   int64 // creates answered 201: one delivery each
	received   int64 // of those, events that arrived
	lost       int64 // of those, events that did not
	dups       int64 // deliveries whose id had arrived before
	unanswered int64 // events that arrived of creates whose 201 never came
}

// caughtUp reports whether every answered create of the timed chats has
// its event delivered.
func (r *receiver) caughtUp(chats []*hookChat) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, h := range chats {
		if missing(h) {
			return false
		}
	}
	return true
}

// missing reports whether h has an answered create whose event did not
// arrive. The receiver's lock is held.
func missing(h *hookChat) bool {
	h.sub.mu.Lock()
	defer h.sub.mu.Unlock()
	for i, t := range h.sub.t201 {
		if t != 0 && (i >= len(h.recv) || h.recv[i] == 0) {
			return true
		}
	}
	return false
}

// tally counts what arrived of chats' events; call it once the load ended.
func (r *receiver) tally(chats []*hookChat) hookTally {
	r.mu.Lock()
	defer r.mu.Unlock()
	return tallyHooks(chats)
}

// tallyHooks counts, over chats, the answered creates (one delivery
// expected each), those whose event arrived and those whose did not, the
// duplicates, and the events that arrived of creates never answered.
func tallyHooks(chats []*hookChat) hookTally {
	var t hookTally
	for _, h := range chats {
		h.sub.mu.Lock()
		n := max(len(h.sub.t201), len(h.recv))
		for i := range n {
			answered := i < len(h.sub.t201) && h.sub.t201[i] != 0
			arrived := i < len(h.recv) && h.recv[i] != 0
			switch {
			case answered && arrived:
				t.expected++
				t.received++
			case answered:
				t.expected++
				t.lost++
			case arrived:
				t.unanswered++
			}
		}
		h.sub.mu.Unlock()
		t.dups += h.dups
	}
	return t
}

// latencies is every timed event's time to its first arrival, filed by
// the second from start it began: "delivery" from its create's 201 at the
// load generator (status 0, latency 0, when it arrived before the load
// generator had read the 201), "accepted" from when the api accepted it
// (the event's accepted_at: the same machine's clock).
func (r *receiver) latencies(chats []*hookChat, start time.Time) *recorder {
	r.mu.Lock()
	defer r.mu.Unlock()
	return hookLatencies(chats, start)
}

func hookLatencies(chats []*hookChat, start time.Time) *recorder {
	rec := newRecorder()
	rec.begin(start)
	for _, h := range chats {
		h.sub.mu.Lock()
		for i, at := range h.recv {
			if at == 0 {
				continue
			}
			if i < len(h.accepted) && h.accepted[i] != 0 {
				rec.record("accepted", time.Unix(0, h.accepted[i]), max(0, time.Duration(at-h.accepted[i])), 200)
			}
			if i >= len(h.sub.t201) || h.sub.t201[i] == 0 {
				continue
			}
			t201 := h.sub.t201[i]
			lat, status := time.Duration(at-t201), 200
			if lat < 0 {
				lat, status = 0, 0
			}
			rec.record("delivery", time.Unix(0, t201), lat, status)
		}
		h.sub.mu.Unlock()
	}
	return rec
}
