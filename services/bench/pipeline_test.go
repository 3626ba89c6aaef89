package main

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestRampRuleJudge(t *testing.T) {
	rule := rampRule{p99: 50 * time.Millisecond, catchUp: 5 * time.Second}
	good := func() *stepResult {
		return &stepResult{sent: 100,
			stats:  endpointStats{Count: 100, P99: 20 * time.Millisecond, Statuses: map[int]int64{201: 100}},
			caught: catchUp{persisted: time.Second, searchable: 2 * time.Second, want: 100, got: pipelineProgress{persisted: 100, searchable: 100}}}
	}
	tests := []struct {
		name   string
		change func(s *stepResult)
		miss   string // "" when the step must hold
	}{
		{"all within the rule", func(*stepResult) {}, ""},
		{"p99 at the limit", func(s *stepResult) { s.stats.P99 = 50 * time.Millisecond }, ""},
		{"catch-up at the limit", func(s *stepResult) { s.caught.searchable = 5 * time.Second }, ""},
		{"p99 over", func(s *stepResult) { s.stats.P99 = 51 * time.Millisecond }, "p99 51.00 ms > 50.00 ms"},
		{"one 503", func(s *stepResult) { s.stats.Statuses = map[int]int64{201: 99, 503: 1} }, "1 not 201"},
		{"a transport error", func(s *stepResult) { s.stats.Statuses = map[int]int64{201: 99, 0: 1} }, "1 not 201"},
		{"fewer answered than scheduled", func(s *stepResult) { s.stats.Count, s.stats.Statuses[201] = 90, 90 }, "90 of 100 sent"},
		{"persisted late", func(s *stepResult) { s.caught.persisted = 6 * time.Second }, "persisted after 6.0 s > 5s"},
		{"searchable late", func(s *stepResult) { s.caught.searchable = 5100 * time.Millisecond }, "searchable after 5.1 s > 5s"},
		{"never searchable", func(s *stepResult) { s.caught.searchable, s.caught.got.searchable = -1, 97 }, "97 of 100 searchable"},
		{"failed batches", func(s *stepResult) { s.failures = 2 }, "2 failed batches"},
	}
	for _, tt := range tests {
		s := good()
		tt.change(s)
		held, misses := rule.judge(s)
		if tt.miss == "" {
			if !held {
				t.Errorf("%s: got missed %v, want held", tt.name, misses)
			}
			continue
		}
		if held || !strings.Contains(strings.Join(misses, "; "), tt.miss) {
			t.Errorf("%s: got held %v, misses %q; want missed with %q", tt.name, held, misses, tt.miss)
		}
	}
}

func TestPipelineDefaults(t *testing.T) {
	env := func(string) string { return "" }
	c, err := parseFlags([]string{"-scenario", "pipeline"}, env)
	if err != nil {
		t.Fatal(err)
	}
	if c.step != 15*time.Second || c.stepFactor != 1.25 || c.rate != 1000 || c.systemRate != 1000 || c.closedDuration != 8*time.Second ||
		c.closedClients != 64 || c.catchUp != 5*time.Second || c.p99Limit != 50*time.Millisecond || c.bursts != 3 || c.maxSteps != 0 {
		t.Errorf("defaults: got step %v ×%v from %v and %v, bursts %d × %v from %d clients, catch-up %v, p99 %v, max steps %d; "+
			"want 15s ×1.25 from 1000 and 1000, 3 × 8s from 64, 5s, 50ms, 0",
			c.step, c.stepFactor, c.rate, c.systemRate, c.bursts, c.closedDuration, c.closedClients, c.catchUp, c.p99Limit, c.maxSteps)
	}
	c, err = parseFlags([]string{"-scenario", "pipeline", "-step", "5s", "-rate", "500", "-system-rate", "400", "-max-steps", "2", "-bursts", "1"}, env)
	if err != nil {
		t.Fatal(err)
	}
	if c.step != 5*time.Second || c.rate != 500 || c.systemRate != 400 || c.maxSteps != 2 || c.bursts != 1 {
		t.Errorf("given: got step %v, rates %v and %v, max steps %d, bursts %d; want 5s, 500 and 400, 2, 1", c.step, c.rate, c.systemRate, c.maxSteps, c.bursts)
	}
	for _, bad := range [][]string{{"-step-factor", "1"}, {"-catch-up", "0s"}, {"-max-steps", "-1"}} {
		if _, err := parseFlags(append([]string{"-scenario", "pipeline"}, bad...), env); err == nil {
			t.Errorf("%v: got no error", bad)
		}
	}
}

// queuePipeline is a pipeline that indexes what a fake create route
// accepted at a fixed rate, as a queue drains: a step above that rate
// leaves a backlog that takes time to catch up.
type queuePipeline struct {
	base      string
	created   *atomic.Int64
	perSecond float64
	mu        sync.Mutex
	indexed   float64
	last      time.Time
}

func (q *queuePipeline) url() string { return q.base }

func (q *queuePipeline) progress(context.Context) (pipelineProgress, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	now := time.Now()
	if !q.last.IsZero() {
		q.indexed = min(float64(q.created.Load()), q.indexed+q.perSecond*now.Sub(q.last).Seconds())
	}
	q.last = now
	return pipelineProgress{persisted: q.created.Load(), searchable: int64(q.indexed)}, nil
}

func (q *queuePipeline) lags(context.Context) (stepLags, error) { return stepLags{}, nil }

// TestRampStopsAfterASecondMiss ramps a pipeline that indexes 250
// messages/s in steps of 0.5 s from 50/s, ×4: 50 and 200 hold, 800 leaves
// a backlog of 275 (1.1 s to index, more than the 0.6 s allowed), misses,
// runs again and misses again, and the ramp stops at 200. The margins are
// wide: under -race on a busy machine answers come late.
func TestRampStopsAfterASecondMiss(t *testing.T) {
	var created atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := created.Add(1)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusCreated)
		_, _ = io.WriteString(w, `{"number":`+itoa(n)+`,"body":"b","status":"pending"}`)
	}))
	defer srv.Close()
	w, err := newWorkload(srv.URL, 100, 1)
	if err != nil {
		t.Fatal(err)
	}
	w.chats = []*chatRef{{token: "t", number: 1}}
	r := &pipelineRun{cfg: config{step: 500 * time.Millisecond, stepFactor: 4, maxInFlight: 100}, log: io.Discard,
		res: &pipelineResult{rule: rampRule{p99: 5 * time.Second, catchUp: 600 * time.Millisecond}}}
	q := &queuePipeline{base: srv.URL, created: &created, perSecond: 250, last: time.Now()}
	best, steps, capped := r.ramp(context.Background(), &target{who: "fake", w: w, pl: q}, 50)
	var got []string
	for _, s := range steps {
		got = append(got, itoa(int64(s.rate))+"/"+itoa(int64(s.try))+"/"+yesNo(s.held))
	}
	if want := "50/1/yes 200/1/yes 800/1/no 800/2/no"; strings.Join(got, " ") != want || best != 200 || capped {
		t.Errorf("got steps %v, best %v, capped %v; want %s, best 200, not capped", got, best, capped, want)
	}
	if s := steps[min(2, len(steps)-1)]; !strings.Contains(strings.Join(s.misses, ";"), "searchable after") || s.caught.persisted > s.caught.searchable {
		t.Errorf("800/s: got misses %v, persisted after %v, searchable after %v; want searchable late, persisted before", s.misses, s.caught.persisted, s.caught.searchable)
	}
	if last := steps[len(steps)-1]; last.caught.want != created.Load() {
		t.Errorf("got want %d after the last step, want every create (%d)", last.caught.want, created.Load())
	}

	r.cfg.maxSteps = 1
	best, steps, capped = r.ramp(context.Background(), &target{who: "fake", w: w, pl: q, want: created.Load()}, 50)
	if len(steps) != 1 || best != 50 || !capped {
		t.Errorf("-max-steps 1: got %d steps, best %v, capped %v; want 1, 50, capped", len(steps), best, capped)
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

func TestBurstRatio(t *testing.T) {
	mk := func(who string, ok int64) burstResult {
		return burstResult{who: who, elapsed: time.Second, stats: endpointStats{Count: ok, Statuses: map[int]int64{201: ok}}}
	}
	bursts := []burstResult{mk("ours", 9000), mk("reference endpoint", 30000), mk("ours", 3000), mk("reference endpoint", 36000),
		mk("ours", 10000), mk("reference endpoint", 33000)}
	ratio, ours, ref := burstRatio(bursts)
	if ours != 9000 || ref != 33000 || ratio < 0.272 || ratio > 0.273 {
		t.Errorf("got ours %v, reference %v, ratio %v; want the medians 9000 and 33000, 0.27", ours, ref, ratio)
	}
	if got := median([]float64{4, 1, 3, 2}); got != 2.5 {
		t.Errorf("median of 1..4: got %v, want 2.5", got)
	}
	if _, _, ref := burstRatio(nil); ref != 0 {
		t.Errorf("no bursts: got reference %v, want 0", ref)
	}
}

// fakeStep is a judged step for the report tests.
func fakeStep(who string, rate float64, try int, p99 time.Duration, searchable time.Duration, rule rampRule) *stepResult {
	rec := newRecorder()
	now := time.Now()
	rec.begin(now)
	rec.record("create", now, p99, 201)
	s := &stepResult{who: who, label: who, rate: rate, d: 15 * time.Second, try: try, sent: 1, phase: &phase{rec: rec, stats: rec.stats()},
		stats: findStats(rec.stats(), "create"), pressure: 12,
		caught: catchUp{persisted: max(0, searchable/2), searchable: searchable, want: 1, got: pipelineProgress{persisted: 1, searchable: min(1, max(0, int64(searchable)))}},
		lags:   stepLags{Commit: lagSummary{Count: 1, P50: 7, P99: 40}, Searchable: lagSummary{Count: 1, P50: 60, P99: 900}}}
	s.held, s.misses = rule.judge(s)
	return s
}

func fakePipelineReport() *report {
	rule := rampRule{p99: 50 * time.Millisecond, catchUp: 5 * time.Second}
	burst := func(round int, who string, ok int64) burstResult {
		return burstResult{round: round, who: who, elapsed: time.Second, pressure: 30, stats: endpointStats{Count: ok, Statuses: map[int]int64{201: ok}}}
	}
	res := &pipelineResult{rule: rule, refBest: 4656, ourBest: 2980, liveIndexed: 900, ourCreated: 1000, refDrop: 3 * time.Second,
		refSteps: []*stepResult{fakeStep("reference", 4656, 1, 10*time.Millisecond, time.Second, rule), fakeStep("reference", 5820, 1, 80*time.Millisecond, time.Second, rule),
			fakeStep("reference", 5820, 2, 90*time.Millisecond, time.Second, rule)},
		ourSteps: []*stepResult{fakeStep("ours", 2980, 1, 20*time.Millisecond, 2*time.Second, rule), fakeStep("ours", 3725, 1, 30*time.Millisecond, -1, rule)},
		half:     fakeStep("ours", 1490, 1, 13*time.Millisecond, time.Second, rule),
		bursts:   []burstResult{burst(1, "ours", 10019), burst(1, "reference endpoint", 33318)},
	}
	return &report{cfg: config{scenario: "pipeline", step: 15 * time.Second, stepFactor: 1.25, rate: 1000, systemRate: 1000, closedClients: 64,
		closedDuration: 8 * time.Second, args: []string{"-scenario", "pipeline"}}, machine: "test machine", pipeline: res}
}

func TestPipelineReportMarkdown(t *testing.T) {
	var b bytes.Buffer
	fakePipelineReport().markdown(&b, nil)
	out := b.String()
	for _, want := range []string{
		"go run ./services/bench -scenario pipeline",
		"| 2980 vs 4656 messages/s: **0.64** | **≥ 0.85** | no |",
		"| 10019 vs 33318 requests/s: **0.30** | **≥ 0.75** | no |",
		"| create p99 at half the whole-pipeline rate (1490/s for 15s) | 13.0",
		" ms | **≤ 10.00 ms** | no |",
		"| reference | 4656 | 1 |",
		"| reference (again) | 5820 |",
		"missed: p99 80.",
		"| 7 / 40 | 60 / 900 | 12 % | held |",
		"missed: 0 of 1 searchable",
		"ratio **0.64** (target ≥ 0.85)",
		"recorded 900 searchable-lag samples (live reindex path) for 1000 creates",
		"| 1 | reference endpoint | 33318 | 33318 | 33318 |",
		"ratio **0.30** (target ≥ 0.75)",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("report lacks %q:\n%s", want, out)
		}
	}
}

func TestPipelineReportWritesCharts(t *testing.T) {
	r := fakePipelineReport()
	r.started = time.Now()
	dir := t.TempDir()
	path, err := r.write(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(path, "-pipeline.md") {
		t.Errorf("got path %s, want …-pipeline.md", path)
	}
	for _, suffix := range []string{"-ramp-p99.png", "-ramp-catchup.png"} {
		if m, _ := filepath.Glob(filepath.Join(dir, "*"+suffix)); len(m) != 1 {
			t.Errorf("got %d files *%s, want 1", len(m), suffix)
		}
	}
}

// TestRefStatsRoutes pushes 700 messages through a reference pipeline and
// reads them back through the routes the harness polls.
func TestRefStatsRoutes(t *testing.T) {
	if testing.Short() {
		t.Skip("needs MariaDB and Redis")
	}
	p := newTestRefPipeline(t)
	ctx := context.Background()
	const n = 700
	for i := 1; i <= n; i++ {
		if err := refEnqueue.Run(ctx, p.cfg.rdb, []string{p.ctr + "t:1", p.queue}, refJobHead(time.Now(), "t", "1"), "hello "+itoa(int64(i))).Err(); err != nil {
			t.Fatal(err)
		}
	}
	srv := httptest.NewServer(p.handler())
	defer srv.Close()
	c := refClient{base: srv.URL, hc: srv.Client()}
	if got, err := c.progress(ctx); err != nil || got != (pipelineProgress{}) {
		t.Fatalf("before the consumer: got %+v (%v), want nothing persisted or searchable", got, err)
	}
	for {
		k, err := p.step(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if k == 0 {
			break
		}
	}
	got, err := c.progress(ctx)
	if err != nil || got != (pipelineProgress{persisted: n, searchable: n}) {
		t.Errorf("after the consumer: got %+v (%v), want %d persisted and searchable, no failures", got, err, n)
	}
	l, err := c.lags(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if l.Commit.Count != n || l.Searchable.Count != n || l.Searchable.P99 <= 0 || l.Searchable.P99 < l.Commit.P50 || l.Searchable.Max < l.Searchable.P99 {
		t.Errorf("got lags %+v, want %d of each, searchable p99 > 0, at least the commit p50, at most its max", l, n)
	}
	if l, err := c.lags(ctx); err != nil || l.Commit.Count != 0 || l.Searchable.Count != 0 {
		t.Errorf("second take: got %+v (%v), want no samples: a take starts new lags", l, err)
	}
}
