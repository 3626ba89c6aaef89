package main

import (
	"fmt"
	"io"
	"os"
	"strings"
	"time"
)

const (
	// barWidth is the number of cells of the bar between the brackets.
	barWidth = 30
	// redrawEvery bounds how often the bar is redrawn.
	redrawEvery = 200 * time.Millisecond
	// plainEvery bounds how often a plain progress line is printed.
	plainEvery = 5 * time.Second
)

// progressBar draws a one-line progress report on a terminal, redrawn in
// place with \r:
//
//	[=========>          ]  45.0%  450000/1000000  12000 msg/s  eta 46s
//
// Written elsewhere (a log file, a pipe), where \r frames would pile up, it
// prints the same report as a plain line every plainEvery instead.
type progressBar struct {
	w     io.Writer
	now   func() time.Time
	plain bool // not a terminal: whole lines, no \r
	start time.Time
	first int64 // done at the first update: the rate counts this run only
	done  int64
	total int64
	drawn time.Time // when the bar was last drawn; zero before the first time
	width int       // length of the last line drawn, to blank what is left of it
	begun bool
	shown int64 // done when the last plain line was printed
}

// newProgressBar returns a bar drawn on w in place when terminal is true, and
// as plain periodic lines otherwise (see isTerminal).
func newProgressBar(w io.Writer, now func() time.Time, terminal bool) *progressBar {
	return &progressBar{w: w, now: now, plain: !terminal}
}

// isTerminal reports whether w is a character device (a terminal), where a
// bar redrawn with \r makes sense.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// Update records progress and redraws at most every redrawEvery.
func (p *progressBar) Update(done, total int64) {
	now := p.now()
	if !p.begun {
		p.begun, p.start, p.first = true, now, done
	}
	p.done, p.total = done, total
	every := redrawEvery
	if p.plain {
		every = plainEvery
	}
	if !p.drawn.IsZero() && now.Sub(p.drawn) < every {
		return
	}
	p.draw(now)
}

// Finish draws the last state and ends the line.
func (p *progressBar) Finish() {
	if !p.begun {
		return
	}
	if p.plain && !p.drawn.IsZero() && p.shown == p.done {
		return // the last line printed says it already
	}
	p.draw(p.now())
	if !p.plain {
		fmt.Fprintln(p.w)
	}
}

func (p *progressBar) draw(now time.Time) {
	p.drawn = now
	if p.plain {
		p.shown = p.done
		fmt.Fprintln(p.w, p.plainLine(now))
		return
	}
	line := p.line(now)
	pad := ""
	if n := p.width - len(line); n > 0 {
		pad = strings.Repeat(" ", n)
	}
	p.width = len(line)
	fmt.Fprint(p.w, "\r"+line+pad)
}

// line renders the bar for the recorded progress.
func (p *progressBar) line(now time.Time) string {
	frac := p.fraction()
	filled := int(frac * barWidth)
	var bar string
	if filled >= barWidth {
		bar = strings.Repeat("=", barWidth)
	} else {
		bar = strings.Repeat("=", filled) + ">" + strings.Repeat(" ", barWidth-filled-1)
	}
	return fmt.Sprintf("[%s] %s", bar, p.figures(now))
}

// plainLine renders the recorded progress without the bar, for logs.
func (p *progressBar) plainLine(now time.Time) string {
	return "progress: " + strings.TrimLeft(p.figures(now), " ")
}

// fraction is the share done, at most 1; 1 when there is nothing to do.
func (p *progressBar) fraction() float64 {
	if p.total <= 0 {
		return 1
	}
	return min(float64(p.done)/float64(p.total), 1)
}

// figures renders the percentage, the counts, the rate and the time left.
func (p *progressBar) figures(now time.Time) string {
	elapsed := now.Sub(p.start).Seconds()
	rate := 0.0
	if elapsed > 0 {
		rate = float64(p.done-p.first) / elapsed
	}
	eta := "?"
	switch {
	case p.done >= p.total:
		eta = "0s"
	case rate > 0:
		eta = time.Duration(float64(p.total-p.done) / rate * float64(time.Second)).Round(time.Second).String()
	}
	return fmt.Sprintf("%5.1f%%  %d/%d  %.0f msg/s  eta %s", p.fraction()*100, p.done, p.total, rate, eta)
}
