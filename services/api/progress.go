package main

import (
	"fmt"
	"io"
	"strings"
	"time"
)

const (
	// barWidth is the number of cells of the bar between the brackets.
	barWidth = 30
	// redrawEvery bounds how often the bar is redrawn.
	redrawEvery = 200 * time.Millisecond
)

// progressBar draws a one-line progress report on a terminal, redrawn in
// place with \r:
//
//	[=========>          ]  45.0%  450000/1000000  12000 msg/s  eta 46s
type progressBar struct {
	w     io.Writer
	now   func() time.Time
	start time.Time
	first int64 // done at the first update: the rate counts this run only
	done  int64
	total int64
	drawn time.Time // when the bar was last drawn; zero before the first time
	width int       // length of the last line drawn, to blank what is left of it
	begun bool
}

func newProgressBar(w io.Writer, now func() time.Time) *progressBar {
	return &progressBar{w: w, now: now}
}

// Update records progress and redraws at most every redrawEvery.
func (p *progressBar) Update(done, total int64) {
	now := p.now()
	if !p.begun {
		p.begun, p.start, p.first = true, now, done
	}
	p.done, p.total = done, total
	if !p.drawn.IsZero() && now.Sub(p.drawn) < redrawEvery {
		return
	}
	p.draw(now)
}

// Finish draws the last state and ends the line.
func (p *progressBar) Finish() {
	if !p.begun {
		return
	}
	p.draw(p.now())
	fmt.Fprintln(p.w)
}

func (p *progressBar) draw(now time.Time) {
	p.drawn = now
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
	frac := 1.0
	if p.total > 0 {
		frac = min(float64(p.done)/float64(p.total), 1)
	}
	filled := int(frac * barWidth)
	var bar string
	if filled >= barWidth {
		bar = strings.Repeat("=", barWidth)
	} else {
		bar = strings.Repeat("=", filled) + ">" + strings.Repeat(" ", barWidth-filled-1)
	}
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
	return fmt.Sprintf("[%s] %5.1f%%  %d/%d  %.0f msg/s  eta %s", bar, frac*100, p.done, p.total, rate, eta)
}
