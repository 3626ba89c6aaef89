package main

import (
	"math"
	"path/filepath"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
)

// charts draws the PNGs next to the report and returns their file names.
func (r *report) charts(dir, base string) ([]string, error) {
	var out []string
	save := func(p *plot.Plot, suffix string) error {
		name := base + "-" + suffix + ".png"
		if err := p.Save(8*vg.Inch, 4*vg.Inch, filepath.Join(dir, name)); err != nil {
			return err
		}
		out = append(out, name)
		return nil
	}
	if len(r.phases) > 0 && r.cfg.scenario == "steady" {
		rec := r.phases[0].rec
		lat := plot.New()
		lat.Title.Text = "create p99 per second (ms, from scheduled send time)"
		lat.X.Label.Text = "s"
		thr := plot.New()
		thr.Title.Text = "completed requests per second"
		thr.X.Label.Text = "s"
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
			return nil, err
		}
		if err := plotutil.AddLines(thr, tlines...); err != nil {
			return nil, err
		}
		if err := save(lat, "create-p99"); err != nil {
			return nil, err
		}
		if err := save(thr, "throughput"); err != nil {
			return nil, err
		}
	}
	if r.search != nil && r.search.load != nil {
		p, err := r.searchChart()
		if err != nil {
			return nil, err
		}
		if err := save(p, "search-p99"); err != nil {
			return nil, err
		}
	}
	if len(r.drainSeries) > 0 {
		p := plot.New()
		p.Title.Text = "messages in MySQL while the backlog drains"
		p.X.Label.Text = "s since writer start"
		pts := make(plotter.XYs, len(r.drainSeries))
		for i, d := range r.drainSeries {
			pts[i] = plotter.XY{X: d.at.Seconds(), Y: float64(d.count)}
		}
		if err := plotutil.AddLines(p, "messages", pts); err != nil {
			return nil, err
		}
		if err := save(p, "drain"); err != nil {
			return nil, err
		}
	}
	if r.writerDiff != nil {
		p := plot.New()
		p.Title.Text = "pipeline lags: share of jobs done within x (s, log scale)"
		p.X.Scale = plot.LogScale{}
		p.X.Tick.Marker = plot.LogTicks{}
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
		if len(lines) > 0 {
			if err := plotutil.AddLinePoints(p, lines...); err != nil {
				return nil, err
			}
			if err := save(p, "lags"); err != nil {
				return nil, err
			}
		}
	}
	return out, nil
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
