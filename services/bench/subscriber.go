package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// The subscribe scenario's subscribers are raw SSE GETs: one dialled
// connection, the request written by net/http, the response read by
// http.ReadResponse through a small bufio.Reader, and one goroutine that
// reads lines. The Go client (with its reconnects, backoff and JSON decoding)
// would cost the load generator, which shares the machine's cores with the
// api, several times as much per subscriber.

// Buffer sizes of a subscriber: the connection's reader holds headers and
// chunk framing, the line reader one SSE line (an event's data line is
// ~150–400 bytes; a longer one is read in pieces and parsed from its start).
const (
	subConnBuffer = 2048
	subLineBuffer = 1024
)

// subChat is one followed chat: the creates' 201 times by number, and the
// highest number a create was answered with.
type subChat struct {
	ref  *chatRef
	mu   sync.Mutex
	t201 []int64 // unix ns when the create of number i+1 was answered; 0: not answered
}

// answered files the 201 of message number n at t.
func (c *subChat) answered(n int64, t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for int64(len(c.t201)) < n {
		c.t201 = append(c.t201, 0)
	}
	c.t201[n-1] = t.UnixNano()
	for {
		cur := c.ref.max.Load()
		if n <= cur || c.ref.max.CompareAndSwap(cur, n) {
			return
		}
	}
}

// subscriber follows one chat's events and checks that the numbers of its
// message.created events arrive once each, in order.
type subscriber struct {
	chat *subChat
	conn net.Conn

	// Written by the subscriber's goroutine only; read by others after it
	// ended, except the atomics.
	recv       []int64 // unix ns when number i+1 arrived; 0: not (yet)
	dups       int64   // a number that had arrived before
	outOfOrder int64   // a number that skipped past one not yet arrived
	overflow   bool
	resets     int64
	err        error // why the stream ended before the harness closed it
	endedEarly bool  // set by subscriberSet.close: the stream had ended before

	received atomic.Int64 // distinct numbers arrived
	highest  atomic.Int64 // highest number arrived
	ended    atomic.Bool
}

// errNotReady is a stream that ended before its ready event.
var errNotReady = errors.New("stream ended before its ready event")

// dial opens the stream at path on addr and reads up to its ready event;
// it returns the status of a refusal (429, 503…) as an error.
func (s *subscriber) dial(ctx context.Context, addr, path string) (*bufio.Reader, error) {
	d := net.Dialer{Timeout: 10 * time.Second}
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	_ = conn.SetDeadline(time.Now().Add(30 * time.Second))
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+path, nil)
	if err != nil {
		conn.Close()
		return nil, err
	}
	req.Header.Set("Accept", "text/event-stream")
	if err := req.Write(conn); err != nil {
		conn.Close()
		return nil, err
	}
	resp, err := http.ReadResponse(bufio.NewReaderSize(conn, subConnBuffer), req)
	if err != nil {
		conn.Close()
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		conn.Close()
		return nil, &statusError{resp.StatusCode}
	}
	lines := bufio.NewReaderSize(resp.Body, subLineBuffer)
	var event []byte
	for {
		line, err := readLine(lines)
		if err != nil {
			conn.Close()
			return nil, fmt.Errorf("%w: %v", errNotReady, err)
		}
		if v, ok := bytes.CutPrefix(line, []byte("event: ")); ok {
			event = append(event[:0], v...)
		}
		if len(line) == 0 && string(event) == "ready" {
			break
		}
	}
	_ = conn.SetDeadline(time.Time{})
	s.conn = conn
	return lines, nil
}

// statusError is a stream the api refused.
type statusError struct{ status int }

func (e *statusError) Error() string { return fmt.Sprintf("status %d", e.status) }

// follow reads the stream until it ends or the harness closes the
// connection, recording each message.created.
func (s *subscriber) follow(lines *bufio.Reader) {
	defer s.ended.Store(true)
	var event []byte
	for {
		line, err := readLine(lines)
		if err != nil {
			if !s.overflow {
				s.err = err
			}
			return
		}
		switch {
		case len(line) == 0:
			event = event[:0]
		case bytes.HasPrefix(line, []byte("event: ")):
			event = append(event[:0], line[len("event: "):]...)
		case bytes.HasPrefix(line, []byte("data: ")):
			s.data(string(event), line, time.Now())
		}
	}
}

// data handles one data line of an event of type event, arrived at.
func (s *subscriber) data(event string, line []byte, at time.Time) {
	switch event {
	case "message.created":
		n := messageNumber(line)
		if n <= 0 {
			return
		}
		s.arrived(n, at)
	case "overflow":
		s.overflow = true
	case "reset":
		s.resets++
	}
}

// arrived files number n.
func (s *subscriber) arrived(n int64, at time.Time) {
	if n <= int64(len(s.recv)) && s.recv[n-1] != 0 {
		s.dups++
		return
	}
	if n > s.highest.Load()+1 {
		s.outOfOrder++
	}
	for int64(len(s.recv)) < n {
		s.recv = append(s.recv, 0)
	}
	s.recv[n-1] = at.UnixNano()
	s.received.Add(1)
	if n > s.highest.Load() {
		s.highest.Store(n)
	}
}

// readLine returns the next line without its newline; a line longer than
// the buffer comes back as its first part (the rest is skipped).
func readLine(r *bufio.Reader) ([]byte, error) {
	line, err := r.ReadSlice('\n')
	if errors.Is(err, bufio.ErrBufferFull) {
		head := append([]byte(nil), line...) // the next reads reuse the buffer
		for errors.Is(err, bufio.ErrBufferFull) {
			_, err = r.ReadSlice('\n')
		}
		if err != nil {
			return nil, err
		}
		return head, nil
	}
	if err != nil {
		return nil, err
	}
	return bytes.TrimRight(line, "\r\n"), nil
}

// messageNumber scans a message event's JSON for "message":<n> without
// decoding it; 0 when absent.
func messageNumber(line []byte) int64 {
	i := bytes.Index(line, []byte(`"message":`))
	if i < 0 {
		return 0
	}
	var n int64
	for _, b := range line[i+len(`"message":`):] {
		if b < '0' || b > '9' {
			break
		}
		n = n*10 + int64(b-'0')
	}
	return n
}
