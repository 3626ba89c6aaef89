package main

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestOpenLoopMeasuresFromScheduledTime(t *testing.T) {
	// A server that handles one request at a time, slowly: with an open loop
	// later requests queue behind it, and that wait must show in the latency.
	const delay = 20 * time.Millisecond
	gate := make(chan struct{}, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gate <- struct{}{}
		time.Sleep(delay)
		<-gate
	}))
	defer srv.Close()
	rec := newRecorder()
	const n = 10
	do := func(ctx context.Context) int {
		resp, err := http.Get(srv.URL)
		if err != nil {
			return 0
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	runOpenLoop(context.Background(), schedule{rate: 1000, duration: n * time.Millisecond, maxInFlight: 100},
		func(int) (string, op) { return "slow", do }, rec)
	st := rec.stats()
	if len(st) != 1 || st[0].Count != n || st[0].OK != n {
		t.Fatalf("got %+v, want %d ok requests on one endpoint", st, n)
	}
	// Requests are served one after another, so the last one waited for all
	// the others: measured from its scheduled time it took at least n×delay
	// minus the schedule's spread. A lower bound only, never a speed limit.
	if min := time.Duration(n)*delay - n*time.Millisecond; st[0].Max < min {
		t.Errorf("max latency %v, want at least %v: latency is not measured from the scheduled time", st[0].Max, min)
	}
}

func TestTextGen(t *testing.T) {
	g := newTextGen(7, 1000)
	counts := map[string]int{}
	for range 2000 {
		words := strings.Fields(g.message())
		if len(words) < 5 || len(words) > 30 {
			t.Fatalf("got %d words, want 5–30", len(words))
		}
		for _, w := range words {
			counts[w]++
		}
	}
	// Zipf: the most frequent word (rank 0) must dominate a mid-rank word.
	top, mid := counts[g.vocab[0]], counts[g.vocab[500]]
	if top <= 10*mid {
		t.Errorf("rank 0 seen %d times, rank 500 %d times: want a Zipf skew", top, mid)
	}
	if again := newTextGen(7, 1000).message(); again != newTextGen(7, 1000).message() {
		t.Errorf("same seed gave different text")
	}
}

const promBefore = `# HELP instachat_job_commit_lag_seconds x
# TYPE instachat_job_commit_lag_seconds histogram
instachat_job_commit_lag_seconds_bucket{le="0.1"} 10
instachat_job_commit_lag_seconds_bucket{le="1"} 10
instachat_job_commit_lag_seconds_bucket{le="+Inf"} 10
instachat_jobs_total{outcome="applied",type="message.create"} 5
instachat_jobs_total{outcome="duplicate",type="message.create"} 1
`

const promAfter = `instachat_job_commit_lag_seconds_bucket{le="0.1"} 60
instachat_job_commit_lag_seconds_bucket{le="1"} 110
instachat_job_commit_lag_seconds_bucket{le="+Inf"} 110
instachat_jobs_total{outcome="applied",type="message.create"} 105
instachat_jobs_total{outcome="duplicate",type="message.create"} 3 1700000000
instachat_out_of_order_total{kind="stale_update"} 4
`

func TestPromDiff(t *testing.T) {
	before, err := parseProm(strings.NewReader(promBefore))
	if err != nil {
		t.Fatal(err)
	}
	after, _ := parseProm(strings.NewReader(promAfter))
	d := after.diff(before)
	bs := d.histogram("instachat_job_commit_lag_seconds")
	if len(bs) != 3 || bs[0].count != 50 || bs[2].count != 100 {
		t.Fatalf("got buckets %+v, want 50 ≤0.1, 100 total", bs)
	}
	tests := []struct{ q, want float64 }{{0.5, 0.1}, {0.25, 0.05}, {0.75, 0.55}}
	for _, tt := range tests {
		if got, ok := quantile(tt.q, bs); !ok || got < tt.want-1e-9 || got > tt.want+1e-9 {
			t.Errorf("quantile(%v) = %v, want %v", tt.q, got, tt.want)
		}
	}
	if got := d.sum("instachat_jobs_total"); got != 102 {
		t.Errorf("jobs diff %v, want 102", got)
	}
	if got := d.sum("instachat_jobs_total", `outcome="duplicate"`); got != 2 {
		t.Errorf("duplicates diff %v, want 2", got)
	}
	if got := d.byLabel("instachat_out_of_order_total", "kind")["stale_update"]; got != 4 {
		t.Errorf("stale_update %v, want 4", got)
	}
	if _, ok := quantile(0.5, nil); ok {
		t.Errorf("quantile of an empty histogram reported ok")
	}
}

func TestParseMix(t *testing.T) {
	m, err := parseMix("create=80,update=10,read=5,search=5")
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]int{}
	pick := m.picker()
	for i := range 10000 {
		got[pick(i)]++
	}
	if got["create"] < 7000 || got["create"] > 9000 || got["search"] == 0 {
		t.Errorf("got %v for 10,000 picks, want about 80/10/5/5 %%", got)
	}
	for _, bad := range []string{"create", "create=x", "delete=3", "create=0"} {
		if _, err := parseMix(bad); err == nil {
			t.Errorf("parseMix(%q): got no error", bad)
		}
	}
}

func TestReportMarkdown(t *testing.T) {
	rec := newRecorder()
	now := time.Now()
	rec.begin(now)
	rec.record("create", now, 3*time.Millisecond, 201)
	rec.record("create", now, 9*time.Millisecond, 503)
	after, _ := parseProm(strings.NewReader(promAfter))
	r := &report{
		cfg:        config{scenario: "steady", rate: 100, duration: time.Second, mixText: "create=1", args: []string{"-scenario", "steady"}},
		phases:     []*phase{{name: "api", rec: rec, stats: rec.stats()}},
		writerDiff: after, apiDiff: samples{}, machine: "test machine",
		usage: map[string]procUsage{"api": {PeakRSS: 64 << 20, CPUSeconds: 1, Wall: 2}},
	}
	var b bytes.Buffer
	r.markdown(&b, []string{"x-create-p99.png"})
	out := b.String()
	for _, want := range []string{
		"go run ./services/bench -scenario steady",
		"| create | 2 | 1 |",
		"503: 1",
		"| outcome duplicate | 3 |",
		"| api | 64.0 | 1.0 | 50 |",
		"![x-create-p99](x-create-p99.png)",
		"test machine",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("report lacks %q:\n%s", want, out)
		}
	}
}

func TestReportWritesFiles(t *testing.T) {
	rec := newRecorder()
	now := time.Now()
	rec.begin(now)
	for i := range 5 {
		rec.record("create", now.Add(time.Duration(i)*time.Second), time.Millisecond, 201)
	}
	dir := t.TempDir()
	r := &report{cfg: config{scenario: "steady", mixText: "create=1"}, started: now, machine: "m",
		phases: []*phase{{rec: rec, stats: rec.stats()}}, writerDiff: samples{}, apiDiff: samples{}}
	path, err := r.write(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(path, "-steady.md") {
		t.Errorf("got path %s", path)
	}
	idx, _ := filepathGlob(dir, "*.png")
	if len(idx) != 2 {
		t.Errorf("got %d PNGs %v, want 2 (create p99, throughput)", len(idx), idx)
	}
}

func filepathGlob(dir, pattern string) ([]string, error) {
	return filepath.Glob(filepath.Join(dir, pattern))
}

func TestRecorderWithoutBegin(t *testing.T) {
	rec := newRecorder() // closed-loop callers never call begin
	rec.record("create", time.Now(), time.Millisecond, 201)
	if counts, _ := rec.series("create"); len(counts) != 1 {
		t.Errorf("got %d seconds in the series, want 1", len(counts))
	}
}
