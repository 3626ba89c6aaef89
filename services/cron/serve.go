package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"time"

	"github.com/robfig/cron/v3"

	"github.com/instachat/instachat/pkg/config"
	"github.com/instachat/instachat/pkg/health"
	"github.com/instachat/instachat/pkg/queue"
	"github.com/instachat/instachat/pkg/telemetry"
)

// serve runs the schedules and the health server until ctx ends.
func serve(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) > 0 {
		return fmt.Errorf("serve takes no arguments, got %q\n%s", args, usage())
	}
	cfg, err := readServeSettings(getenv)
	if err != nil {
		return err
	}
	printTarget(stderr, cfg.common)
	log, err := cfg.common.Logger(ctx, stdout)
	if err != nil {
		return err
	}
	metrics := telemetry.NewRegistry()
	j, closeJobs, err := openJobs(ctx, cfg.common, cfg.retention, log, metrics)
	if err != nil {
		return err
	}
	defer closeJobs()
	metrics.MustRegister(queue.NewCollector(queue.NewInspector(j.redis, cfg.common.Keys())))

	c, err := newScheduler(ctx, cfg, j, log)
	if err != nil {
		return err
	}
	handler := health.Handler(version, []health.Check{
		{Name: "mysql", Run: j.store.Ping},
		{Name: "redis", Run: func(ctx context.Context) error { return j.redis.Ping(ctx).Err() }},
	}, telemetry.MetricsMux(metrics))
	return runScheduler(ctx, cfg, c, handler, log)
}

// serveSettings are what `cron serve` reads from the environment.
type serveSettings struct {
	common              config.Common
	addr                string // the health and metrics server's
	syncSpec, purgeSpec string // robfig/cron schedules
	retention           time.Duration
}

// readServeSettings reads serveSettings, with their defaults.
func readServeSettings(getenv func(string) string) (serveSettings, error) {
	env := config.NewEnv(getenv)
	var s serveSettings
	s.common = config.ReadCommon(env, "cron")
	s.addr = env.String("HTTP_ADDR", ":8082")
	s.syncSpec = env.String("SYNC_SCHEDULE", "@hourly")
	s.purgeSpec = env.String("PURGE_SCHEDULE", "@every 1h")
	s.retention = env.Duration("JOURNAL_RETENTION", 7*24*time.Hour)
	return s, env.Err()
}

// newScheduler schedules the counter sync and the journal purge; each run's
// error is logged once, with the job's name, by logFailure.
func newScheduler(ctx context.Context, cfg serveSettings, j *jobs, log *slog.Logger) (*cron.Cron, error) {
	c := cron.New(cron.WithChain(cron.Recover(cronLogger{log}), cron.SkipIfStillRunning(cronLogger{log})))
	for _, s := range []struct {
		setting, spec, name string
		run                 func(context.Context) error
	}{
		{"SYNC_SCHEDULE", cfg.syncSpec, "counter sync", j.sync},
		{"PURGE_SCHEDULE", cfg.purgeSpec, "journal purge", j.purge},
	} {
		if _, err := c.AddFunc(s.spec, func() { logFailure(ctx, log, s.name, s.run) }); err != nil {
			return nil, fmt.Errorf("%s %q: %w", s.setting, s.spec, err)
		}
	}
	return c, nil
}

// runScheduler starts c and the health server, and stops both when ctx
// ends or the health server fails, whose error it returns.
func runScheduler(ctx context.Context, cfg serveSettings, c *cron.Cron, handler http.Handler, log *slog.Logger) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	served := make(chan error, 1)
	go func() { served <- health.Serve(ctx, cfg.addr, handler, 5*time.Second) }()
	c.Start()
	log.Info("cron started", "sync", cfg.syncSpec, "purge", cfg.purgeSpec, "addr", cfg.addr, "version", version)
	var runErr error
	healthDone := false
	select {
	case <-ctx.Done():
	case runErr = <-served:
		healthDone = true
	}
	log.Info("cron shutting down")
	cancel()
	<-c.Stop().Done()
	if !healthDone {
		runErr = <-served // nil once the health server has shut down gracefully
	}
	return runErr
}

// logFailure runs a scheduled job and logs its error: a schedule has no
// caller to return it to.
func logFailure(ctx context.Context, log *slog.Logger, name string, run func(context.Context) error) {
	if err := run(ctx); err != nil && ctx.Err() == nil {
		log.Error(name+" failed", "err", err)
	}
}

// cronLogger adapts slog to robfig/cron's logger.
type cronLogger struct{ log *slog.Logger }

func (l cronLogger) Info(msg string, kv ...any) { l.log.Debug("cron: "+msg, kv...) }
func (l cronLogger) Error(err error, msg string, kv ...any) {
	l.log.Error("cron: "+msg, append(kv, "err", err)...)
}
