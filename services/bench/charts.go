package main

import (
	"math"
	"path/filepath"
	"strconv"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
)

// charts draws the PNGs next to the report and returns their file names.
func (r *report) charts(dir, base string) ([]string, error) {
	c := &chartFiles{dir: dir, base: base}
	if len(r.phases) > 0 && r.cfg.scenario == "steady" {
		lat, thr, err := r.steadyCharts()
		if err != nil {
			return nil, err
		}
		if err := c.save(lat, "create-p99"); err != nil {
			return nil, err
		}
		if err := c.save(thr, "throughput"); err != nil {
			return nil, err
		}
	}
	if r.pipeline != nil {
		p99, catchUp, err := r.pipelineCharts()
		if err != nil {
			return nil, err
		}
		if p99 != nil {
			if err := c.save(p99, "ramp-p99"); err != nil {
				return nil, err
			}
			if err := c.save(catchUp, "ramp-catchup"); err != nil {
				return nil, err
			}
		}
	}
	if r.search != nil && r.search.load != nil {
		p, err := r.searchChart()
		if err != nil {
			return nil, err
		}
		if err := c.save(p, "search-p99"); err != nil {
			return nil, err
		}
	}
	if r.subscribe != nil && r.subscribe.latency != nil {
		p, err := r.subscribeChart()
		if err != nil {
			return nil, err
		}
		if err := c.save(p, "delivery"); err != nil {
			return nil, err
		}
	}
	if r.webhooks != nil && r.webhooks.latency != nil {
		p, err := r.webhooksChart()
		if err != nil {
			return nil, err
		}
		if err := c.save(p, "delivery"); err != nil {
			return nil, err
		}
	}
	if len(r.drainSeries) > 0 {
		p, err := r.drainChart()
		if err != nil {
			return nil, err
		}
		if err := c.save(p, "drain"); err != nil {
			return nil, err
		}
	}
	if r.writerDiff != nil {
		p, err := r.lagsChart()
		if err != nil {
			return nil, err
		}
		if p != nil {
			if err := c.save(p, "lags"); err != nil {
				return nil, err
			}
		}
	}
	return c.names, nil
}

// chartFiles saves a report's charts into dir, named after the report, and
// keeps their file names.
type chartFiles struct {
	dir, base string
	names     []string
}

// save frames p and writes it as <base>-<suffix>.png.
func (c *chartFiles) save(p *plot.Plot, suffix string) error {
	frame(p)
	name := c.base + "-" + suffix + ".png"
	if err := p.Save(8*vg.Inch, 4*vg.Inch, filepath.Join(c.dir, name)); err != nil {
		return err
	}
	c.names = append(c.names, name)
	return nil
}

// steadyCharts plots the steady scenario's create p99 (api and reference)
// and every endpoint's completed requests per second.
func (r *report) steadyCharts() (lat, thr *plot.Plot, err error) {
	rec := r.phases[0].rec
	lat = newChart("create p99 per second, from the scheduled send time", "seconds into the run", "p99 latency (ms)")
	thr = newChart("completed requests per second", "seconds into the run", "requests per second")
	var lines []any
	var tlines []any
	for _, name := range sortedKeys(rec.hists) {
		counts, p99 := rec.series(name)
		if name == "create" {
			lines = append(lines, "api create", xy(p99))
			if r.refCreate != nil {
				_, rp99 := r.refCreate.rec.series("create")
				lines = append(lines, "reference create", xy(rp99))
			}
		}
		tlines = append(tlines, name, xy(counts))
	}
	if err := plotutil.AddLines(lat, lines...); err != nil {
		return nil, nil, err
	}
	if err := plotutil.AddLines(thr, tlines...); err != nil {
		return nil, nil, err
	}
	return lat, thr, nil
}

// drainChart plots the messages in MySQL while the backlog drains.
func (r *report) drainChart() (*plot.Plot, error) {
	p := newChart("messages in MySQL while the backlog drains", "seconds since the writer started", "messages in MySQL")
	pts := make(plotter.XYs, len(r.drainSeries))
	for i, d := range r.drainSeries {
		pts[i] = plotter.XY{X: d.at.Seconds(), Y: float64(d.count)}
	}
	if err := plotutil.AddLines(p, "messages", pts); err != nil {
		return nil, err
	}
	return p, nil
}

// lagsChart plots the persist and searchable lags as cumulative shares; it
// returns nil when neither histogram holds a sample.
func (r *report) lagsChart() (*plot.Plot, error) {
	p := newChart("pipeline lags: share of jobs done within a lag", "lag (seconds, log scale)", "share of jobs")
	p.X.Scale = plot.LogScale{}
	p.X.Tick.Marker = plainTicks{plot.LogTicks{}}
	p.Legend.Top = false // the lines rise to the top right
	var lines []any
	for _, l := range []struct {
		name   string
		s      samples
		metric string
	}{
		{"persist", r.writerDiff, "instachat_job_commit_lag_seconds"},
		{"searchable", r.apiDiff, "instachat_job_searchable_lag_seconds"},
	} {
		if pts := cdf(l.s.histogram(l.metric)); len(pts) > 0 {
			lines = append(lines, l.name, pts)
		}
	}
	if len(lines) == 0 {
		return nil, nil
	}
	if err := plotutil.AddLinePoints(p, lines...); err != nil {
		return nil, err
	}
	return p, nil
}

// newChart returns a plot with its title and both axes named, plain tick
// labels (no 1e+01) and room around the lines.
func newChart(title, x, y string) *plot.Plot {
	p := plot.New()
	p.Title.Text = title
	p.X.Label.Text, p.Y.Label.Text = x, y
	p.X.Tick.Marker = plainTicks{plot.DefaultTicks{}}
	p.Y.Tick.Marker = plainTicks{plot.DefaultTicks{}}
	p.X.Padding, p.Y.Padding = vg.Points(4), vg.Points(4)
	p.Legend.Top = true
	return p
}

// frame leaves room above and to the right of the lines, so neither they
// nor the legend run into the frame, and starts a linear y axis at zero.
func frame(p *plot.Plot) {
	if _, log := p.X.Scale.(plot.LogScale); log {
		p.X.Max *= 1.25
	} else if p.X.Max > p.X.Min {
		p.X.Max += (p.X.Max - p.X.Min) * 0.02
	}
	if _, log := p.Y.Scale.(plot.LogScale); log {
		return
	}
	p.Y.Min = math.Min(p.Y.Min, 0)
	if p.Y.Max > p.Y.Min {
		p.Y.Max += (p.Y.Max - p.Y.Min) * 0.15
	}
}

// plainTicks relabels another ticker's ticks as plain decimals.
type plainTicks struct{ plot.Ticker }

// Ticks returns the wrapped ticker's ticks with plain labels.
func (t plainTicks) Ticks(min, max float64) []plot.Tick {
	ticks := t.Ticker.Ticks(min, max)
	for i := range ticks {
		if ticks[i].Label != "" {
			ticks[i].Label = strconv.FormatFloat(ticks[i].Value, 'f', -1, 64)
		}
	}
	return ticks
}

func xy(ys []float64) plotter.XYs {
	pts := make(plotter.XYs, len(ys))
	for i, y := range ys {
		pts[i] = plotter.XY{X: float64(i), Y: y}
	}
	return pts
}

// cdf turns cumulative buckets into (bound, share) points, finite bounds only.
func cdf(bs []bucket) plotter.XYs {
	if len(bs) == 0 || bs[len(bs)-1].count == 0 {
		return nil
	}
	total := bs[len(bs)-1].count
	var pts plotter.XYs
	for _, b := range bs {
		if !math.IsInf(b.le, 1) {
			pts = append(pts, plotter.XY{X: b.le, Y: b.count / total})
		}
	}
	return pts
}
