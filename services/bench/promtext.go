package main

import (
	"bufio"
	"io"
	"math"
	"sort"
	"strconv"
	"strings"
)

// samples maps a Prometheus series (name plus its label text, as exposed) to
// its value. Diffing two scrapes gives what happened during the run.
type samples map[string]float64

// parseProm reads the Prometheus text format, skipping comments.
func parseProm(r io.Reader) (samples, error) {
	out := samples{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' {
			continue
		}
		end := strings.IndexByte(line, ' ')
		if b := strings.LastIndexByte(line, '}'); b >= 0 {
			end = b + 1
		}
		if end < 0 || end >= len(line) {
			continue
		}
		series := line[:end]
		fields := strings.Fields(line[end:]) // value, then an optional timestamp
		if len(fields) == 0 {
			continue
		}
		val := fields[0]
		v, err := strconv.ParseFloat(val, 64)
		if err != nil {
			continue
		}
		out[strings.TrimSpace(series)] = v
	}
	return out, sc.Err()
}

// diff returns after − before for every series in after.
func (after samples) diff(before samples) samples {
	out := samples{}
	for k, v := range after {
		out[k] = v - before[k]
	}
	return out
}

// sum adds every series of a metric whose labels contain all of match
// (e.g. `outcome="duplicate"`).
func (s samples) sum(name string, match ...string) float64 {
	var t float64
	for k, v := range s {
		if k != name && !strings.HasPrefix(k, name+"{") {
			continue
		}
		ok := true
		for _, m := range match {
			if !strings.Contains(k, m) {
				ok = false
				break
			}
		}
		if ok {
			t += v
		}
	}
	return t
}

// byLabel groups a metric's values by one label's value.
func (s samples) byLabel(name, label string) map[string]float64 {
	out := map[string]float64{}
	for k, v := range s {
		if !strings.HasPrefix(k, name+"{") {
			continue
		}
		out[labelValue(k, label)] += v
	}
	return out
}

func labelValue(series, label string) string {
	i := strings.Index(series, label+`="`)
	if i < 0 {
		return ""
	}
	rest := series[i+len(label)+2:]
	if j := strings.IndexByte(rest, '"'); j >= 0 {
		return rest[:j]
	}
	return rest
}

// bucket is one cumulative histogram bucket.
type bucket struct {
	le    float64
	count float64
}

// histogram collects the cumulative buckets of one histogram metric (summed
// over its other labels).
func (s samples) histogram(name string) []bucket {
	m := map[float64]float64{}
	for k, v := range s {
		if !strings.HasPrefix(k, name+"_bucket{") {
			continue
		}
		le := labelValue(k, "le")
		f, err := strconv.ParseFloat(le, 64)
		if le == "+Inf" {
			f, err = math.Inf(1), nil
		}
		if err != nil {
			continue
		}
		m[f] += v
	}
	out := make([]bucket, 0, len(m))
	for le, c := range m {
		out = append(out, bucket{le, c})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].le < out[j].le })
	return out
}

// quantile estimates q from cumulative buckets by linear interpolation inside
// the bucket, as Prometheus's histogram_quantile does. ok is false when the
// histogram is empty.
func quantile(q float64, bs []bucket) (v float64, ok bool) {
	if len(bs) == 0 || bs[len(bs)-1].count <= 0 {
		return 0, false
	}
	total := bs[len(bs)-1].count
	rank := q * total
	prevLe, prevCount := 0.0, 0.0
	for _, b := range bs {
		if b.count >= rank {
			if math.IsInf(b.le, 1) {
				return prevLe, true // beyond the last finite bound: report it
			}
			if b.count == prevCount {
				return b.le, true
			}
			return prevLe + (b.le-prevLe)*(rank-prevCount)/(b.count-prevCount), true
		}
		prevLe, prevCount = b.le, b.count
	}
	return prevLe, true
}
