package main

import (
	"io"
	"os"
	"strings"
	"testing"
	"time"
)

// fakeClock is a clock the test moves by hand.
type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time { return c.t }

func TestProgressBarLine(t *testing.T) {
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	cases := []struct {
		name        string
		first, done int64
		total       int64
		elapsed     time.Duration
		want        string
	}{
		{"start", 0, 0, 1000000, 0, "[>                             ]   0.0%  0/1000000  0 msg/s  eta ?"},
		{"middle", 0, 450000, 1000000, 37500 * time.Millisecond, "[=============>                ]  45.0%  450000/1000000  12000 msg/s  eta 46s"},
		{"resumed: the rate counts this run", 300, 400, 1000, 10 * time.Second, "[============>                 ]  40.0%  400/1000  10 msg/s  eta 1m0s"},
		{"done", 0, 1000, 1000, 2 * time.Second, "[==============================] 100.0%  1000/1000  500 msg/s  eta 0s"},
		{"nothing to do", 0, 0, 0, 0, "[==============================] 100.0%  0/0  0 msg/s  eta 0s"},
		{"more than counted at the start", 0, 1100, 1000, time.Second, "[==============================] 100.0%  1100/1000  1100 msg/s  eta 0s"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := &progressBar{start: start, first: c.first, done: c.done, total: c.total, begun: true}
			if got := p.line(start.Add(c.elapsed)); got != c.want {
				t.Errorf("got  %q\nwant %q", got, c.want)
			}
		})
	}
}

func TestProgressBarRedrawsAtMostEvery200ms(t *testing.T) {
	clock := &fakeClock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	var out strings.Builder
	p := newProgressBar(&out, clock.now, true)
	for i := int64(0); i <= 100; i++ {
		p.Update(i*10, 1000)
		clock.t = clock.t.Add(10 * time.Millisecond) // 1 s in all
	}
	p.Finish()
	got := out.String()
	// The first update, then one every 200 ms over the second, then Finish.
	if draws := strings.Count(got, "\r"); draws != 7 {
		t.Errorf("draws: got %d, want 7 (first, every 200 ms, final)\n%q", draws, got)
	}
	last := got[strings.LastIndex(got, "\r"):]
	if !strings.Contains(last, "] 100.0%  1000/1000  990 msg/s  eta 0s") || !strings.HasSuffix(last, "\n") {
		t.Errorf("final line: got %q, want the finished bar and a newline", last)
	}
}

func TestProgressBarBlanksALongerPreviousLine(t *testing.T) {
	clock := &fakeClock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	var out strings.Builder
	p := newProgressBar(&out, clock.now, true)
	p.Update(0, 1000000) // "eta ?" and a long count
	clock.t = clock.t.Add(time.Second)
	p.Update(1000000, 1000000)
	lines := strings.Split(out.String(), "\r")
	if len(lines) != 3 || len(lines[2]) < len(lines[1]) {
		t.Errorf("got lines %q; want the second padded to the first's length", lines)
	}
}

func TestProgressPlainLinesWithoutATerminal(t *testing.T) {
	clock := &fakeClock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	var out strings.Builder
	p := newProgressBar(&out, clock.now, false)
	for i := int64(0); i <= 120; i++ {
		p.Update(i*10, 1200)
		clock.t = clock.t.Add(100 * time.Millisecond) // 12 s in all
	}
	p.Finish()
	got := out.String()
	if strings.Contains(got, "\r") || strings.Contains(got, "[") {
		t.Errorf("got %q, want plain lines without \\r or a bar", got)
	}
	// The first update, one every 5 s over the 12 s (at 5 s and 10 s), then Finish.
	want := []string{
		"progress: 0.0%  0/1200  0 msg/s  eta ?",
		"progress: 41.7%  500/1200  100 msg/s  eta 7s",
		"progress: 83.3%  1000/1200  100 msg/s  eta 2s",
		"progress: 100.0%  1200/1200  99 msg/s  eta 0s", // Finish, 12.1 s in
	}
	if lines := strings.Split(strings.TrimSuffix(got, "\n"), "\n"); strings.Join(lines, "|") != strings.Join(want, "|") {
		t.Errorf("got lines\n%q\nwant\n%q", lines, want)
	}
}

func TestIsTerminal(t *testing.T) {
	file, err := os.CreateTemp(t.TempDir(), "log")
	if err != nil {
		t.Fatal(err)
	}
	defer file.Close()
	cases := []struct {
		name string
		w    io.Writer
		want bool
	}{
		{"a buffer", &strings.Builder{}, false},
		{"a regular file (a log)", file, false},
	}
	// A pseudo-terminal stands in for a terminal where the tests have none.
	if tty, err := os.OpenFile("/dev/ptmx", os.O_RDWR, 0); err == nil {
		defer tty.Close()
		cases = append(cases, struct {
			name string
			w    io.Writer
			want bool
		}{"a terminal (pseudo-terminal)", tty, true})
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := isTerminal(c.w); got != c.want {
				t.Errorf("got %v, want %v", got, c.want)
			}
		})
	}
}

// TestProgressFinishDoesNotRepeatThePlainLine: a rebuild that is done at the
// first update prints its line once, not again at Finish.
func TestProgressFinishDoesNotRepeatThePlainLine(t *testing.T) {
	clock := &fakeClock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	var out strings.Builder
	p := newProgressBar(&out, clock.now, false)
	p.Update(500, 500)
	clock.t = clock.t.Add(time.Second)
	p.Finish()
	if n := strings.Count(out.String(), "\n"); n != 1 || !strings.Contains(out.String(), "500/500") {
		t.Errorf("got %q, want the 500/500 line once", out.String())
	}
}
