package dashboard

import (
	"fmt"
	"math"

	"github.com/instachat/instachat/pkg/queue"
)

// The chart's geometry in SVG user units; the SVG scales to its box.
const (
	chartW      = 720.0
	chartH      = 300.0 // about the height of the partition table beside it, so the chart fills its card
	chartLeft   = 44.0  // room for the y-axis labels
	chartRight  = 8.0
	chartTop    = 10.0
	chartBottom = 22.0 // room for the x-axis labels
)

// chart is the throughput chart, laid out in Go so the template only
// draws: per minute a processed bar with the failed jobs stacked on it.
type chart struct {
	W, H      float64
	Bars      []chartBar
	Grid      []chartLine
	Ticks     []chartTick
	Processed int64
	Failed    int64
	Peak      int64 // most jobs (processed + failed) in one minute
	Empty     bool
	Bottom    float64 // y of the base line
	Left      float64
	Right     float64
	CX, CY    float64 // middle of the plot, for the "nothing yet" note
}

// chartBar is one minute.
type chartBar struct {
	X, W                 float64
	ProcessedY, ProcessH float64
	FailedY, FailedH     float64
	Title                string
}

// chartLine is a horizontal grid line with its value.
type chartLine struct {
	Y     float64
	Label string
}

// chartTick labels a minute on the x axis.
type chartTick struct {
	X     float64
	Label string
}

// newChart lays out minutes (oldest first) in the chart box.
func newChart(minutes []queue.MinuteStat) chart {
	c := chart{W: chartW, H: chartH, Bottom: chartH - chartBottom, Left: chartLeft, Right: chartW - chartRight}
	for _, m := range minutes {
		c.Processed += m.Processed
		c.Failed += m.Failed
		c.Peak = max(c.Peak, m.Processed+m.Failed)
	}
	c.Empty = c.Processed+c.Failed == 0
	c.CX, c.CY = round1((c.Left+c.Right)/2), round1((chartTop+c.Bottom)/2)
	top := niceCeil(c.Peak)
	plotH := c.Bottom - chartTop
	for _, f := range []float64{0, 0.5, 1} {
		c.Grid = append(c.Grid, chartLine{Y: round1(c.Bottom - f*plotH), Label: fmt.Sprint(int64(f * float64(top)))})
	}
	if len(minutes) == 0 {
		return c
	}
	slot := (c.Right - c.Left) / float64(len(minutes))
	scale := plotH / float64(top)
	for i, m := range minutes {
		x := c.Left + float64(i)*slot
		ph, fh := float64(m.Processed)*scale, float64(m.Failed)*scale
		// A minute with any job shows at least a sliver, so it is not lost beside a peak.
		if m.Processed > 0 {
			ph = max(ph, 1.5)
		}
		if m.Failed > 0 {
			fh = max(fh, 1.5)
		}
		c.Bars = append(c.Bars, chartBar{
			X: round1(x + slot*0.15), W: round1(slot * 0.7),
			ProcessedY: round1(c.Bottom - ph), ProcessH: round1(ph),
			FailedY: round1(c.Bottom - ph - fh), FailedH: round1(fh),
			Title: fmt.Sprintf("%s: %d processed, %d failed", m.Minute.Format("15:04"), m.Processed, m.Failed),
		})
		if i%15 == 0 || i == len(minutes)-1 {
			label := m.Minute.Format("15:04")
			if i == len(minutes)-1 {
				label = "now"
			}
			c.Ticks = append(c.Ticks, chartTick{X: round1(x + slot/2), Label: label})
		}
	}
	return c
}

// niceCeil rounds n up to 1, 2 or 5 times a power of ten (at least 10), so
// the grid lines carry round numbers.
func niceCeil(n int64) int64 {
	if n <= 10 {
		return 10
	}
	p := int64(math.Pow(10, math.Floor(math.Log10(float64(n)))))
	for _, m := range []int64{1, 2, 5, 10} {
		if m*p >= n {
			return m * p
		}
	}
	return 10 * p
}

func round1(f float64) float64 { return math.Round(f*10) / 10 }
