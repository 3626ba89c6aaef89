package client

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"time"
)

// maxEventLine bounds one line of an event stream: a 16 KiB body escaped
// as JSON stays far below it, so a longer line is a broken stream.
const maxEventLine = 1 << 20

// errLineTooLong is a stream line over maxEventLine: reconnecting would
// read it again, so it ends the subscription.
var errLineTooLong = errors.New("event stream line longer than 1 MiB")

// frame is one dispatched server-sent event: what came between two blank
// lines, per the WHATWG event-stream rules.
type frame struct {
	id      string
	hasID   bool
	event   string
	data    string
	hasData bool
}

// sseReader parses text/event-stream. It returns only complete frames: a
// frame cut off by the end of the stream is dropped, as EventSource does.
type sseReader struct {
	sc     *bufio.Scanner
	onLine func()        // called on every line, comments included: the liveness timer
	retry  time.Duration // the last retry: field, 0 when none came
}

func newSSEReader(r io.Reader, onLine func()) *sseReader {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), maxEventLine)
	sc.Split(sseLines())
	return &sseReader{sc: sc, onLine: onLine}
}

// next returns the next frame that carries data or an id. Its error is
// io.EOF at the end of the stream, else the read's.
func (r *sseReader) next() (frame, error) {
	var f frame
	var data []byte
	for r.sc.Scan() {
		if r.onLine != nil {
			r.onLine()
		}
		line := r.sc.Bytes()
		if len(line) == 0 {
			if f.hasID || len(data) > 0 {
				if len(data) > 0 {
					f.data, f.hasData = string(data[:len(data)-1]), true
				}
				return f, nil
			}
			f = frame{} // an event name alone dispatches nothing
			continue
		}
		if line[0] == ':' {
			continue // a comment: the api's heartbeat
		}
		name, value, found := bytes.Cut(line, []byte(":"))
		if found && len(value) > 0 && value[0] == ' ' {
			value = value[1:]
		}
		switch string(name) {
		case "event":
			f.event = string(value)
		case "data":
			data = append(append(data, value...), '\n')
		case "id":
			if bytes.IndexByte(value, 0) < 0 {
				f.id, f.hasID = string(value), true
			}
		case "retry":
			if ms, ok := digits(value); ok {
				r.retry = time.Duration(ms) * time.Millisecond
			}
		}
	}
	if err := r.sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return frame{}, errLineTooLong
		}
		return frame{}, err
	}
	return frame{}, io.EOF
}

// digits reads an ASCII decimal of at most 9 digits (a retry in ms).
func digits(b []byte) (int64, bool) {
	if len(b) == 0 || len(b) > 9 {
		return 0, false
	}
	var n int64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	return n, true
}

// sseLines splits at CRLF, LF or a lone CR. A CR ends its line at once (a
// server that ends lines with CR must not wait for the next byte to be
// heard); a LF right after it is then skipped, even in the next read.
func sseLines() bufio.SplitFunc {
	skipLF := false
	return func(data []byte, atEOF bool) (int, []byte, error) {
		if skipLF && len(data) > 0 {
			skipLF = false
			if data[0] == '\n' {
				return 1, nil, nil
			}
		}
		if i := bytes.IndexAny(data, "\r\n"); i >= 0 {
			if data[i] == '\r' {
				if i+1 < len(data) {
					if data[i+1] == '\n' {
						return i + 2, data[:i], nil
					}
				} else {
					skipLF = true
				}
			}
			return i + 1, data[:i], nil
		}
		if atEOF && len(data) > 0 {
			return len(data), nil, nil // an unterminated last line completes nothing
		}
		return 0, nil, nil
	}
}
