package clienttest_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/instachat/instachat/client"
	"github.com/instachat/instachat/client/clienttest"
)

// TestFakeConforms runs the conformance suite against the fake, as the real
// system's end-to-end tests run it against the api.
func TestFakeConforms(t *testing.T) {
	srv := clienttest.NewServer()
	t.Cleanup(srv.Close)
	clienttest.Run(t, srv.URL)
}

func newApp(t *testing.T, srv *httptest.Server) (*client.App, context.Context) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	c, err := client.New(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	a, err := c.CreateApplication(ctx, "fake events")
	if err != nil {
		t.Fatal(err)
	}
	app := c.App(a.Token)
	if _, err := app.CreateChat(ctx); err != nil {
		t.Fatal(err)
	}
	return app, ctx
}

// TestFakeResetsWhatItCannotServe: a position of another generation, or
// ahead of the log, gets a reset to the newest position, then live events.
func TestFakeResetsWhatItCannotServe(t *testing.T) {
	srv := clienttest.NewServer()
	t.Cleanup(srv.Close)
	app, ctx := newApp(t, srv)
	for _, from := range []client.Position{"7-1", "1-999"} {
		sctx, stop := context.WithCancel(ctx)
		var got []client.Event
		for ev, err := range app.SubscribeAll(sctx, from) {
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, ev)
			if len(got) == 1 {
				if _, err := app.PostMessage(ctx, 1, "after the reset"); err != nil {
					t.Fatal(err)
				}
			} else {
				break
			}
		}
		stop()
		if len(got) != 2 || got[0].Type != client.EventReset || got[1].Type != client.EventMessageCreated || got[0].ID >= got[1].ID {
			t.Errorf("from %s: got %+v, want a reset, then the post", from, got)
		}
	}
}

// TestFakeStreamStart reads the first frames by hand: Last-Event-ID wins
// over after=, and lists carry Event-Position.
func TestFakeStreamStart(t *testing.T) {
	srv := clienttest.NewServer()
	t.Cleanup(srv.Close)
	app, ctx := newApp(t, srv)
	page, err := app.Messages(ctx, 1, client.Newest())
	if err != nil || page.Position != "1-1" {
		t.Fatalf("messages after one chat.created: got position %q, %v; want 1-1", page.Position, err)
	}
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+"/api/v1/applications/"+app.Token()+"/events?after=1-0", nil)
	req.Header.Set("Last-Event-ID", "1-1")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	want := "retry: 1000\n\nid: 1-1\nevent: ready\ndata: {\"id\":\"1-1\",\"type\":\"ready\"}\n\n"
	buf := make([]byte, len(want))
	if _, err := io.ReadFull(resp.Body, buf); err != nil || string(buf) != want || resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Errorf("got %q (%s), %v; want %q", buf, resp.Header.Get("Content-Type"), err, want)
	}
}

// TestFakeCloseEndsStreams: httptest's Close waits for every request, so
// the fake ends its open streams when its server closes.
func TestFakeCloseEndsStreams(t *testing.T) {
	srv := clienttest.NewServer()
	app, ctx := newApp(t, srv)
	sctx, stop := context.WithCancel(ctx)
	defer stop()
	page, _ := app.Chats(ctx, client.Newest())
	got := make(chan struct{})
	go func() {
		for range app.SubscribeAll(sctx, page.Position) {
			close(got) // the stream is open: it delivered the post below
			<-sctx.Done()
		}
	}()
	if _, err := app.PostMessage(ctx, 1, "x"); err != nil {
		t.Fatal(err)
	}
	<-got
	closed := make(chan struct{})
	go func() { srv.Close(); close(closed) }()
	select {
	case <-closed:
	case <-time.After(3 * time.Second):
		t.Fatal("Close hangs on an open event stream")
	}
}
