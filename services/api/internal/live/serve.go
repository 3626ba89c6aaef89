package live

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/instachat/instachat/pkg/events"
)

// From reads where a stream resumes: the Last-Event-ID header (EventSource
// sends it on reconnect, so it wins), else the after query parameter; nil
// when neither is set. A malformed position is an error (events.ErrPosition).
func From(r *http.Request) (*events.Position, error) {
	s := r.Header.Get("Last-Event-ID")
	if s == "" {
		if _, ok := r.URL.Query()["after"]; !ok {
			return nil, nil
		}
		s = r.URL.Query().Get("after")
	}
	p, err := events.Parse(s)
	if err != nil {
		return nil, err
	}
	return &p, nil
}

// Serve streams f's events to the client, over WebSocket when the request
// asks to upgrade, else as Server-Sent Events, until the client goes away,
// it falls too far behind, or the hub closes. from is the position to resume
// after (nil: from now). The caller has checked that f names an application
// and chat that exist.
//
// A stream whose transport holds its connection itself (SSE over HTTP/1)
// goes on in a goroutine of the hub once it has joined, and Serve returns:
// net/http then frees what it kept for the request.
func (h *Hub) Serve(w http.ResponseWriter, r *http.Request, f Filter, from *events.Position) {
	st, done := h.begin(w, r, f, true)
	if st == nil {
		return
	}
	p0 := st.sh.register(st.s)
	end := func(why ending) {
		st.finish(why)
		st.sh.unregister(st.s)
		done()
	}
	if why := st.join(r.Context(), from, p0); why != endNone {
		end(why)
		return
	}
	c, ok := st.t.(*connSSE)
	switch {
	case h.shuttingDown(): // registered after CloseAll closed the streams it found
		end(endShutdown)
	case !ok:
		end(st.live())
	default:
		h.hangups.follow(c)
		if !h.detach(func() { end(st.live()); h.hangups.forget(c) }) {
			h.hangups.forget(c)
			end(endShutdown)
		}
	}
}

// begin takes a stream slot, waits for the partition's reader when the
// stream will follow it (live), and opens the transport. It returns nil when
// the stream was refused (and answered); done releases what it took.
func (h *Hub) begin(w http.ResponseWriter, r *http.Request, f Filter, live bool) (st *stream, done func()) {
	if err := h.acquire(f.App); err != nil {
		status := http.StatusTooManyRequests
		if errors.Is(err, errClosing) {
			status = http.StatusServiceUnavailable
		}
		refuse(w, status, err.Error())
		return nil, nil
	}
	p, sh := h.shardOf(f.App)
	if live {
		t := time.NewTimer(startWaitOf)
		defer t.Stop()
		select {
		case <-sh.ready:
		case <-r.Context().Done():
			h.release(f.App)
			return nil, nil
		case <-t.C:
			h.release(f.App)
			refuse(w, http.StatusServiceUnavailable, "live events are not available yet (Redis); try again shortly")
			return nil, nil
		}
	}
	tr, err := h.open(w, r)
	if err != nil {
		h.release(f.App)
		h.log.DebugContext(r.Context(), "live events: open stream", "err", err)
		return nil, nil
	}
	h.metrics.subscribed(tr.name(), f.scope(), 1)
	st = &stream{h: h, p: p, sh: sh, s: newSub(f, tr.name(), h.cfg.Buffer), t: tr}
	return st, func() {
		h.metrics.subscribed(tr.name(), f.scope(), -1)
		h.release(f.App)
	}
}

// open starts the transport the request asks for.
func (h *Hub) open(w http.ResponseWriter, r *http.Request) (transport, error) {
	if wantsWebSocket(r) {
		return openWS(w, r)
	}
	return openSSE(w, r)
}

func wantsWebSocket(r *http.Request) bool {
	for _, v := range r.Header.Values("Upgrade") {
		for tok := range strings.SplitSeq(v, ",") {
			if strings.EqualFold(strings.TrimSpace(tok), "websocket") {
				return true
			}
		}
	}
	return false
}

// refuse answers a stream that cannot start with a JSON error.
func refuse(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Retry-After", "2")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"error": msg})
}

// stream is one subscriber's write side, run by its handler goroutine.
type stream struct {
	h        *Hub
	p        int
	sh       *shard
	s        *sub
	t        transport
	last     events.Position // of the last event, ready or reset written
	buf      []*frame
	accepted []time.Time
	err      error // the write that failed
}

// live writes what the shard hands the stream until it ends: drain all,
// one deadline and one flush per wake-up.
func (st *stream) live() ending {
	for {
		select {
		case <-st.s.notify:
		case <-st.t.done():
			return endGone
		}
		frames, fl := st.s.take(st.buf[:0])
		why := st.writeBatch(frames, fl)
		clear(frames)
		st.buf = frames[:0]
		if why != endNone {
			return why
		}
	}
}

// writeBatch writes frames, skipping events at or before the last position
// written, then the overflow frame or a heartbeat if called for, and flushes.
func (st *stream) writeBatch(frames []*frame, fl flags) ending {
	st.t.begin(time.Now().Add(st.h.cfg.WriteTimeout))
	st.accepted = st.accepted[:0]
	wrote, why := false, endNone
	for _, f := range frames {
		if f.kind == kindEvent && !after(f, st.last) {
			continue
		}
		if err := st.t.write(f); err != nil {
			return st.failed(err)
		}
		wrote, st.last = true, f.pos
		if f.kind != kindEvent {
			continue
		}
		st.accepted = append(st.accepted, f.accepted)
		if f.typ == events.ChatDeleted && st.s.filter.Chat != 0 {
			why = endChatGone // the chat's last event
			break
		}
	}
	switch {
	case why != endNone:
	case fl.overflow:
		if err := st.t.write(controlFrame(kindOverflow, st.last)); err != nil {
			return st.failed(err)
		}
		why = endOverflow
	case fl.closed:
		why = endShutdown
	case fl.beat && !wrote:
		if err := st.t.write(heartbeat); err != nil {
			return st.failed(err)
		}
	}
	if err := st.t.flush(); err != nil {
		return st.failed(err)
	}
	now := time.Now()
	st.s.lastWrite.Store(now.UnixNano())
	st.h.metrics.flushed(st.t.name(), st.accepted, now)
	return why
}

// failed ends the stream after a failed write.
func (st *stream) failed(err error) ending {
	st.err = err
	return endError
}

// finish closes the stream and counts why it was dropped, if it was.
func (st *stream) finish(why ending) {
	switch {
	case why == endOverflow:
		st.h.metrics.drop("slow")
	case why == endError && (errors.Is(st.err, os.ErrDeadlineExceeded) || errors.Is(st.err, context.DeadlineExceeded)):
		st.h.metrics.drop("write_timeout") // not a peer that went away
	}
	// A fresh deadline: the last batch's may have passed, and the end
	// (SSE's last chunk, WebSocket's close frame) is a write too.
	st.t.begin(time.Now().Add(st.h.cfg.WriteTimeout))
	st.t.end(why)
}
