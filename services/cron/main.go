// Command cron runs InstaChat's periodic jobs on robfig/cron schedules: the
// counter sync (chats_count and messages_count, hourly by default) and the
// recovery of jobs left by dead writers. Every job also runs once from the
// command line: `cron sync`, `cron requeue`; `cron dead …` lists, replays and
// discards dead jobs.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/robfig/cron/v3"

	"github.com/instachat/instachat/pkg/config"
	"github.com/instachat/instachat/pkg/counter"
	"github.com/instachat/instachat/pkg/health"
	"github.com/instachat/instachat/pkg/queue"
	"github.com/instachat/instachat/pkg/store"
	"github.com/instachat/instachat/pkg/telemetry"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = "dev"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if len(os.Args) > 1 && os.Args[1] == "reconcile" {
		// Its own exit status: 3 tells scripts that differences were found.
		code := reconcileMain(ctx, os.Args[2:], os.Getenv, os.Stdout, os.Stderr)
		stop()
		os.Exit(code)
	}
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "cron:", err)
		os.Exit(1)
	}
}

const usage = `usage: cron [command]

With no command, cron runs the schedules until stopped. Commands run one job once:
  sync      set chats_count and messages_count from the rows in MySQL
  requeue   move the jobs of dead writers back to their queues
  purge     delete journal entries older than JOURNAL_RETENTION
  reconcile replay the event journal and compare it with MySQL (cron reconcile -h)
  dead      list, replay or discard dead jobs (cron dead help)`

func run(ctx context.Context, args []string, getenv func(string) string, out io.Writer) error {
	env := config.NewEnv(getenv)
	common := config.ReadCommon(env, "cron")
	addr := env.String("HTTP_ADDR", ":8082")
	syncSpec := env.String("SYNC_SCHEDULE", "@hourly")
	requeueSpec := env.String("REQUEUE_SCHEDULE", "@every 30s")
	purgeSpec := env.String("PURGE_SCHEDULE", "@every 1h")
	retention := env.Duration("JOURNAL_RETENTION", 7*24*time.Hour)
	if err := env.Err(); err != nil {
		return err
	}
	if len(args) > 0 && args[0] == "dead" {
		// The dead-letter tooling needs Redis only: it works while MySQL is
		// down, except for replaying a number conflict, whose new number may
		// need its counter seeded from MySQL.
		rdb := common.RedisClient()
		defer rdb.Close()
		q := queue.New(rdb, common.Keys(), common.Queue)
		if st, err := store.Open(ctx, common.Store); err != nil {
			fmt.Fprintln(out, "cron dead: MySQL is unavailable, so number conflicts cannot be replayed now:", err)
		} else {
			defer st.Close()
			q.WithRenumberer(counter.New(rdb, common.Keys(), st, common.Counter))
		}
		return runDead(ctx, q, args[1:], out, time.Now())
	}
	if len(args) > 1 || len(args) == 1 && args[0] != "sync" && args[0] != "requeue" && args[0] != "purge" {
		return errors.New(usage)
	}
	log := telemetry.NewLogger(out, common.Log)
	if err := telemetry.ServeProfiles(ctx, common.PprofAddr, log); err != nil {
		return fmt.Errorf("PPROF_ADDR: %w", err)
	}
	st, err := store.Open(ctx, common.Store)
	if err != nil {
		return err
	}
	defer st.Close()
	rdb := common.RedisClient()
	defer rdb.Close()
	metrics := telemetry.NewRegistry()
	jobs := &jobs{store: st, queue: queue.New(rdb, common.Keys(), common.Queue), log: log, retention: retention,
		metrics: newSyncMetrics(metrics)}
	metrics.MustRegister(queue.NewCollector(jobs.queue))

	if len(args) == 1 {
		switch args[0] {
		case "sync":
			return jobs.sync(ctx)
		case "requeue":
			return jobs.requeue(ctx)
		case "purge":
			return jobs.purge(ctx)
		}
	}

	c := cron.New(cron.WithChain(cron.Recover(cronLogger{log}), cron.SkipIfStillRunning(cronLogger{log})))
	if _, err := c.AddFunc(syncSpec, func() { _ = jobs.sync(ctx) }); err != nil {
		return fmt.Errorf("SYNC_SCHEDULE %q: %w", syncSpec, err)
	}
	if _, err := c.AddFunc(requeueSpec, func() { _ = jobs.requeue(ctx) }); err != nil {
		return fmt.Errorf("REQUEUE_SCHEDULE %q: %w", requeueSpec, err)
	}
	if _, err := c.AddFunc(purgeSpec, func() { _ = jobs.purge(ctx) }); err != nil {
		return fmt.Errorf("PURGE_SCHEDULE %q: %w", purgeSpec, err)
	}
	srv := &http.Server{Addr: addr, ReadHeaderTimeout: 5 * time.Second, Handler: health.Handler(version, []health.Check{
		{Name: "mysql", Run: st.Ping},
		{Name: "redis", Run: func(ctx context.Context) error { return rdb.Ping(ctx).Err() }},
	}, telemetry.MetricsMux(metrics))}
	errc := make(chan error, 1)
	go func() {
		if err := srv.ListenAndServe(); err != nil && !errors.Is(err, http.ErrServerClosed) {
			errc <- fmt.Errorf("health server: %w", err)
		}
	}()
	c.Start()
	log.Info("cron started", "sync", syncSpec, "requeue", requeueSpec, "addr", addr, "version", version)
	var runErr error
	select {
	case <-ctx.Done():
	case runErr = <-errc:
	}
	log.Info("cron shutting down")
	<-c.Stop().Done()
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = srv.Shutdown(shutdownCtx)
	return runErr
}

// jobs are the scheduled jobs; each logs its own result.
type jobs struct {
	store     *store.Store
	queue     *queue.Queue
	log       *slog.Logger
	retention time.Duration // how long the event journal keeps entries
	metrics   *syncMetrics
}

// purge keeps the event journal bounded.
func (j *jobs) purge(ctx context.Context) error {
	n, err := j.store.PurgeJournal(ctx, time.Now().Add(-j.retention))
	if err != nil {
		j.log.Error("journal purge failed", "err", err)
		return err
	}
	j.log.Info("journal purged", "entries", n, "retention", j.retention.String())
	return nil
}

func (j *jobs) sync(ctx context.Context) error {
	start := time.Now()
	rep, err := j.store.SyncCounts(ctx)
	j.metrics.observe(start, rep.ChatsCorrected, rep.AppsCorrected, rep.Drift, err)
	if err != nil {
		j.log.Error("counter sync failed", "err", err)
		return err
	}
	j.log.Info("counter sync done", "chats_checked", rep.ChatsChecked, "chats_corrected", rep.ChatsCorrected,
		"applications_checked", rep.ApplicationsChecked, "applications_corrected", rep.AppsCorrected,
		"drift", rep.Drift, "conflicts", rep.Conflicts, "duration_ms", time.Since(start).Milliseconds())
	return nil
}

func (j *jobs) requeue(ctx context.Context) error {
	n, err := j.queue.RequeueOrphans(ctx)
	if err != nil {
		j.log.Error("requeue failed", "err", err)
		return err
	}
	if n > 0 {
		j.log.Info("requeued jobs of dead writers", "jobs", n)
	}
	return nil
}

// cronLogger adapts slog to robfig/cron's logger.
type cronLogger struct{ log *slog.Logger }

func (l cronLogger) Info(msg string, kv ...any) { l.log.Debug("cron: "+msg, kv...) }
func (l cronLogger) Error(err error, msg string, kv ...any) {
	l.log.Error("cron: "+msg, append(kv, "err", err)...)
}
