package main

import (
	"strings"
	"testing"
	"time"
)

func TestStatusLine(t *testing.T) {
	cases := []struct {
		name     string
		terminal bool
		want     string
	}{
		// On a terminal every update redraws in place.
		{"terminal", true, "\rn=0 \rn=1 \rn=2 \rn=3 \rn=4 \rn=5 \rn=6 \n"},
		// Elsewhere: the first, one every 5 s (updates 2 s apart), and the last at the end.
		{"no terminal", false, "n=0\nn=3\nn=6\n"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			clock := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
			var out strings.Builder
			s := &statusLine{w: &out, terminal: c.terminal, now: func() time.Time { return clock }}
			for i := range 7 {
				s.Show("n=%d ", i)
				clock = clock.Add(2 * time.Second)
			}
			s.End()
			if got := out.String(); got != c.want {
				t.Errorf("got %q, want %q", got, c.want)
			}
		})
	}
}

func TestStatusLineEndPrintsTheLastUnprintedStatus(t *testing.T) {
	clock := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var out strings.Builder
	s := &statusLine{w: &out, now: func() time.Time { return clock }}
	s.Show("a")
	clock = clock.Add(time.Second)
	s.Show("b")
	s.End()
	s.End() // nothing left to print
	if got, want := out.String(), "a\nb\n"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestNewStatusLineWithoutATerminal(t *testing.T) {
	if s := newStatusLine(&strings.Builder{}); s.terminal {
		t.Error("got terminal for a buffer, want plain lines")
	}
}
