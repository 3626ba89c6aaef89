package client

import (
	"errors"
	"io"
	"reflect"
	"strings"
	"testing"
	"testing/iotest"
	"time"
)

// chunks reads s in pieces of n bytes, so frames and lines arrive split
// across reads (n = 1: every byte its own read).
type chunks struct {
	s string
	n int
}

func (c *chunks) Read(p []byte) (int, error) {
	if c.s == "" {
		return 0, io.EOF
	}
	k := min(c.n, len(p), len(c.s))
	copy(p, c.s[:k])
	c.s = c.s[k:]
	return k, nil
}

func readAll(t *testing.T, r io.Reader) ([]frame, time.Duration, int) {
	t.Helper()
	lines := 0
	sr := newSSEReader(r, func() { lines++ })
	var out []frame
	for {
		f, err := sr.next()
		if errors.Is(err, io.EOF) {
			return out, sr.retry, lines
		}
		if err != nil {
			t.Fatalf("next: %v", err)
		}
		out = append(out, f)
	}
}

func TestSSEReader(t *testing.T) {
	ev := func(id, event, data string) frame {
		return frame{id: id, hasID: id != "", event: event, data: data, hasData: true}
	}
	cases := []struct {
		name  string
		in    string
		want  []frame
		retry time.Duration
	}{
		{"one event", "id: 1-1\nevent: message.created\ndata: {\"a\":1}\n\n",
			[]frame{ev("1-1", "message.created", `{"a":1}`)}, 0},
		{"multi-line data joined by LF", "data: one\ndata: two\ndata:three\n\n",
			[]frame{ev("", "", "one\ntwo\nthree")}, 0},
		{"comments and retry are no frames", "retry: 1000\n\n: hb\n\n:\n\nid: 1-2\ndata: x\n\n",
			[]frame{ev("1-2", "", "x")}, time.Second},
		{"CRLF", "id: 1-3\r\nevent: ready\r\ndata: {}\r\n\r\n",
			[]frame{ev("1-3", "ready", "{}")}, 0},
		{"lone CR", "id: 1-4\rdata: y\r\rdata: z\r\n\r\n",
			[]frame{ev("1-4", "", "y"), ev("", "", "z")}, 0},
		{"only the first space is dropped", "data:  two spaces\n\n",
			[]frame{ev("", "", " two spaces")}, 0},
		{"a field without colon", "data\n\n", []frame{ev("", "", "")}, 0},
		{"an id alone is dispatched without data", "id: 1-5\n\n",
			[]frame{{id: "1-5", hasID: true}}, 0},
		{"an event name alone is nothing", "event: x\n\ndata: d\n\n",
			[]frame{ev("", "", "d")}, 0},
		{"an id with NUL is ignored", "id: 1\x00\ndata: d\n\n", []frame{ev("", "", "d")}, 0},
		{"unknown fields and a bad retry are ignored", "foo: bar\nretry: 1s\ndata: d\n\n",
			[]frame{ev("", "", "d")}, 0},
		{"an incomplete last frame is dropped", "id: 1-6\ndata: a\n\nid: 1-7\ndata: {\"cut",
			[]frame{ev("1-6", "", "a")}, 0},
		{"a frame without its blank line is dropped", "id: 1-8\ndata: a\n",
			nil, 0},
	}
	for _, tc := range cases {
		for _, n := range []int{1, 2, 3, 7, len(tc.in) + 1} {
			got, retry, _ := readAll(t, &chunks{s: tc.in, n: n})
			if !reflect.DeepEqual(got, tc.want) || retry != tc.retry {
				t.Errorf("%s, reads of %d bytes: got %+v retry %v, want %+v retry %v", tc.name, n, got, retry, tc.want, tc.retry)
			}
		}
	}
}

func TestSSEReaderCountsEveryLine(t *testing.T) {
	_, _, lines := readAll(t, iotest.OneByteReader(strings.NewReader(": hb\n\n: hb\r\n\r\nid: 1\ndata: x\n\n")))
	if lines != 7 {
		t.Errorf("got %d lines, want 7 (comments and blank lines keep the stream alive too)", lines)
	}
}

func TestSSEReaderLongLine(t *testing.T) {
	sr := newSSEReader(strings.NewReader("data: "+strings.Repeat("x", maxEventLine)+"\n\n"), nil)
	if _, err := sr.next(); !errors.Is(err, errLineTooLong) {
		t.Errorf("got %v, want errLineTooLong", err)
	}
}

func TestSSEReaderError(t *testing.T) {
	boom := errors.New("connection reset")
	sr := newSSEReader(io.MultiReader(strings.NewReader("id: 1\ndata: a\n\nid: 2\nda"), iotest.ErrReader(boom)), nil)
	if f, err := sr.next(); err != nil || f.id != "1" {
		t.Fatalf("first: got %+v, %v", f, err)
	}
	if f, err := sr.next(); !errors.Is(err, boom) {
		t.Errorf("second: got %+v, %v; want the read error, no frame", f, err)
	}
}
