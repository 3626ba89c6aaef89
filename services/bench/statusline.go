package main

import (
	"fmt"
	"io"
	"os"
	"strings"
	"time"
)

// plainEvery bounds how often a status line is printed where there is no
// terminal.
const plainEvery = 5 * time.Second

// statusLine shows a changing status line: redrawn in place with \r on a
// terminal, and elsewhere (a log file, a pipe), where \r frames would pile
// up, printed as a plain line at most every plainEvery.
type statusLine struct {
	w        io.Writer
	terminal bool
	now      func() time.Time
	printed  time.Time // when the last plain line was printed
	pending  string    // the latest plain text not printed yet
}

func newStatusLine(w io.Writer) *statusLine {
	return &statusLine{w: w, terminal: isTerminal(w), now: time.Now}
}

// isTerminal reports whether w is a character device (a terminal).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// Show replaces the status with the formatted text.
func (s *statusLine) Show(format string, args ...any) {
	text := fmt.Sprintf(format, args...)
	if s.terminal {
		fmt.Fprint(s.w, "\r"+text)
		return
	}
	s.pending = strings.TrimRight(text, " ")
	if now := s.now(); s.printed.IsZero() || now.Sub(s.printed) >= plainEvery {
		s.printed = now
		s.flush()
	}
}

// End ends the status: the terminal's line, or the last plain text when it
// was not printed yet.
func (s *statusLine) End() {
	if s.terminal {
		fmt.Fprintln(s.w)
		return
	}
	s.flush()
}

func (s *statusLine) flush() {
	if s.pending != "" {
		fmt.Fprintln(s.w, s.pending)
		s.pending = ""
	}
}
