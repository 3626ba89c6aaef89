package live

import (
	"context"
	"errors"
	"net/http"
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

// sse writes Server-Sent Events on the response.
type sse struct {
	w   http.ResponseWriter
	rc  *http.ResponseController
	ctx context.Context
}

// openSSE sends the headers and the retry field. It lifts the server's read
// and write timeouts, which would end a stream at 30 s (each batch gets its
// own write deadline instead).
func openSSE(w http.ResponseWriter, r *http.Request) (*sse, error) {
	rc := http.NewResponseController(w)
	for _, err := range []error{rc.SetReadDeadline(time.Time{}), rc.SetWriteDeadline(time.Time{})} {
		if err != nil && !errors.Is(err, http.ErrNotSupported) {
			return nil, err
		}
	}
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no") // nginx: do not buffer the stream
	w.WriteHeader(http.StatusOK)
	s := &sse{w: w, rc: rc, ctx: r.Context()}
	if _, err := w.Write(sseRetry); err != nil {
		return nil, err
	}
	return s, s.flush()
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
