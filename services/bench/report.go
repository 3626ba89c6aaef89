package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"time"
)

// report gathers a run's figures and writes them as Markdown plus charts.
type report struct {
	cfg            config
	started        time.Time
	phases         []*phase // api load (steady), ramp steps (ramp), fill (backlog)
	refCreate      *phase
	refSteps       []*phase
	rampAPI        float64 // create path alone (writer stopped)
	rampRef        float64
	rampSystem     float64 // whole system (writer and indexing running)
	systemSteps    []*phase
	apiDiff        samples
	writerDiff     samples
	writerSeconds  float64
	drainWait      time.Duration
	usage          map[string]procUsage
	fillTime       time.Duration
	backlogQueued  int64
	writerStartup  time.Duration
	drainTime      time.Duration
	drainEnd       time.Time     // when MySQL held every queued message
	searchableTime time.Duration // writer start → every queued message searchable (0: not measured)
	drainSeries    []drainPoint
	machine        string
	profileDir     string
	cpu            []phaseCPU // CPU per process during measured phases
	prof           profiles
	search         *searchResult
	history        *historyResult
	subscribe      *subscribeResult
	webhooks       *webhooksResult
	pipeline       *pipelineResult
}

// base is the reports' file name stem: date, time and scenario, so runs on
// one day do not overwrite each other.
func (r *report) base() string {
	return r.started.UTC().Format("2006-01-02-1504") + "-" + r.cfg.scenario
}

func ms(d time.Duration) string { return fmt.Sprintf("%.2f", float64(d)/float64(time.Millisecond)) }

// writeLatencyTable writes one row per endpoint.
func writeLatencyTable(w io.Writer, st []endpointStats) {
	fmt.Fprintln(w, "| endpoint | requests | ok | achieved/s | p50 ms | p90 ms | p99 ms | p99.9 ms | max ms | errors by status |")
	fmt.Fprintln(w, "|---|---:|---:|---:|---:|---:|---:|---:|---:|---|")
	for _, s := range st {
		fmt.Fprintf(w, "| %s | %d | %d | %.0f | %s | %s | %s | %s | %s | %s |\n", s.Name, s.Count, s.OK, s.Rate,
			ms(s.P50), ms(s.P90), ms(s.P99), ms(s.P999), ms(s.Max), errorsText(s.Statuses))
	}
}

func errorsText(m map[int]int64) string {
	var codes []int
	for c := range m {
		if c < 200 || c >= 300 {
			codes = append(codes, c)
		}
	}
	if len(codes) == 0 {
		return "none"
	}
	sort.Ints(codes)
	var parts []string
	for _, c := range codes {
		label := fmt.Sprint(c)
		switch c {
		case 0:
			label = "transport"
		case statusUnreadable:
			label = "unreadable 200"
		}
		parts = append(parts, fmt.Sprintf("%s: %d", label, m[c]))
	}
	return strings.Join(parts, ", ")
}

func lagRow(w io.Writer, name string, s samples, metric string) {
	bs := s.histogram(metric)
	if len(bs) == 0 || bs[len(bs)-1].count == 0 {
		fmt.Fprintf(w, "| %s | 0 | – | – | – |\n", name)
		return
	}
	q := func(x float64) string { v, _ := quantile(x, bs); return fmt.Sprintf("%.0f", v*1000) }
	fmt.Fprintf(w, "| %s | %.0f | %s | %s | %s |\n", name, bs[len(bs)-1].count, q(0.5), q(0.9), q(0.99))
}

// machine describes the host: cores, memory, CPU model.
func machine() string {
	model := "unknown"
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				model = strings.TrimSpace(v)
				break
			}
		}
	}
	mem := "unknown"
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		if f := strings.Fields(strings.SplitN(string(b), "\n", 2)[0]); len(f) >= 2 {
			var kb float64
			fmt.Sscan(f[1], &kb)
			mem = fmt.Sprintf("%.1f GiB", kb/1024/1024)
		}
	}
	return fmt.Sprintf("%d CPUs (nproc), %s RAM, %s, %s/%s, %s", runtime.NumCPU(), mem, model, runtime.GOOS, runtime.GOARCH, runtime.Version())
}

// write renders the report into dir and updates the index; it returns the
// report's path.
func (r *report) write(dir string) (string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	base := r.base()
	if r.machine == "" {
		r.machine = machine()
	}
	charts, err := r.charts(dir, base)
	if err != nil {
		return "", fmt.Errorf("charts: %w", err)
	}
	path := filepath.Join(dir, base+".md")
	f, err := os.Create(path)
	if err != nil {
		return "", err
	}
	r.markdown(f, charts)
	if err := f.Close(); err != nil {
		return "", err
	}
	return path, updateIndex(dir)
}

// markdown writes the report: the header, the scenario's own section, then
// the pipeline, resources, profiles and charts every scenario shares.
func (r *report) markdown(w io.Writer, charts []string) {
	r.headerMarkdown(w)
	switch r.cfg.scenario {
	case "pipeline":
		r.pipelineScenarioMarkdown(w)
	case "steady":
		r.steadyMarkdown(w)
	case "ramp":
		r.rampMarkdown(w)
	case "search":
		r.searchMarkdown(w)
	case "history":
		r.historyMarkdown(w)
	case "subscribe":
		r.subscribeMarkdown(w)
	case "webhooks":
		r.webhooksMarkdown(w)
	case "backlog":
		r.backlogMarkdown(w)
	}
	if r.writerDiff != nil {
		r.pipelineMarkdown(w)
	}
	r.resourcesMarkdown(w)
	writeCPU(w, r.cpu)
	r.profilesMarkdown(w)
	chartsMarkdown(w, charts)
}

// headerMarkdown writes the title, the command that reproduces the run, the
// machine and the load model.
func (r *report) headerMarkdown(w io.Writer) {
	fmt.Fprintf(w, "# Benchmark: %s (%s)\n\n", r.cfg.scenario, r.started.UTC().Format("2006-01-02 15:04 MST"))
	fmt.Fprintf(w, "Reproduce from the repository root:\n\n```sh\n%s\n```\n\n", commandLine(r.cfg.args))
	fmt.Fprintf(w, "Machine: %s. The harness, MariaDB, Redis and the three services share it.\n\n", r.machine)
	load := fmt.Sprintf("open loop (latency from the scheduled send time), in-flight cap %d", r.cfg.maxInFlight)
	switch r.cfg.scenario {
	case "backlog":
		load = "closed loop, 64 clients sending creates as fast as the api answers (a fill, not a latency test)"
	case "subscribe":
		load = fmt.Sprintf("closed loop of %d clients for the create throughput; open loop at %.0f creates/s (latency from the scheduled send time) for the delivery", closedClients, r.cfg.rate)
	case "webhooks":
		load = fmt.Sprintf("closed loop of %d clients for %v per create-throughput phase; open loop at %.0f creates/s (latency from the scheduled send time) for %v for the delivery",
			r.cfg.closedClients, r.cfg.closedDuration, r.cfg.rate, r.cfg.duration)
	case "pipeline":
		load = fmt.Sprintf("creates only; open loop for the ramps and the half-rate phase (latency from the scheduled send time), in-flight cap %d; "+
			"closed loop of %d connections for %v per burst; message text 4–19 words, Zipf s = 1.07 over 20,000 words", r.cfg.maxInFlight, r.cfg.closedClients, r.cfg.closedDuration)
	}
	fmt.Fprintf(w, "Load: %s; apps %d × chats %d; LOG_LEVEL=warn; bleve.\n\n", load, r.cfg.apps, r.cfg.chats)
	fmt.Fprintln(w, "Requests: the Go client (`client/`), one attempt each; writes carry an `Idempotency-Key`, as the client "+
		"sends by default, so a create pays for recording its key (reports before issue 12 sent none). The reference ignores the header.")
	fmt.Fprintln(w)
}

// steadyMarkdown writes the latency table at a fixed rate and, when the
// reference endpoint ran too, the comparison with it.
func (r *report) steadyMarkdown(w io.Writer) {
	fmt.Fprintf(w, "## Latency at %.0f req/s for %v (mix %s)\n\n", r.cfg.rate, r.cfg.duration, r.cfg.mixText)
	writeLatencyTable(w, r.phases[0].stats)
	if r.refCreate != nil {
		fmt.Fprintf(w, "\n## Reference endpoint (decode JSON + one Redis round trip), creates at %.0f/s\n\n", r.refCreate.rate)
		writeLatencyTable(w, r.refCreate.stats)
		apiC, refC := findStats(r.phases[0].stats, "create"), findStats(r.refCreate.stats, "create")
		if refC.Rate > 0 {
			fmt.Fprintf(w, "\nCreate throughput ratio api/reference at this offered rate: **%.2f**; create p99 %s ms vs %s ms. "+
				"At an offered rate below both maxima the ratio is ~1 by construction: `-scenario ramp` compares the maxima.\n",
				apiC.Rate/refC.Rate, ms(apiC.P99), ms(refC.P99))
		}
	}
	fmt.Fprintf(w, "\nAfter the load the writer needed %.1f s more to persist every accepted create.\n", r.drainWait.Seconds())
}

// rampMarkdown writes the three ramps' steps and the highest rates that kept
// create p99 under the limit.
func (r *report) rampMarkdown(w io.Writer) {
	fmt.Fprintf(w, "## Ramp (creates only, ×%.2f every %v, limit create p99 < %v; a step that misses it runs once more)\n\n", r.cfg.stepFactor, r.cfg.step, r.cfg.p99Limit)
	fmt.Fprintln(w, "Three ramps in one run: **system** is the whole pipeline on this machine (api, writer persisting, api indexing in bleve, MariaDB, Redis, and the load generator on 2 cores); "+
		"**api** is the api's create path alone (writer stopped, jobs queue in Redis), which does what the reference does per request: decode, one Redis round trip; **reference** is the minimal Gin + Redis endpoint.")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "| target | step rate/s | achieved/s | p50 ms | p99 ms | errors |")
	fmt.Fprintln(w, "|---|---:|---:|---:|---:|---|")
	for _, set := range [][]*phase{r.refSteps, r.phases, r.systemSteps} {
		for _, p := range set {
			s := p.stats[0]
			who := strings.Fields(p.name)[0]
			if strings.HasSuffix(p.name, "(again)") {
				who += " (again)"
			}
			fmt.Fprintf(w, "| %s | %.0f | %.0f | %s | %s | %s |\n", who, p.rate, s.Rate, ms(s.P50), ms(s.P99), errorsText(s.Statuses))
		}
	}
	fmt.Fprintf(w, "\nHighest rate with create p99 < %v: create path **%.0f/s**, reference **%.0f/s**", r.cfg.p99Limit, r.rampAPI, r.rampRef)
	if r.rampRef > 0 {
		fmt.Fprintf(w, " → ratio **%.2f**", r.rampAPI/r.rampRef)
	}
	fmt.Fprintf(w, "; whole system **%.0f/s**", r.rampSystem)
	if r.rampRef > 0 {
		fmt.Fprintf(w, " (%.2f of the reference)", r.rampSystem/r.rampRef)
	}
	fmt.Fprintf(w, ". The writer, started after the create-path ramp, persisted the creates it had queued, and the api indexed them, in %.1f s before the whole-system ramp began.\n", r.drainWait.Seconds())
}

// backlogMarkdown writes the fill's latencies and the drain figures.
func (r *report) backlogMarkdown(w io.Writer) {
	fmt.Fprintf(w, "## Backlog: %d jobs queued with the writer stopped\n\n", r.backlogQueued)
	if !r.cfg.drainIndex {
		fmt.Fprintln(w, "The api was stopped for the drain (`-drain-index=false`): this measures the writer and MySQL alone; the search outbox indexes the messages once the api is back.")
		fmt.Fprintln(w)
	}
	if r.cfg.drainIndex {
		fmt.Fprintln(w, "The api runs during the drain. From the second full writer batch in a row the writer leaves the indexing to the api's search catch-up (`WRITER_INDEX_BACKLOG_LATER`, ADR 0017), which takes outbox rows older than `SEARCH_CATCHUP_DELAY` (10 s) in pages of 1,000; the table gives the time until every message was searchable.")
		fmt.Fprintln(w)
	}
	writeLatencyTable(w, r.phases[0].stats)
	rate := 0.0
	if r.drainTime > 0 {
		rate = float64(r.backlogQueued) / r.drainTime.Seconds()
	}
	fmt.Fprintf(w, "\n| figure | value |\n|---|---:|\n| queue fill time | %.1f s |\n| writer start-up (to /readyz) | %.2f s |\n| drain time (writer start → all rows in MySQL) | %.1f s |\n| **drain rate** | **%.0f messages/s** |\n",
		r.fillTime.Seconds(), r.writerStartup.Seconds(), r.drainTime.Seconds(), rate)
	if r.searchableTime > 0 {
		fmt.Fprintf(w, "| everything searchable (writer start → no row left in `search_outbox`) | %.1f s |\n", r.searchableTime.Seconds())
	}
}

// pipelineMarkdown writes the lags and the writer's job figures, diffed from
// the services' /metrics.
func (r *report) pipelineMarkdown(w io.Writer) {
	fmt.Fprintln(w, "\n## Pipeline (from the services' /metrics, diffed over the run)")
	fmt.Fprintln(w, "\n| lag | samples | p50 ms | p90 ms | p99 ms |\n|---|---:|---:|---:|---:|")
	lagRow(w, "persist (accepted → committed, writer)", r.writerDiff, "instachat_job_commit_lag_seconds")
	lagRow(w, "search (accepted → searchable, api)", r.apiDiff, "instachat_job_searchable_lag_seconds")
	fmt.Fprintln(w, "\nBucket bounds are 5, 10, 25, 50, 100, 250, 500, 1000, 2500 ms …; quantiles are interpolated inside a bucket.")
	fmt.Fprintln(w, "\n| writer figure | value |\n|---|---:|")
	jobs := r.writerDiff.sum("instachat_jobs_total")
	fmt.Fprintf(w, "| jobs handled | %.0f |\n", jobs)
	if r.writerSeconds > 0 {
		fmt.Fprintf(w, "| jobs/s (over %.0f s) | %.0f |\n", r.writerSeconds, jobs/r.writerSeconds)
	}
	outcomes := r.writerDiff.byLabel("instachat_jobs_total", "outcome")
	for _, k := range sortedKeys(outcomes) {
		fmt.Fprintf(w, "| outcome %s | %.0f |\n", k, outcomes[k])
	}
	fmt.Fprintf(w, "| duplicates | %.0f |\n", r.writerDiff.sum("instachat_jobs_total", `outcome="duplicate"`))
	kinds := r.writerDiff.byLabel("instachat_out_of_order_total", "kind")
	total := 0.0
	for _, k := range sortedKeys(kinds) {
		fmt.Fprintf(w, "| out of order: %s | %.0f |\n", k, kinds[k])
		total += kinds[k]
	}
	fmt.Fprintf(w, "| out of order, total | %.0f |\n", total)
	writerStages(w, r.writerDiff)
}

// resourcesMarkdown writes each process's peak memory and CPU time.
func (r *report) resourcesMarkdown(w io.Writer) {
	fmt.Fprintln(w, "\n## Resources (sampled every 250 ms from /proc)")
	fmt.Fprintln(w, "\n| service | peak RSS MiB | CPU s | mean CPU % of one core |\n|---|---:|---:|---:|")
	for _, name := range sortedKeys(r.usage) {
		u := r.usage[name]
		pct := 0.0
		if u.Wall > 0 {
			pct = 100 * u.CPUSeconds / u.Wall
		}
		fmt.Fprintf(w, "| %s | %.1f | %.1f | %.0f |\n", name, float64(u.PeakRSS)/(1<<20), u.CPUSeconds, pct)
	}
}

// profilesMarkdown lists the hottest functions of each profile taken.
func (r *report) profilesMarkdown(w io.Writer) {
	if len(r.prof.tops) == 0 {
		return
	}
	fmt.Fprintln(w, "\n## Profiles")
	for _, tag := range sortedKeys(r.prof.tops) {
		t := r.prof.tops[tag]
		cmd := "go tool pprof profiles/" + t.file
		if t.bin != "" {
			cmd = "go tool pprof " + t.bin + " profiles/" + t.file
		}
		fmt.Fprintf(w, "\n%s (%s) — `%s`, hottest by cumulative value:\n\n```\n%s\n```\n", tag, t.what, cmd, t.top)
	}
}

// chartsMarkdown embeds the charts written next to the report.
func chartsMarkdown(w io.Writer, charts []string) {
	if len(charts) == 0 {
		return
	}
	fmt.Fprintln(w, "\n## Charts")
	for _, c := range charts {
		fmt.Fprintf(w, "\n![%s](%s)\n", strings.TrimSuffix(c, ".png"), c)
	}
}

func findStats(st []endpointStats, name string) endpointStats {
	for _, s := range st {
		if s.Name == name {
			return s
		}
	}
	return endpointStats{}
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// indexHeader opens the reports' index.
const indexHeader = "# Benchmark reports\n\nWritten by `make bench` and `make bench-search` (`go run ./services/bench`); each report holds the command that reproduces it. " +
	"`make bench` starts with `-scenario pipeline` (issue 15): our whole pipeline and a minimal reference pipeline ramped in the same run, " +
	"each step held only when create p99 ≤ 50 ms, every request answered 201 and everything sent persisted and searchable within 5 s; " +
	"closed-loop bursts against our running system and the reference endpoint; creates at half our highest held rate.\n\n"

// updateIndex rewrites README.md in dir as a list of the reports there.
func updateIndex(dir string) error {
	matches, err := filepath.Glob(filepath.Join(dir, "*.md"))
	if err != nil {
		return err
	}
	var b strings.Builder
	b.WriteString(indexHeader)
	sort.Sort(sort.Reverse(sort.StringSlice(matches)))
	for _, m := range matches {
		name := filepath.Base(m)
		if name == "README.md" {
			continue
		}
		text, err := os.ReadFile(m)
		if err != nil {
			return err
		}
		fmt.Fprintf(&b, "- [%s](%s): %s\n", strings.TrimSuffix(name, ".md"), name, describe(string(text)))
	}
	return os.WriteFile(filepath.Join(dir, "README.md"), []byte(b.String()), 0o644)
}

// describe says in a few words what a report measured: from the command
// that reproduces it, or else from its title.
func describe(report string) string {
	for _, line := range strings.Split(report, "\n") {
		if rest, ok := strings.CutPrefix(strings.TrimSpace(line), "go run ./services/bench "); ok {
			return describeRun(strings.Fields(rest))
		}
	}
	for _, line := range strings.Split(report, "\n") {
		if title, ok := strings.CutPrefix(line, "# "); ok {
			return title
		}
	}
	return "report"
}

// describeRun turns a benchmark command line's flags into words.
func describeRun(args []string) string {
	flags := map[string]string{}
	for i := 0; i < len(args); i++ {
		name := strings.TrimLeft(args[i], "-")
		if k, v, ok := strings.Cut(name, "="); ok {
			flags[k] = v
		} else if i+1 < len(args) && !strings.HasPrefix(args[i+1], "-") {
			flags[name] = args[i+1]
			i++
		}
	}
	mix := "the default mix"
	if flags["mix"] == "create=1" {
		mix = "creates only"
	}
	var d string
	switch flags["scenario"] {
	case "steady":
		d = fmt.Sprintf("steady load, %s at %s/s for %s", mix, flags["rate"], flags["duration"])
	case "pipeline":
		d = "whole pipeline vs the reference pipeline (issue 15): both ramped to the highest rate with create p99 ≤ 50 ms, no errors, " +
			"everything persisted and searchable within 5 s; bursts vs the reference endpoint; create p99 at half the whole-pipeline rate"
	case "ramp":
		d = fmt.Sprintf("ramp to the highest sustained create rate (steps from %s/s): whole system, create path alone and the reference endpoint", flags["rate"])
	case "backlog":
		d = fmt.Sprintf("drain of a %s-job backlog into MySQL", flags["backlog"])
		if flags["drain-index"] == "false" {
			d += ", api stopped (no indexing beside it)"
		}
	case "search":
		d = fmt.Sprintf("search over %s stored messages at %s searches/s", orDefault(flags["messages"], "1000000"), orDefault(flags["rate"], "200"))
	case "subscribe":
		d = fmt.Sprintf("live events: %s SSE subscribers over %s chats, delivery latency, lost and duplicated events at %s creates/s, "+
			"api RSS per subscriber, create throughput with and without idle subscribers",
			orDefault(flags["subscribers"], "10000"), orDefault(flags["sub-chats"], "1000"), orDefault(flags["rate"], "1000"))
	case "webhooks":
		d = fmt.Sprintf("webhooks: create throughput with one endpoint per application vs none, delivery latency (201 → loopback receiver), "+
			"lost and duplicated deliveries at %s creates/s", orDefault(flags["rate"], "500"))
	default:
		d = flags["scenario"] + " scenario"
	}
	if flags["profile"] != "" {
		d += ", with CPU profiles"
	}
	return d
}

func orDefault(v, def string) string {
	if v == "" {
		return def
	}
	return v
}

// phaseCPU is the CPU each process used during one phase, and the work done.
type phaseCPU struct {
	name  string
	units int64
	unit  string
	cpu   cpuSample
}

// writeCPU lists, per phase, each process's CPU per unit of work: the
// per-core rates docs/capacity.md builds on.
func writeCPU(w io.Writer, phases []phaseCPU) {
	if len(phases) == 0 {
		return
	}
	fmt.Fprintln(w, "\n## CPU per unit of work (from /proc, per phase)")
	fmt.Fprintln(w, "\n| phase | units | process | CPU s | CPU µs per unit | units per core-second |\n|---|---:|---|---:|---:|---:|")
	for _, p := range phases {
		for _, name := range sortedKeys(p.cpu) {
			sec := p.cpu[name]
			if sec <= 0 || p.units <= 0 {
				continue
			}
			per := sec / float64(p.units)
			fmt.Fprintf(w, "| %s | %d %ss | %s | %.1f | %.0f | %.0f |\n", p.name, p.units, p.unit, name, sec, per*1e6, 1/per)
		}
	}
}
