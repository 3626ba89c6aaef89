package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
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
	env := config.NewEnv(getenv)
	common := config.ReadCommon(env, "cron")
	addr := env.String("HTTP_ADDR", ":8082")
	syncSpec := env.String("SYNC_SCHEDULE", "@hourly")
	purgeSpec := env.String("PURGE_SCHEDULE", "@every 1h")
	retention := env.Duration("JOURNAL_RETENTION", 7*24*time.Hour)
	if err := env.Err(); err != nil {
		return err
	}
	printTarget(stderr, common)
	log, err := common.Logger(ctx, stdout)
	if err != nil {
		return err
	}
	metrics := telemetry.NewRegistry()
	j, closeJobs, err := openJobs(ctx, common, retention, log, metrics)
	if err != nil {
		return err
	}
	defer closeJobs()
	metrics.MustRegister(queue.NewCollector(j.queue))

	c := cron.New(cron.WithChain(cron.Recover(cronLogger{log}), cron.SkipIfStillRunning(cronLogger{log})))
	for _, s := range []struct {
		setting, spec, name string
		run                 func(context.Context) error
	}{
		{"SYNC_SCHEDULE", syncSpec, "counter sync", j.sync},
		{"PURGE_SCHEDULE", purgeSpec, "journal purge", j.purge},
	} {
		if _, err := c.AddFunc(s.spec, func() { logFailure(ctx, log, s.name, s.run) }); err != nil {
			return fmt.Errorf("%s %q: %w", s.setting, s.spec, err)
		}
	}
	handler := health.Handler(version, []health.Check{
		{Name: "mysql", Run: j.store.Ping},
		{Name: "redis", Run: func(ctx context.Context) error { return j.redis.Ping(ctx).Err() }},
	}, telemetry.MetricsMux(metrics))
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	served := make(chan error, 1)
	go func() { served <- health.Serve(ctx, addr, handler, 5*time.Second) }()
	c.Start()
	log.Info("cron started", "sync", syncSpec, "purge", purgeSpec, "addr", addr, "version", version)
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
