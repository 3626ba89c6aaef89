package clienttest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/instachat/instachat/client"
)

// cutter dials the connections of a test's client and cuts them on
// demand: every open one at once, or the next one that reads an event's
// data line, in the middle of that line. A server's test cannot reach into
// the server, so the cuts happen where the client sits.
type cutter struct {
	mu       sync.Mutex
	conns    map[*cutConn]struct{}
	dials    int
	midFrame chan struct{} // armed: closed once a connection was cut mid-frame
}

func newCutter() *cutter { return &cutter{conns: map[*cutConn]struct{}{}} }

func (c *cutter) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	conn, err := (&net.Dialer{}).DialContext(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	cc := &cutConn{Conn: conn, c: c}
	c.mu.Lock()
	c.conns[cc] = struct{}{}
	c.dials++
	c.mu.Unlock()
	return cc, nil
}

// cutAll closes every open connection.
func (c *cutter) cutAll() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for cc := range c.conns {
		_ = cc.Conn.Close()
	}
}

// armMidFrame makes the next read of a data line end halfway through it,
// with the connection closed; the channel closes when that happened.
func (c *cutter) armMidFrame() <-chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.midFrame = make(chan struct{})
	return c.midFrame
}

func (c *cutter) connections() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.dials
}

type cutConn struct {
	net.Conn
	c *cutter
}

// dataLine is where a message.created frame's data begins.
var dataLine = []byte("\nevent: message.created\ndata: {")

func (cc *cutConn) Read(p []byte) (int, error) {
	n, err := cc.Conn.Read(p)
	cc.c.mu.Lock()
	defer cc.c.mu.Unlock()
	if i := bytes.Index(p[:n], dataLine); i >= 0 && cc.c.midFrame != nil {
		close(cc.c.midFrame)
		cc.c.midFrame = nil
		_ = cc.Conn.Close()
		return min(n, i+len(dataLine)+3), nil // the frame's id and event lines, and a few bytes of its data
	}
	if err != nil {
		delete(cc.c.conns, cc)
	}
	return n, err
}

func (cc *cutConn) Close() error {
	cc.c.mu.Lock()
	delete(cc.c.conns, cc)
	cc.c.mu.Unlock()
	return cc.Conn.Close()
}

// received is what a listener got from a subscription.
type received struct {
	ev  client.Event
	err error
}

// listen consumes seq in a goroutine until it ends; done closes then.
func listen(seq func(func(client.Event, error) bool)) (events <-chan received, done <-chan struct{}) {
	ch, fin := make(chan received, 4096), make(chan struct{})
	go func() {
		defer close(fin)
		for ev, err := range seq {
			ch <- received{ev, err}
			if err != nil {
				return
			}
		}
	}()
	return ch, fin
}

// next takes n events from ch, or fails the test.
func next(t *testing.T, what string, ch <-chan received, n int) []client.Event {
	t.Helper()
	var out []client.Event
	timeout := time.After(settle)
	for len(out) < n {
		select {
		case r := <-ch:
			if r.err != nil {
				t.Fatalf("%s: event %d: %v", what, len(out)+1, r.err)
			}
			out = append(out, r.ev)
		case <-timeout:
			t.Fatalf("%s: got %d events in %v, want %d: %v", what, len(out), settle, n, out)
		}
	}
	return out
}

// parsePos reads an event id for ordering checks: the api's positions are
// <generation>-<sequence>, both growing.
func parsePos(p client.Position) (uint64, uint64, error) {
	g, s, ok := strings.Cut(string(p), "-")
	gen, err1 := strconv.ParseUint(g, 10, 64)
	seq, err2 := strconv.ParseUint(s, 10, 64)
	if !ok || err1 != nil || err2 != nil {
		return 0, 0, fmt.Errorf("event id %q is not <generation>-<sequence>", p)
	}
	return gen, seq, nil
}

// sameEvents checks got against want field by field (IDs and times are
// the server's), and that the IDs grow.
func sameEvents(t *testing.T, what string, got, want []client.Event) {
	t.Helper()
	var pg, ps uint64
	for i := range want {
		g, w := got[i], want[i]
		if g.Type != w.Type || g.Chat != w.Chat || g.Message != w.Message || g.Body != w.Body {
			t.Fatalf("%s: event %d: got %s %d/%d %q, want %s %d/%d %q (all: %v)", what, i+1, g.Type, g.Chat, g.Message, g.Body, w.Type, w.Chat, w.Message, w.Body, got)
		}
		if g.AcceptedAt.IsZero() {
			t.Errorf("%s: event %d (%s) has no accepted_at", what, i+1, g.ID)
		}
		gen, seq, err := parsePos(g.ID)
		if err != nil {
			t.Fatalf("%s: event %d: %v", what, i+1, err)
		}
		if i > 0 && (gen < pg || (gen == pg && seq <= ps)) {
			t.Fatalf("%s: event %d: id %s does not follow %s", what, i+1, g.ID, got[i-1].ID)
		}
		pg, ps = gen, seq
	}
}

// subscribe follows one chat and the whole application through cut
// connections, a cut in the middle of a frame among them, and expects
// every event once, in order; then resumes a deleted chat's stream and asks
// for what does not exist.
func (s *suite) subscribe(t *testing.T) {
	ctx := ctxFor(t)
	a := s.newApp(t, ctx)
	for range 2 {
		if _, err := a.CreateChat(ctx); err != nil {
			t.Fatal(err)
		}
	}
	cut := newCutter()
	tr := &http.Transport{DialContext: cut.dial}
	t.Cleanup(tr.CloseIdleConnections)
	c, err := client.New(s.base, append(slices.Clone(s.opts), client.WithHTTPClient(&http.Client{Transport: tr}))...)
	if err != nil {
		t.Fatal(err)
	}
	sa := c.App(a.Token())

	from, want := s.position(t, ctx, a)
	subCtx, stop := context.WithCancel(ctx)
	defer stop()
	chatEvents, chatDone := listen(sa.Subscribe(subCtx, 1, from))
	appEvents, appDone := listen(sa.SubscribeAll(subCtx, from))

	do := func(ev client.Event, err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		want = append(want, ev)
	}
	postTo := func(chat int64, body string) {
		t.Helper()
		m, err := a.PostMessage(ctx, chat, body)
		do(client.Event{Type: client.EventMessageCreated, Chat: chat, Message: m.Number, Body: body}, err)
	}
	for i := 1; i <= 3; i++ {
		postTo(1, fmt.Sprintf("before the cut %d", i))
	}
	postTo(2, "elsewhere")
	var gotChat, gotApp []client.Event
	// catchUp reads what both streams owe so far, so that a cut after it
	// finds both connected.
	catchUp := func() {
		t.Helper()
		n := 0
		for _, ev := range want {
			if ev.Chat == 1 {
				n++
			}
		}
		gotChat = append(gotChat, next(t, "chat 1", chatEvents, n-len(gotChat))...)
		gotApp = append(gotApp, next(t, "application", appEvents, len(want)-len(gotApp))...)
	}
	catchUp()
	cut.cutAll()
	postTo(1, "while reconnecting")
	_, err = a.UpdateMessage(ctx, 1, 2, "edited")
	do(client.Event{Type: client.EventMessageUpdated, Chat: 1, Message: 2, Body: "edited"}, err)
	if !strings.HasPrefix(s.base, "https:") { // a cut mid-frame needs to see the frames
		cutNow, deadline := cut.armMidFrame(), time.Now().Add(settle)
		for i := 1; ; i++ {
			postTo(1, fmt.Sprintf("cut in the middle %d", i))
			select {
			case <-cutNow:
			case <-time.After(time.Second):
				if time.Now().Before(deadline) {
					continue // the frame came in two reads: try another
				}
				t.Fatal("no connection read a frame to cut")
			}
			break
		}
	}
	_, err = a.DeleteMessage(ctx, 1, 1)
	do(client.Event{Type: client.EventMessageDeleted, Chat: 1, Message: 1}, err)
	ch, err := a.CreateChat(ctx)
	do(client.Event{Type: client.EventChatCreated, Chat: ch.Number}, err)
	postTo(ch.Number, "short-lived")
	_, err = a.DeleteChat(ctx, ch.Number)
	do(client.Event{Type: client.EventChatDeleted, Chat: ch.Number}, err)
	catchUp()
	cut.cutAll()
	postTo(1, "after the last cut")

	var wantChat []client.Event
	for _, ev := range want {
		if ev.Chat == 1 {
			wantChat = append(wantChat, ev)
		}
	}
	catchUp()
	sameEvents(t, "chat 1", gotChat, wantChat)
	sameEvents(t, "application", gotApp, want)
	var appIDs, chatIDs []client.Position
	for _, ev := range gotApp {
		if ev.Chat == 1 {
			appIDs, chatIDs = append(appIDs, ev.ID), append(chatIDs, gotChat[len(appIDs)].ID)
		}
	}
	if !slices.Equal(appIDs, chatIDs) {
		t.Errorf("chat 1's events have ids %v in its stream and %v in the application's: one event, one id", chatIDs, appIDs)
	}
	if n := cut.connections(); n < 7 {
		t.Errorf("%d connections, want at least 7: two subscriptions, both cut twice and one in the middle of a frame", n)
	}

	// Nothing repeated after the cuts: the next event of each is the next write.
	postTo(1, "the end")
	sameEvents(t, "chat 1, last", next(t, "chat 1", chatEvents, 1), want[len(want)-1:])
	sameEvents(t, "application, last", next(t, "application", appEvents, 1), want[len(want)-1:])
	stop()
	for _, done := range []<-chan struct{}{chatDone, appDone} {
		select {
		case <-done:
		case <-time.After(settle):
			t.Fatal("a subscription did not end with its context")
		}
	}
	s.deletedChat(t, ctx, sa, from, ch.Number)
}

// position finds a position to subscribe from: "" (now) yields nothing
// until an event comes, so post to chat 2 until the subscription hears
// one. It returns that event's ID and the posts after it, which a stream
// from it yields first.
func (s *suite) position(t *testing.T, ctx context.Context, a *client.App) (client.Position, []client.Event) {
	t.Helper()
	pctx, stop := context.WithCancel(ctx)
	defer stop()
	events, done := listen(a.SubscribeAll(pctx, ""))
	defer func() { stop(); <-done }()
	var posted []client.Event
	deadline := time.Now().Add(settle)
	for time.Now().Before(deadline) {
		m, err := a.PostMessage(ctx, 2, "probe")
		if err != nil {
			t.Fatal(err)
		}
		posted = append(posted, client.Event{Type: client.EventMessageCreated, Chat: 2, Message: m.Number, Body: "probe"})
		select {
		case r := <-events:
			if r.err != nil {
				t.Fatal(r.err)
			}
			if r.ev.Type != client.EventMessageCreated || r.ev.Chat != 2 || r.ev.Body != "probe" {
				t.Fatalf("subscribed from now, got %+v, want a probe posted after", r.ev)
			}
			var after []client.Event
			for _, p := range posted {
				if p.Message > r.ev.Message {
					after = append(after, p)
				}
			}
			return r.ev.ID, after
		case <-time.After(100 * time.Millisecond):
		}
	}
	t.Fatalf("a subscription from now heard none of %d posts in %v", len(posted), settle)
	return "", nil
}

// deletedChat resumes the stream of a chat deleted since from: it replays
// up to the chat.deleted and ends; from now on the chat is not found, as is
// a chat never created, and a malformed position is invalid.
func (s *suite) deletedChat(t *testing.T, ctx context.Context, a *client.App, from client.Position, chat int64) {
	t.Helper()
	var got []string
	for ev, err := range a.Subscribe(ctx, chat, from) {
		if err != nil {
			t.Fatalf("resume deleted chat %d: %v after %v", chat, err, got)
		}
		got = append(got, ev.Type)
	}
	want := []string{client.EventChatCreated, client.EventMessageCreated, client.EventChatDeleted}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("resume deleted chat %d: got %v, want %v, then the end", chat, got, want)
	}
	eventually(t, "a deleted chat's stream from now is not found", func() error {
		cctx, cancel := context.WithTimeout(ctx, time.Second) // a stream that opens ends here
		defer cancel()
		for ev, err := range a.Subscribe(cctx, chat, "") {
			if !errors.Is(err, client.ErrNotFound) {
				return fmt.Errorf("got %+v, %v", ev, err)
			}
			return nil
		}
		return errors.New("the stream opened")
	})
	cases := []struct {
		name string
		seq  func(func(client.Event, error) bool)
		want error
	}{
		{"unknown chat", a.Subscribe(ctx, 99, ""), client.ErrNotFound},
		{"unknown application", s.c.App("no-such-token-conformance").SubscribeAll(ctx, ""), client.ErrNotFound},
		{"malformed position", a.SubscribeAll(ctx, "yesterday"), client.ErrInvalid},
	}
	for _, tc := range cases {
		var errs []error
		for _, err := range tc.seq {
			errs = append(errs, err)
		}
		if len(errs) != 1 || !errors.Is(errs[0], tc.want) {
			t.Errorf("%s: got %v, want one error matching %v", tc.name, errs, tc.want)
		}
	}
}
