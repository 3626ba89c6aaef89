package live

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/instachat/instachat/pkg/events"
	"github.com/instachat/instachat/pkg/queue"
)

// wsConn is a WebSocket subscription.
type wsConn struct{ c *websocket.Conn }

func (r *rig) openWS(t *testing.T, app string, chat int64, after string) *wsConn {
	t.Helper()
	u := "ws" + strings.TrimPrefix(r.url, "http") + "/?app=" + app + "&chat=" + strconv.FormatInt(chat, 10)
	if after != "" {
		u += "&after=" + after
	}
	c, res, err := websocket.Dial(context.Background(), u, nil)
	if err != nil {
		t.Fatalf("dial %s: %v (%v)", u, err, res)
	}
	c.SetReadLimit(1 << 20)
	t.Cleanup(func() { _ = c.CloseNow() })
	return &wsConn{c}
}

// next reads one message as "type id".
func (w *wsConn) next(t *testing.T) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	typ, b, err := w.c.Read(ctx)
	if err != nil {
		return "", err
	}
	if typ != websocket.MessageText {
		t.Fatalf("got a %v message, want text", typ)
	}
	var v struct{ Type, ID string }
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("message %s: %v", b, err)
	}
	return v.Type + " " + v.ID, nil
}

func (w *wsConn) expect(t *testing.T, want ...string) {
	t.Helper()
	for i, x := range want {
		got, err := w.next(t)
		if err != nil || got != x {
			t.Fatalf("message %d: got %q, %v; want %q", i, got, err, x)
		}
	}
}

func TestWebSocketStreamAndResume(t *testing.T) {
	r := newRig(t, Config{}, 1, true)
	c := r.openWS(t, "A", 1, "")
	c.expect(t, "ready 0-0")
	a := r.add(t, queue.TypeChatCreate, "A", 1, 0, "")
	r.add(t, queue.TypeChatCreate, "A", 2, 0, "")
	b := r.add(t, queue.TypeMessageCreate, "A", 1, 1, "hi")
	c.expect(t, ev("chat.created", a), ev("message.created", b))
	_ = c.c.CloseNow()

	m := r.add(t, queue.TypeMessageUpdate, "A", 1, 1, "edited")
	again := r.openWS(t, "A", 1, b.String())
	again.expect(t, "ready "+b.String(), ev("message.updated", m))
	// Counted once the batch is flushed, which the client may see first.
	r.waitMetricAtLeast(t, 3, "instachat_events_delivered_total", "transport", "ws") // the first socket may take m before the server sees it closed

	r.hub.CloseAll()
	if _, err := again.next(t); websocket.CloseStatus(err) != websocket.StatusServiceRestart {
		t.Errorf("after CloseAll: got %v, want close 1012", err)
	}
}

func TestWebSocketOverflowCloses4008(t *testing.T) {
	r := newRig(t, Config{Buffer: 4}, 1, true)
	c := r.openWS(t, "A", 1, "")
	c.expect(t, "ready 0-0")
	big := strings.Repeat("x", 64<<10)
	var ids []events.Position
	for i := range 300 {
		ids = append(ids, r.add(t, queue.TypeMessageCreate, "A", 1, int64(i+1), big))
	}
	r.waitRead(t, 0, ids[len(ids)-1])
	time.Sleep(200 * time.Millisecond)
	var last string
	for i := 0; ; i++ {
		got, err := c.next(t)
		if err != nil {
			if websocket.CloseStatus(err) != closeSlowConsumer {
				t.Fatalf("after %d events: got %v, want close 4008", i, err)
			}
			var ce websocket.CloseError
			if errors.As(err, &ce) && ce.Reason != "slow consumer" {
				t.Errorf("close reason: got %q", ce.Reason)
			}
			break
		}
		if strings.HasPrefix(got, "overflow ") {
			if want := "overflow " + last; got != want {
				t.Fatalf("got %q, want %q", got, want)
			}
			continue
		}
		if want := ev("message.created", ids[i]); got != want {
			t.Fatalf("event %d: got %q, want %q", i, got, want)
		}
		last = ids[i].String()
	}
	if last == "" || last == ids[len(ids)-1].String() {
		t.Fatalf("last delivered %q: want an overflow in the middle", last)
	}
}

func TestDeletedChatReplaysUpToItsEnd(t *testing.T) {
	r := newRig(t, Config{}, 1, true)
	c := r.add(t, queue.TypeChatCreate, "A", 1, 0, "")
	r.add(t, queue.TypeChatCreate, "A", 2, 0, "")
	m := r.add(t, queue.TypeMessageCreate, "A", 1, 1, "hi")
	d := r.add(t, queue.TypeChatDelete, "A", 1, 0, "")
	r.add(t, queue.TypeMessageCreate, "A", 2, 1, "elsewhere")
	get := func(after string) (*sseConn, int) {
		conn, status, _ := dialSSE(t, r.url+"/?app=A&chat=1&deleted=1&after="+after, "")
		return conn, status
	}
	s, status := get("0-0")
	if status != http.StatusOK {
		t.Fatalf("from 0-0: got %d", status)
	}
	if got := s.ended(t); len(got) != 4 || got[0].ID != "0-0" || got[1].ID != c.String() || got[2].ID != m.String() || got[3].ID != d.String() {
		t.Errorf("from 0-0: got %v, want ready, chat.created, message.created, chat.deleted", got)
	}
	if _, status := get(d.String()); status != http.StatusNotFound {
		t.Errorf("from its chat.deleted: got %d, want 404", status)
	}
	s, _ = get("1-1")
	if got := s.ended(t); len(got) != 2 || got[1].Event != "reset" {
		t.Errorf("from another generation: got %v, want ready, reset, the end", got)
	}
}
