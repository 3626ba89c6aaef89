// Command bench is InstaChat's load generator: it starts its own system
// (api, writer, cron on a fresh database and key prefix), drives the api over
// HTTP at an open-loop constant arrival rate, runs the same create load
// against a minimal reference endpoint, and writes a Markdown report with
// charts to docs/benchmarks/. The pipeline scenario ramps the whole system
// beside a minimal reference pipeline (issue 15); the search scenario stores
// a large history first (-messages) and measures search alone.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if len(os.Args) == 5 && os.Args[1] == "reference" { // startReference runs this
		if err := serveReference(ctx, os.Args[2], os.Args[3], os.Args[4]); err != nil {
			fmt.Fprintln(os.Stderr, "bench reference:", err)
			os.Exit(1)
		}
		return
	}
	if len(os.Args) == 6 && os.Args[1] == "refpipeline" { // startRefPipeline runs this
		a := os.Args[2:]
		if err := serveRefPipelineProcess(ctx, a[0], a[1], a[2], os.Getenv("MYSQL_DSN"), a[3]); err != nil {
			fmt.Fprintln(os.Stderr, "bench refpipeline:", err)
			os.Exit(1)
		}
		return
	}
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

// config is what the flags say.
type config struct {
	scenario    string
	rate        float64
	duration    time.Duration
	apps, chats int
	mix         mix
	mixText     string
	api         string
	backlog     int
	drainIndex  bool
	maxInFlight int
	step        time.Duration
	stepFactor  float64
	systemRate  float64
	p99Limit    time.Duration
	out         string
	profile     time.Duration
	messages    int
	largeShare  float64
	subscribers int
	subChats    int
	// The webhooks scenario's closed-loop create-throughput phases.
	closedClients  int
	closedDuration time.Duration
	// The pipeline scenario's rule, ramp cap and bursts.
	catchUp  time.Duration
	maxSteps int
	bursts   int

	getenv   func(string) string
	mysqlDSN string
	redis    string
	args     []string
}

// parseFlags reads the command line, and MYSQL_DSN and REDIS_ADDR from
// getenv, into a config.
func parseFlags(args []string, getenv func(string) string) (config, error) {
	var c config
	fs := c.flagSet()
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	if err := c.resolve(fs); err != nil {
		return c, err
	}
	c.mysqlDSN = getenv("MYSQL_DSN")
	if c.mysqlDSN == "" {
		c.mysqlDSN = "root:@tcp(127.0.0.1:3306)/"
	}
	c.redis = getenv("REDIS_ADDR")
	if c.redis == "" {
		c.redis = "127.0.0.1:6379"
	}
	c.args = args
	c.getenv = getenv
	return c, nil
}

// flagSet declares the command line's flags, each bound to its field of c.
func (c *config) flagSet() *flag.FlagSet {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.StringVar(&c.scenario, "scenario", "steady", "pipeline, steady, ramp, backlog, search, history, subscribe or webhooks")
	fs.Float64Var(&c.rate, "rate", 500, "requests per second (ramp: the first step; pipeline: the reference pipeline's first step, 1000 unless given; search: 200 unless given; subscribe: 1000, webhooks: 500 creates/s unless given)")
	fs.DurationVar(&c.duration, "duration", 60*time.Second, "length of a steady run, of the search load, of the delivery phase (subscribe, webhooks), or of the half-rate phase (pipeline)")
	fs.IntVar(&c.apps, "apps", 4, "applications to create")
	fs.IntVar(&c.chats, "chats", 25, "chats per application")
	fs.StringVar(&c.mixText, "mix", "create=80,update=10,read=5,search=5", "endpoint weights")
	fs.StringVar(&c.api, "api", "", "api base URL of an already running system (default: start one; backlog always starts one)")
	fs.IntVar(&c.backlog, "backlog", 200000, "jobs to queue in the backlog scenario")
	fs.BoolVar(&c.drainIndex, "drain-index", true, "backlog: keep the api (and its bleve indexing) running during the drain; false stops it, to measure the writer and MySQL alone (the outbox indexes later)")
	fs.IntVar(&c.maxInFlight, "max-inflight", 2000, "cap on requests in flight")
	fs.DurationVar(&c.step, "step", 10*time.Second, "ramp, pipeline: length of a step (pipeline: 15s unless given)")
	fs.Float64Var(&c.stepFactor, "step-factor", 1.15, "ramp, pipeline: rate multiplier per step (pipeline: 1.25 unless given)")
	fs.Float64Var(&c.systemRate, "system-rate", 500, "ramp, pipeline: the whole-system ramp's first step (pipeline: 1000 unless given)")
	fs.DurationVar(&c.p99Limit, "p99-limit", 50*time.Millisecond, "ramp, pipeline: create p99 a step must stay under (pipeline: at most); search: the search p99 target (20ms unless given)")
	fs.DurationVar(&c.catchUp, "catch-up", 5*time.Second, "pipeline: everything a step sent must be persisted and searchable this long after its end")
	fs.IntVar(&c.maxSteps, "max-steps", 0, "pipeline: stop each ramp after this many rates, retries not counted (0: when a step misses twice)")
	fs.IntVar(&c.bursts, "bursts", 3, "pipeline: rounds of closed-loop bursts, each one against ours and one against the reference endpoint (0: none)")
	fs.IntVar(&c.messages, "messages", 1000000, "search: messages stored (straight into MySQL) and indexed before the load")
	fs.Float64Var(&c.largeShare, "large-share", 0.1, "search: share of the messages in one extra, large chat (0: none)")
	fs.IntVar(&c.subscribers, "subscribers", 10000, "subscribe: live-event (SSE) subscribers, spread evenly over -sub-chats chats")
	fs.IntVar(&c.subChats, "sub-chats", 1000, "subscribe: chats the subscribers follow and the delivery load writes to")
	fs.IntVar(&c.closedClients, "closed-clients", 64, "webhooks, pipeline: clients of the closed-loop create-throughput phases (bursts), each sending its next create when its last is answered")
	fs.DurationVar(&c.closedDuration, "closed-duration", 30*time.Second, "webhooks: length of each closed-loop create-throughput phase; pipeline: of each burst (8s unless given)")
	fs.DurationVar(&c.profile, "profile", 0, "record CPU profiles of api and writer for this long during the measured phase (0: off); the report lists their hottest functions")
	fs.StringVar(&c.out, "out", "docs/benchmarks", "report directory (a relative one is taken from the repository root)")
	return fs
}

// resolve derives the mix and the scenario's defaults (for flags not given)
// from the parsed flags fs, and rejects values the run cannot use.
func (c *config) resolve(fs *flag.FlagSet) error {
	var err error
	if c.mix, err = parseMix(c.mixText); err != nil {
		return err
	}
	switch c.scenario {
	case "steady", "ramp", "backlog":
	case "pipeline":
		c.pipelineDefaults(fs)
		if c.step <= 0 || c.stepFactor <= 1 || c.systemRate <= 0 || c.catchUp <= 0 || c.maxSteps < 0 || c.bursts < 0 || c.closedClients <= 0 || c.closedDuration <= 0 || c.duration <= 0 {
			return errors.New("pipeline: -step, -system-rate, -catch-up, -closed-clients, -closed-duration and -duration must be positive, -step-factor above 1, -max-steps and -bursts not negative")
		}
	case "search":
		given := map[string]bool{}
		fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
		if !given["rate"] {
			c.rate = 200
		}
		if !given["p99-limit"] {
			c.p99Limit = 20 * time.Millisecond
		}
		if c.messages <= 0 || c.largeShare < 0 || c.largeShare > 0.9 {
			return errors.New("-messages must be positive and -large-share between 0 and 0.9")
		}
	case "history":
		given := map[string]bool{}
		fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
		if !given["rate"] {
			c.rate = 200
		}
		if c.messages <= 0 {
			return errors.New("-messages must be positive")
		}
	case "subscribe":
		given := map[string]bool{}
		fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
		if !given["rate"] {
			c.rate = 1000
		}
		if c.subscribers <= 0 || c.subChats <= 0 || c.subscribers < c.subChats {
			return errors.New("-subscribers and -sub-chats must be positive, with at least one subscriber per chat")
		}
	case "webhooks":
		given := map[string]bool{}
		fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
		if !given["rate"] {
			c.rate = 500
		}
		if c.closedClients <= 0 || c.closedDuration <= 0 {
			return errors.New("-closed-clients and -closed-duration must be positive")
		}
	default:
		return fmt.Errorf("unknown scenario %q (want pipeline, steady, ramp, backlog, search, history, subscribe or webhooks)", c.scenario)
	}
	if c.rate <= 0 || c.apps <= 0 || c.chats <= 0 || c.backlog <= 0 || c.maxInFlight <= 0 {
		return errors.New("-rate, -apps, -chats, -backlog and -max-inflight must be positive")
	}
	if c.api != "" {
		return errors.New("-api (an already running system) is not supported yet: the harness starts its own")
	}
	return nil
}

// pipelineDefaults sets issue 15's values for the pipeline flags not given
// (fs says which were): steps of 15 s, ×1.25, both ramps from 1,000/s,
// bursts of 8 s.
func (c *config) pipelineDefaults(fs *flag.FlagSet) {
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	for name, set := range map[string]func(){
		"rate":            func() { c.rate = 1000 },
		"system-rate":     func() { c.systemRate = 1000 },
		"step":            func() { c.step = 15 * time.Second },
		"step-factor":     func() { c.stepFactor = 1.25 },
		"closed-duration": func() { c.closedDuration = 8 * time.Second },
	} {
		if !given[name] {
			set()
		}
	}
}

func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	cfg, err := parseFlags(args, getenv)
	if err != nil {
		return err
	}
	root, err := repoRoot()
	if err != nil {
		return err
	}
	sys, err := startSystem(ctx, systemConfig{root: root, mysqlDSN: cfg.mysqlDSN, redis: cfg.redis}, stderr)
	if err != nil {
		return err
	}
	defer sys.close(stderr)
	switch cfg.scenario {
	case "subscribe":
		sys.env = append(sys.env, subscribeSettings(cfg)...)
	case "webhooks":
		sys.env = append(sys.env, webhookSettings()...)
	}
	names := []string{"api", "cron"}
	switch cfg.scenario {
	case "backlog":
	case "search":
		names = []string{"api", "writer"} // the writer persists the chats, then both stop for the seed
	case "history":
		names = []string{"api", "writer"} // the writer persists the chat, then stops for the seed
	default:
		names = append(names, "writer")
	}
	for _, n := range names {
		if err := sys.start(ctx, n); err != nil {
			return err
		}
	}
	out := cfg.out
	if !filepath.IsAbs(out) {
		out = filepath.Join(root, out)
	}
	rep := &report{cfg: cfg, started: time.Now(), profileDir: filepath.Join(out, "profiles")}
	switch cfg.scenario {
	case "pipeline":
		err = runPipeline(ctx, cfg, sys, rep, stderr)
	case "steady":
		err = runSteady(ctx, cfg, sys, rep, stderr)
	case "ramp":
		err = runRamp(ctx, cfg, sys, rep, stderr)
	case "backlog":
		err = runBacklog(ctx, cfg, sys, rep, stderr)
	case "search":
		err = runSearch(ctx, cfg, sys, rep, stderr)
	case "history":
		err = runHistory(ctx, cfg, sys, rep, stderr)
	case "subscribe":
		err = runSubscribe(ctx, cfg, sys, rep, stderr)
	case "webhooks":
		err = runWebhooks(ctx, cfg, sys, rep, stderr)
	}
	if err != nil {
		return err
	}
	rep.prof.wait()
	rep.usage = sys.usage()
	path, err := rep.write(out)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "report: %s\n", path)
	return nil
}

// repoRoot walks up from the working directory to the one holding go.work.
func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.work")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("go.work not found above the working directory: run from the repository")
		}
		dir = parent
	}
}

// progress redraws one status line on w at most 5 times a second (a plain
// line every few seconds without a terminal) until ctx ends.
func progress(ctx context.Context, w io.Writer, label string, rec *recorder, total int) {
	t := time.NewTicker(200 * time.Millisecond)
	defer t.Stop()
	start := time.Now()
	line := newStatusLine(w)
	for {
		select {
		case <-ctx.Done():
			line.End()
			return
		case <-t.C:
			el := time.Since(start).Seconds()
			n := rec.done.Load()
			line.Show("%-28s %8d/%-8d  %6.0f req/s  %5.1fs ", label, n, total, float64(n)/el, el)
		}
	}
}

// withProgress runs f with a progress line.
func withProgress(ctx context.Context, w io.Writer, label string, rec *recorder, total int, f func()) {
	pctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { progress(pctx, w, label, rec, total); close(done) }()
	f()
	cancel()
	<-done
}

func commandLine(args []string) string {
	return "go run ./services/bench " + strings.Join(args, " ")
}
