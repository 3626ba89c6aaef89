package main

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// sseFrames is a stream as the api writes it: retry, ready, heartbeats and
// message events, here with a duplicate, a gap filled later, a long body
// and an overflow.
var sseFrames = []string{
	"retry: 1000\n\n",
	"id: 5-0\nevent: ready\ndata: {\"type\":\"ready\",\"id\":\"5-0\"}\n\n",
	": hb\n\n",
	msgFrame(1, "hi"),
	msgFrame(2, "there"),
	msgFrame(2, "there"),
	msgFrame(4, strings.Repeat("long ", 400)),
	msgFrame(3, "late"),
	"id: 5-9\nevent: message.updated\ndata: {\"id\":\"5-9\",\"type\":\"message.updated\",\"chat\":1,\"message\":9,\"body\":\"x\"}\n\n",
	"event: overflow\ndata: {\"type\":\"overflow\",\"id\":\"5-4\"}\n\n",
}

func msgFrame(n int, body string) string {
	return fmt.Sprintf("id: 5-%d\nevent: message.created\ndata: {\"id\":\"5-%d\",\"type\":\"message.created\",\"chat\":1,\"message\":%d,\"body\":%q}\n\n", n, n, n, body)
}

func TestSubscriberChecksNumbers(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/events" {
			http.Error(w, `{"error":"no"}`, http.StatusTooManyRequests)
			return
		}
		w.Header().Set("Content-Type", "text/event-stream")
		for _, f := range sseFrames {
			fmt.Fprint(w, f)
			w.(http.Flusher).Flush()
		}
	}))
	defer srv.Close()
	addr := strings.TrimPrefix(srv.URL, "http://")

	refused := &subscriber{}
	if _, err := refused.dial(context.Background(), addr, "/full"); err == nil || err.Error() != "status 429" {
		t.Errorf("dial a refusing server: got %v, want status 429", err)
	}

	c := &subChat{ref: &chatRef{number: 1}}
	s := &subscriber{chat: c}
	lines, err := s.dial(context.Background(), addr, "/events")
	if err != nil {
		t.Fatal(err)
	}
	s.follow(lines)
	s.conn.Close()
	if got := s.received.Load(); got != 4 {
		t.Errorf("received %d numbers, want 4 (1–4)", got)
	}
	if s.dups != 1 || s.outOfOrder != 1 || !s.overflow || s.err != nil {
		t.Errorf("got dups %d, out of order %d, overflow %v, err %v; want 1, 1, true, nil", s.dups, s.outOfOrder, s.overflow, s.err)
	}
	for i, at := range s.recv {
		if at == 0 {
			t.Errorf("number %d has no arrival time", i+1)
		}
	}
	c.answered(4, time.Now())
	set := &subscriberSet{subs: []*subscriber{s, {chat: c}}} // the second got nothing
	tl := set.tally()
	if tl.expected != 8 || tl.received != 4 || tl.lost != 4 || tl.dups != 1 || tl.overflows != 1 {
		t.Errorf("tally %+v: want 8 expected, 4 received, 4 lost, 1 duplicated, 1 overflow", tl)
	}
}

func TestReadLineLongLine(t *testing.T) {
	long := `data: {"message":42,"body":"` + strings.Repeat("x", 3*subLineBuffer) + "\"}\n"
	r := bufio.NewReaderSize(strings.NewReader(long+"event: next\n"), subLineBuffer)
	line, err := readLine(r)
	if err != nil || messageNumber(line) != 42 {
		t.Fatalf("got %q…, %v; want the line's head with message 42", line[:min(40, len(line))], err)
	}
	if line, err = readLine(r); err != nil || string(line) != "event: next" {
		t.Errorf("next line: got %q, %v; want event: next", line, err)
	}
}
