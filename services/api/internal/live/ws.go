package live

import (
	"context"
	"net/http"
	"time"

	"github.com/coder/websocket"
)

// Close codes of a WebSocket stream's end.
const (
	closeSlowConsumer websocket.StatusCode = 4008 // overflow: resume after the overflow frame's id
)

// ws writes frames as WebSocket text messages.
type ws struct {
	c      *websocket.Conn
	ctx    context.Context // ends when the client closes or goes away
	wctx   context.Context // the current batch's deadline
	cancel context.CancelFunc
}

// openWS completes the handshake. The credential is the token in the path,
// never an ambient cookie, so a page of another origin gains nothing from
// opening the socket: origins are not checked. Compression stays off: it
// costs memory per connection and events are small. Hijacking clears the
// server's deadlines; each batch has its own.
func openWS(w http.ResponseWriter, r *http.Request) (*ws, error) {
	c, err := websocket.Accept(w, r, &websocket.AcceptOptions{InsecureSkipVerify: true, CompressionMode: websocket.CompressionDisabled})
	if err != nil {
		return nil, err // Accept answered the request
	}
	// Clients send nothing; CloseRead answers pings and close frames.
	return &ws{c: c, ctx: c.CloseRead(r.Context())}, nil
}

func (s *ws) name() string          { return transportWS }
func (s *ws) done() <-chan struct{} { return s.ctx.Done() }

// begin bounds the batch's writes by one context (coder/websocket has no
// write deadline of its own).
func (s *ws) begin(deadline time.Time) {
	s.wctx, s.cancel = context.WithDeadline(s.ctx, deadline)
}

func (s *ws) write(f *frame) error { return s.c.Write(s.wctx, websocket.MessageText, f.ws) }

// flush ends the batch: each message was sent whole by write.
func (s *ws) flush() error {
	s.cancel()
	return nil
}

func (s *ws) end(why ending) {
	if s.cancel != nil {
		s.cancel()
	}
	switch why {
	case endOverflow:
		_ = s.c.Close(closeSlowConsumer, "slow consumer")
	case endShutdown:
		_ = s.c.Close(websocket.StatusServiceRestart, "service restart")
	case endChatGone:
		_ = s.c.Close(websocket.StatusNormalClosure, "chat deleted")
	case endFailed:
		_ = s.c.Close(websocket.StatusTryAgainLater, "events unavailable; resume later")
	default:
		_ = s.c.CloseNow()
	}
}
