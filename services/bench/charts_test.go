package main

import (
	"strings"
	"testing"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotutil"
)

// TestChartsAreReadable checks what made the charts hard to read: unnamed
// axes, exponent tick labels and lines touching the frame.
func TestChartsAreReadable(t *testing.T) {
	p := newChart("title", "seconds", "requests per second")
	if err := plotutil.AddLines(p, "a", xy([]float64{10, 20, 30, 40, 12})); err != nil {
		t.Fatal(err)
	}
	frame(p)
	if p.X.Label.Text == "" || p.Y.Label.Text == "" {
		t.Errorf("axis labels: got %q and %q, want both named", p.X.Label.Text, p.Y.Label.Text)
	}
	if p.Y.Min != 0 || p.Y.Max <= 40 {
		t.Errorf("y range: got %v..%v, want 0 and headroom above the highest point 40", p.Y.Min, p.Y.Max)
	}
	for _, axis := range []plot.Axis{p.X, p.Y} {
		for _, tk := range axis.Tick.Marker.Ticks(axis.Min, axis.Max) {
			if strings.ContainsAny(tk.Label, "e+") {
				t.Errorf("tick label %q: want a plain number", tk.Label)
			}
		}
	}
	log := plainTicks{plot.LogTicks{}}
	for _, tk := range log.Ticks(0.005, 2.5) {
		if strings.ContainsAny(tk.Label, "e+") {
			t.Errorf("log tick label %q: want a plain number", tk.Label)
		}
	}
	if err := p.Save(400, 200, t.TempDir()+"/chart.png"); err != nil {
		t.Fatal(err)
	}
}
