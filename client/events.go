package client

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"iter"
	"mime"
	"net/http"
	"time"
)

// Position is where an event sits in the api's event stream: its id,
// "<generation>-<sequence>", to be kept and handed back, never parsed. The
// zero Position subscribes from now.
type Position string

// Event is one change to an application, as the api accepted it.
type Event struct {
	// ID is the event's position: subscribing from it continues after it.
	ID Position
	// Type is one of the Event* constants. Types may be added: skip the
	// ones you do not know.
	Type string
	// Chat is the chat's number; Message the message's, 0 for chat events.
	Chat, Message int64
	// Body is the new body of a created or updated message, else "".
	Body string
	// AcceptedAt is when the api accepted the write.
	AcceptedAt time.Time
}

// The types of Event.
const (
	EventChatCreated    = "chat.created"
	EventChatDeleted    = "chat.deleted"
	EventMessageCreated = "message.created"
	EventMessageUpdated = "message.updated"
	EventMessageDeleted = "message.deleted"
	// EventReset says the events between the position subscribed from and
	// this event's ID cannot be served any more (beyond the api's
	// retention, or Redis lost them): reload what you show through History
	// or Messages, then keep consuming; the sequence goes on after ID.
	EventReset = "reset"
)

// defaultHeartbeat is the api's EVENTS_HEARTBEAT.
const defaultHeartbeat = 15 * time.Second

// Subscribe yields the events of one chat from the position from on ("":
// from now), reconnecting and resuming after the last event yielded
// whenever the connection ends, breaks or goes silent for three heartbeats
// (see WithHeartbeat), so no event is skipped or repeated. It ends after
// the chat's own EventChatDeleted.
//
// An event of Type EventReset means the api could not fill a gap: reload
// the chat through History and keep consuming. Reconnects back off with
// full jitter (Base and Max of the client's RetryPolicy, never sooner than
// a Retry-After) and go on until ctx ends, which ends the sequence quietly;
// a reconnect after a slow-consumer overflow is immediate. An answer that
// a retry would not change (ErrNotFound for a chat never created or long
// deleted, ErrInvalid for a malformed position, a 500) is yielded as an
// *Error with an Event whose ID is where to resume, and ends the sequence.
//
// The loop reads the stream while you handle an event: a consumer slower
// than the chat makes the api close the stream, and the subscription
// resumes where it was.
func (a *App) Subscribe(ctx context.Context, chat int64, from Position) iter.Seq2[Event, error] {
	return a.subscribe(ctx, "GET "+routeChat+"/events", a.path("chats", num(chat), "events"), chat, from)
}

// SubscribeAll yields the events of every chat of the application, as
// Subscribe does for one.
func (a *App) SubscribeAll(ctx context.Context, from Position) iter.Seq2[Event, error] {
	return a.subscribe(ctx, "GET "+routeApp+"/events", a.path("events"), 0, from)
}

func (a *App) subscribe(ctx context.Context, op, path string, chat int64, from Position) iter.Seq2[Event, error] {
	return func(yield func(Event, error) bool) {
		s := &stream{c: a.c, op: op, target: a.c.base + path, chat: chat, last: from}
		s.run(ctx, yield)
	}
}

// stream is one subscription across its connections. Its loop owns every
// request it makes: nothing outlives the iterator.
type stream struct {
	c      *Client
	op     string
	target string
	chat   int64         // Subscribe's chat; 0 for SubscribeAll
	last   Position      // where the next connection resumes
	retry  time.Duration // the api's retry: field, which raises the backoff base
}

// ending is how one connection ended.
type ending struct {
	err        error // final: yielded, and the sequence ends
	done       bool  // the consumer stopped, or the stream is over
	connected  bool  // the stream got its first frame: failures start over
	now        bool  // reconnect without waiting (overflow)
	retryAfter time.Duration
}

func (s *stream) run(ctx context.Context, yield func(Event, error) bool) {
	p := s.c.retry.withDefaults()
	failures := 0
	for {
		e := s.connect(ctx, yield)
		if ctx.Err() != nil || e.done {
			return
		}
		if e.err != nil {
			yield(Event{ID: s.last}, e.err)
			return
		}
		if e.connected {
			failures = 0
		}
		if e.now {
			continue
		}
		failures++
		q := p
		if s.retry > q.Base {
			q.Base = min(s.retry, q.Max)
		}
		if sleep(ctx, q.backoff(failures, e.retryAfter)) != nil {
			return
		}
	}
}

// connect opens one connection and yields its events until it ends. Not
// RetryPolicy.AttemptTimeout, which would cut a healthy stream: a timer of
// three heartbeats, reset by every line, cancels a connection gone silent.
func (s *stream) connect(ctx context.Context, yield func(Event, error) bool) ending {
	rctx, cancel := context.WithCancel(ctx)
	defer cancel()
	silence := 3 * s.c.heartbeat
	idle := time.AfterFunc(silence, cancel)
	defer idle.Stop()
	req, err := http.NewRequestWithContext(rctx, http.MethodGet, s.target, nil)
	if err != nil {
		return ending{err: fmt.Errorf("instachat: %s: %w", s.op, stripURL(err))}
	}
	req.Header.Set("Accept", "text/event-stream")
	req.Header.Set("Cache-Control", "no-cache")
	if s.last != "" {
		req.Header.Set("Last-Event-ID", string(s.last))
	}
	if s.c.ua != "" {
		req.Header.Set("User-Agent", s.c.ua)
	}
	resp, err := s.c.hc.Do(req)
	if err != nil {
		return ending{} // a network error or silence: reconnect
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		e := apiError(s.op, answer{status: resp.StatusCode, header: resp.Header, body: b})
		if retryableStatus(resp.StatusCode) {
			return ending{retryAfter: e.RetryAfter}
		}
		return ending{err: e}
	}
	if mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type")); mt != "text/event-stream" {
		return ending{err: fmt.Errorf("instachat: %s: the answer is %q, not an event stream", s.op, mt)}
	}
	r := newSSEReader(resp.Body, func() { idle.Reset(silence) })
	r.retry = s.retry // a retry: field holds until the api sends another
	// The consumer's time with an event is not the api's silence.
	paused := func(ev Event, err error) bool {
		idle.Stop()
		defer idle.Reset(silence)
		return yield(ev, err)
	}
	connected := false
	for {
		f, err := r.next()
		s.retry = r.retry
		if err == errLineTooLong {
			return ending{err: fmt.Errorf("instachat: %s: %w", s.op, err)}
		}
		if err != nil {
			return ending{connected: connected} // EOF, a cut, silence: resume
		}
		e := s.dispatch(f, paused)
		if e.err != nil || e.done || e.now {
			e.connected = true
			return e
		}
		connected = true
	}
}

// wireEvent is an event's JSON, control events' included.
type wireEvent struct {
	ID         Position  `json:"id"`
	Type       string    `json:"type"`
	Chat       int64     `json:"chat"`
	Message    int64     `json:"message"`
	Body       string    `json:"body"`
	AcceptedAt time.Time `json:"accepted_at"`
}

// dispatch handles one frame: ready and heartbeats move nothing but the
// position, overflow asks for a reconnect, the rest is yielded.
func (s *stream) dispatch(f frame, yield func(Event, error) bool) ending {
	if !f.hasData {
		if f.hasID {
			s.last = Position(f.id)
		}
		return ending{}
	}
	var w wireEvent
	if err := json.Unmarshal([]byte(f.data), &w); err != nil {
		return ending{err: fmt.Errorf("instachat: %s: event after %q: %w", s.op, s.last, err)}
	}
	if w.Type == "" {
		w.Type = f.event
	}
	if f.hasID {
		w.ID = Position(f.id)
	}
	switch w.Type {
	case "heartbeat":
		return ending{}
	case "overflow":
		// The api dropped us as a slow consumer after the last frame we
		// read whole: resume from our own position at once.
		return ending{now: true}
	case "ready":
		if w.ID != "" {
			s.last = w.ID
		}
		return ending{}
	}
	if w.ID != "" {
		s.last = w.ID
	}
	ev := Event{ID: w.ID, Type: w.Type, Chat: w.Chat, Message: w.Message, Body: w.Body, AcceptedAt: w.AcceptedAt}
	if !yield(ev, nil) {
		return ending{done: true}
	}
	if s.chat != 0 && ev.Type == EventChatDeleted && ev.Chat == s.chat {
		return ending{done: true} // nothing can follow a chat's deletion
	}
	return ending{}
}
