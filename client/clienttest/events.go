package clienttest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// The fake's event stream: one generation (1) for the whole fake, positions
// 1-1, 1-2, 1-3… in the order writes were applied, the newest
// eventsRetain kept. The api has a generation per partition and Redis time
// for it; a client must not read anything into the numbers.
const (
	fakeGen      = 1
	eventsRetain = 10000
	heartbeat    = 15 * time.Second
)

// eventLog is every application's events, under fake.mu.
type eventLog struct {
	first  uint64 // the sequence of events[0]; the next one when empty
	events []logged
	wake   chan struct{} // closed and replaced by every append
}

// logged is one event, its SSE frame encoded once.
type logged struct {
	seq   uint64
	app   string
	chat  int64
	typ   string
	frame []byte
}

// eventJSON is an event as the api sends it; chat events omit message,
// deletes omit body.
type eventJSON struct {
	ID         string  `json:"id"`
	Type       string  `json:"type"`
	Chat       int64   `json:"chat,omitempty"`
	Message    int64   `json:"message,omitempty"`
	Body       *string `json:"body,omitempty"`
	AcceptedAt string  `json:"accepted_at,omitempty"`
}

func position(seq uint64) string { return fmt.Sprintf("%d-%d", fakeGen, seq) }

// head is the position of the newest event, seq 0 before any.
func (l *eventLog) head() uint64 { return l.first + uint64(len(l.events)) - 1 }

// emit appends an event of application a, at the time its write was
// applied, and returns its sequence. Only writes that took effect emit: an
// idempotent replay returns before its handler runs. A type the
// application's settings leave out is not appended at all (the newest
// sequence is returned), so positions stay contiguous.
func (f *fake) emit(a *app, typ string, chat, msg int64, body *string, at time.Time) uint64 {
	l := &f.log
	if !a.settings.emits(typ) {
		return l.head()
	}
	seq := l.head() + 1
	ev := eventJSON{ID: position(seq), Type: typ, Chat: chat, Message: msg, Body: body,
		AcceptedAt: at.UTC().Format("2006-01-02T15:04:05.000000Z07:00")}
	l.events = append(l.events, logged{seq: seq, app: a.token, chat: chat, typ: typ, frame: sseFrame(ev.ID, typ, ev)})
	if n := len(l.events) - eventsRetain; n > eventsRetain/4 {
		l.events = append([]logged(nil), l.events[n:]...)
		l.first += uint64(n)
	}
	close(l.wake)
	l.wake = make(chan struct{})
	return seq
}

// positioned adds Event-Position to a read: the fake applies writes at
// once, so the read shows every event up to the newest.
func (f *fake) positioned(rep reply) reply {
	rep.header = http.Header{"Event-Position": {position(f.log.head())}}
	return rep
}

func sseFrame(id, typ string, v any) []byte {
	b, _ := json.Marshal(v)
	var s strings.Builder
	if id != "" {
		s.WriteString("id: " + id + "\n")
	}
	s.WriteString("event: " + typ + "\ndata: ")
	s.Write(b)
	s.WriteString("\n\n")
	return []byte(s.String())
}

// parsePosition reads "<gen>-<seq>": decimal, no sign, no leading zeros.
func parsePosition(s string) (gen, seq uint64, ok bool) {
	g, q, found := strings.Cut(s, "-")
	if !found {
		return 0, 0, false
	}
	dec := func(s string) (uint64, bool) {
		n, err := strconv.ParseUint(s, 10, 64)
		return n, err == nil && s == strconv.FormatUint(n, 10)
	}
	gen, ok1 := dec(g)
	seq, ok2 := dec(q)
	return gen, seq, ok1 && ok2
}

// subscription is where a stream starts and what it shows.
type subscription struct {
	app   string
	chat  int64  // 0: every chat
	after uint64 // the stream goes on after this sequence
	ready string // the ready frame's id
	reset bool   // the position asked for cannot be served: reset to after
	wake  chan struct{}
}

// start resolves a subscription request under the lock: a reply is the 400
// or 404 to answer instead. Last-Event-ID wins over ?after=.
func (f *fake) start(r *http.Request) (subscription, *reply) {
	raw, resume := r.Header.Get("Last-Event-ID"), true
	if raw == "" {
		raw, resume = r.URL.Query().Get("after"), r.URL.Query().Has("after")
	}
	var gen, seq uint64
	if resume {
		var good bool
		if gen, seq, good = parsePosition(raw); !good {
			rep := fail(http.StatusBadRequest, "Last-Event-ID and after must be an event id <generation>-<sequence>")
			return subscription{}, &rep
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	a := f.apps[r.PathValue("token")]
	if a == nil {
		rep := fail(http.StatusNotFound, "application not found")
		return subscription{}, &rep
	}
	l := &f.log
	s := subscription{app: a.token, after: l.head(), ready: position(l.head()), wake: l.wake}
	if resume {
		s.ready = raw
		if gen == fakeGen && seq <= l.head() && seq+1 >= l.first {
			s.after = seq
		} else {
			s.reset = true // another generation, ahead of the log, or trimmed
		}
	}
	if r.PathValue("chat") != "" {
		n, bad := number(request{Request: r}, "chat")
		if bad != nil {
			return subscription{}, bad
		}
		c := a.chats[n]
		// A deleted chat streams only to a resume from before its deletion,
		// which ends with the chat.deleted.
		if c == nil || (c.deleted && (s.reset || s.after >= c.deletedSeq)) {
			rep := fail(http.StatusNotFound, "chat not found")
			return subscription{}, &rep
		}
		s.chat = n
	}
	return s, nil
}

// events serves both event routes as server-sent events: retry, ready,
// reset when the position cannot be served, then every matching event after
// the position, live, with a heartbeat comment when idle.
func (f *fake) events(w http.ResponseWriter, r *http.Request) {
	s, bad := f.start(r)
	if bad != nil {
		send(w, bad.status, encode(bad.body))
		return
	}
	rc := http.NewResponseController(w)
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	w.Header().Set("X-Request-ID", newID(8))
	w.WriteHeader(http.StatusOK)
	out := []byte("retry: 1000\n\n")
	out = append(out, sseFrame(s.ready, "ready", map[string]string{"type": "ready", "id": s.ready})...)
	if s.reset {
		id := position(s.after)
		out = append(out, sseFrame(id, "reset", map[string]string{"type": "reset", "id": id})...)
	}
	hb := time.NewTicker(heartbeat)
	defer hb.Stop()
	for {
		if len(out) > 0 {
			if _, err := w.Write(out); err != nil || rc.Flush() != nil {
				return
			}
		}
		frames, last := f.batch(&s)
		if last {
			_, _ = w.Write(frames)
			_ = rc.Flush()
			return
		}
		if out = frames; len(out) > 0 {
			continue
		}
		select {
		case <-s.wake:
		case <-hb.C:
			out = []byte(": hb\n\n")
		case <-r.Context().Done():
			return
		case <-f.done:
			return // the server is closing: streams end, as the api's do on shutdown
		}
	}
}

// batch takes up to 100 frames for s after s.after and moves s on. last
// says the stream ends with them: s fell behind the retention (an
// overflow, as the api drops a subscriber that slow), or its chat's
// chat.deleted is among them. With none, s.wake is the log's to wait on.
func (f *fake) batch(s *subscription) (out []byte, last bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	l := &f.log
	s.wake = l.wake
	if s.after+1 < l.first {
		id := position(s.after)
		return sseFrame("", "overflow", map[string]string{"type": "overflow", "id": id}), true
	}
	for i, taken := int(s.after+1-l.first), 0; i < len(l.events) && taken < 100; i++ {
		e := l.events[i]
		s.after = e.seq
		if e.app != s.app || (s.chat != 0 && e.chat != s.chat) {
			continue
		}
		out = append(out, e.frame...)
		taken++
		if s.chat != 0 && e.typ == "chat.deleted" {
			return out, true
		}
	}
	return out, false
}
