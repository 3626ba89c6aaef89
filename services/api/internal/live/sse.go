package live

import (
	"context"
	"errors"
	"net"
	"net/http"
	"sync"
	"time"
)

const (
	transportSSE = "sse"
	transportWS  = "ws"
)

// transport writes frames to one client; the write loop calls begin, write
// (any number of times) and flush once per batch.
type transport interface {
	name() string
	// done ends when the client went away.
	done() <-chan struct{}
	begin(deadline time.Time)
	write(f *frame) error
	flush() error
	// end closes the stream for the given reason.
	end(why ending)
}

// ending is why a stream ends.
type ending uint8

const (
	endNone     ending = iota
	endError           // a write failed (timeout, or a dead peer)
	endGone            // the client went away
	endOverflow        // slow consumer
	endShutdown        // the server is going away
	endChatGone        // the chat was deleted
	endFailed          // Redis failed while resuming
)

// sse writes Server-Sent Events through net/http's response: the path for
// HTTP/2 (one stream of a shared connection) and for servers that cannot
// hand the connection over.
type sse struct {
	w   http.ResponseWriter
	rc  *http.ResponseController
	ctx context.Context
}

// openSSE sends the headers and the retry field. An HTTP/1 connection is
// taken over (connSSE); otherwise it lifts the server's read and write
// timeouts, which would end a stream at 30 s (each batch gets its own write
// deadline instead).
func openSSE(w http.ResponseWriter, r *http.Request) (transport, error) {
	rc := http.NewResponseController(w)
	if r.ProtoMajor == 1 {
		s, err := hijackSSE(w, rc)
		if err == nil {
			return s, nil
		}
		if !errors.Is(err, http.ErrNotSupported) {
			return nil, err
		}
	}
	for _, err := range []error{rc.SetReadDeadline(time.Time{}), rc.SetWriteDeadline(time.Time{})} {
		if err != nil && !errors.Is(err, http.ErrNotSupported) {
			return nil, err
		}
	}
	sseHeader(w.Header())
	w.WriteHeader(http.StatusOK)
	s := &sse{w: w, rc: rc, ctx: r.Context()}
	if _, err := w.Write(sseRetry); err != nil {
		return nil, err
	}
	return s, s.flush()
}

// sseHeader sets an event stream's response headers.
func sseHeader(h http.Header) {
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no") // nginx: do not buffer the stream
}

func (s *sse) name() string          { return transportSSE }
func (s *sse) done() <-chan struct{} { return s.ctx.Done() }

func (s *sse) begin(deadline time.Time) {
	_ = s.rc.SetWriteDeadline(deadline) // unsupported only under test recorders
}

func (s *sse) write(f *frame) error {
	_, err := s.w.Write(f.sse)
	return err
}

func (s *sse) flush() error { return s.rc.Flush() }

// end returns: the handler's return ends the response (EventSource then
// reconnects with Last-Event-ID).
func (s *sse) end(ending) {}

// connSSE writes Server-Sent Events straight onto an HTTP/1 connection taken
// over from net/http. A stream held through net/http keeps, for as long as it
// is open, its handler goroutine (with the middleware's frames on its stack),
// the server's background reader, a 4 KiB read buffer, 4 KiB and 2 KiB write
// buffers and the request's state: about 40 KiB of RSS a subscriber, measured
// at 10,000 (docs/benchmarks/2026-11-28-1114-subscribe.md). Taken over, the
// handler returns and a stream holds the connection and one goroutine that
// writes (frames are already encoded and shared: one writev a batch, no
// buffer of its own). The hub's heartbeat ticker notices a client hanging up
// (hangups); a connection it cannot probe gets a goroutine blocked in Read.
//
// The response has no length and no chunking: it ends when the connection
// closes (RFC 9112 §6.3), which is how an event stream ends anyway.
type connSSE struct {
	conn   net.Conn
	gone   chan struct{} // closed when the client hung up
	hungUp sync.Once
	probe  func(buf []byte) bool // reports a hang-up without blocking; nil: watch instead
	bufs   net.Buffers           // the batch being written
}

// hijackSSE takes the connection over and writes the response head with the
// headers the middleware set. http.ErrNotSupported: the connection cannot be
// taken over (HTTP/2, or a writer that does not allow it).
func hijackSSE(w http.ResponseWriter, rc *http.ResponseController) (*connSSE, error) {
	h := w.Header().Clone()
	conn, brw, err := rc.Hijack()
	if err != nil {
		return nil, err
	}
	sseHeader(h)
	h.Set("Connection", "close")
	h.Del("Content-Length")
	h.Del("Transfer-Encoding")
	h.Set("Date", time.Now().UTC().Format(http.TimeFormat))
	_ = conn.SetDeadline(time.Now().Add(DefaultWriteTimeout))
	_, _ = brw.WriteString("HTTP/1.1 200 OK\r\n")
	_ = h.Write(brw)
	_, _ = brw.WriteString("\r\n")
	_, _ = brw.Write(sseRetry)
	if err := brw.Flush(); err != nil {
		_ = conn.Close()
		return nil, err
	}
	_ = conn.SetDeadline(time.Time{})
	return &connSSE{conn: conn, gone: make(chan struct{}), probe: probeOf(conn)}, nil
}

// hangUp ends done.
func (s *connSSE) hangUp() { s.hungUp.Do(func() { close(s.gone) }) }

// watch waits for the client to hang up. Clients send nothing once the
// request is made; anything they do send is discarded.
func (s *connSSE) watch() {
	defer s.hangUp()
	var b [64]byte
	for {
		if _, err := s.conn.Read(b[:]); err != nil {
			return
		}
	}
}

func (s *connSSE) name() string          { return transportSSE }
func (s *connSSE) done() <-chan struct{} { return s.gone }

func (s *connSSE) begin(deadline time.Time) { _ = s.conn.SetWriteDeadline(deadline) }

func (s *connSSE) write(f *frame) error {
	s.bufs = append(s.bufs, f.sse)
	return nil
}

// flush writes the batch with one writev (net.Buffers).
func (s *connSSE) flush() error {
	b := s.bufs
	_, err := b.WriteTo(s.conn)
	clear(s.bufs)
	s.bufs = s.bufs[:0]
	return err
}

// end writes what is left of the batch (the overflow frame) and closes the
// connection, which ends the response; EventSource reconnects with
// Last-Event-ID.
func (s *connSSE) end(ending) {
	if len(s.bufs) > 0 {
		_ = s.flush()
	}
	_ = s.conn.Close()
}
