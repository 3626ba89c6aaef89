// Command api is InstaChat's public HTTP service: it validates requests,
// hands out chat and message numbers from Redis, queues the writes, reads
// from MySQL and searches messages.
//
//	@title						InstaChat API
//	@version					1.0
//	@description				Chat back end: applications (addressed by a secret token), chats numbered 1, 2, 3… per application, messages numbered 1, 2, 3… per chat. Creates answer at once with the number; the write happens in the background. Errors are JSON {"error": "…"}.
//	@BasePath					/
//	@schemes					http
//	@accept						json
//	@produce					json
//
//	@tag.name					applications
//	@tag.description			Applications, each addressed by the secret token its create answers with.
//	@tag.name					chats
//	@tag.description			An application's chats, numbered 1, 2, 3…
//	@tag.name					messages
//	@tag.description			A chat's messages, numbered 1, 2, 3…
//	@tag.name					search
//	@tag.description			Partial-keyword search over a chat's messages.
//	@tag.name					health
//	@tag.description			Liveness and readiness.
//	@tag.name					admin
//	@tag.description			Operators only (ADMIN_TOKEN): dead jobs and the search index.
//
//	@securityDefinitions.basic	AdminAuth
//	@securityDefinitions.apikey	AdminBearer
//	@in							header
//	@name						Authorization
//	@description				"Bearer " followed by ADMIN_TOKEN, or HTTP Basic auth (AdminAuth) with ADMIN_TOKEN as the password. Opens /admin/*.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/instachat/instachat/pkg/config"
	"github.com/instachat/instachat/pkg/counter"
	"github.com/instachat/instachat/pkg/queue"
	"github.com/instachat/instachat/pkg/search"
	"github.com/instachat/instachat/pkg/telemetry"
	"github.com/instachat/instachat/services/api/internal/chats"
	"github.com/instachat/instachat/services/api/internal/httpapi"
	"github.com/instachat/instachat/services/api/internal/index"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = "dev"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "api:", err)
		os.Exit(1)
	}
}

// usage describes the command line.
const usage = "usage: api                                serve the HTTP api\n" +
	"       api rebuild [-restart] [-batch N]   rebuild the search index from MySQL, then exit"

// run serves the api, or runs the subcommand that args name.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return serve(ctx, getenv, stdout)
	}
	switch args[0] {
	case "rebuild":
		return rebuild(ctx, args[1:], getenv, stdout, stderr)
	case "help", "-h", "-help", "--help":
		fmt.Fprintln(stdout, usage)
		return nil
	}
	return fmt.Errorf("unknown command %q\n%s", args[0], usage)
}

// serve runs the HTTP api with its background work (index rebuild and
// catch-up) until ctx ends.
func serve(ctx context.Context, getenv func(string) string, out io.Writer) error {
	env := config.NewEnv(getenv)
	common := config.ReadCommon(env, "api")
	addr := env.String("HTTP_ADDR", ":8080")
	internalToken := env.Secret("INTERNAL_TOKEN", "the secret the writer presents to /internal/reindex", true)
	adminToken := env.Secret("ADMIN_TOKEN", "opens /admin/*; empty turns the admin endpoints off", false)
	engineCfg := readEngineConfig(env)
	catchUp := index.CatchUpConfig{
		Interval: env.Duration("SEARCH_CATCHUP_INTERVAL", time.Second),
		Delay:    env.Duration("SEARCH_CATCHUP_DELAY", 10*time.Second),
	}
	rateLimit, rateLimitOn, err := readRateLimit(env)
	if err != nil {
		return err
	}
	trustedProxies, err := httpapi.ParseTrustedProxies(env.List("TRUSTED_PROXIES", ""))
	if err != nil {
		return fmt.Errorf("TRUSTED_PROXIES: %w", err)
	}
	if err := env.Err(); err != nil {
		return err
	}
	log, err := common.Logger(ctx, out)
	if err != nil {
		return err
	}
	gin.SetMode(gin.ReleaseMode) // process-wide: no debug route listing, no colour
	conns, err := common.Connect(ctx)
	if err != nil {
		return err
	}
	defer conns.Close()
	st, rdb := conns.Store, conns.Redis
	if rateLimitOn {
		rateLimit.Redis, rateLimit.KeyPrefix = rdb, common.KeyPrefix
	}

	// Background work (the engine's opener, the rebuild, the catch-up) ends
	// with bgCtx, which ends before the engine closes, also when serving fails.
	bgCtx, stopBackground := context.WithCancel(ctx)
	defer stopBackground()
	engine, ready, err := index.Open(bgCtx, engineCfg, log)
	if err != nil {
		return err
	}
	defer engine.Close()

	metrics := telemetry.NewRegistry()
	measured := search.WithMetrics(engine, metrics)
	cnt := counter.New(rdb, common.Keys(), st, common.Counter)
	svc := chats.New(st, cnt, measured, log)
	idx := index.New(st, measured, log)
	// The admin endpoints' and dashboard's view of the queue; replaying a
	// number conflict renumbers it.
	inspector := queue.NewInspector(rdb, common.Keys()).WithRenumberer(cnt)
	metrics.MustRegister(queue.NewCollector(inspector))
	var background sync.WaitGroup
	defer background.Wait() // before the engine closes
	defer stopBackground()  // before the wait
	background.Go(func() { idx.Run(bgCtx, ready, catchUp) })
	srv := &http.Server{
		Addr:              addr,
		Handler:           httpapi.NewServer(httpapi.Config{InternalToken: internalToken, Index: idx, AdminToken: adminToken, Version: version, Metrics: metrics, RateLimit: rateLimit, TrustedProxies: trustedProxies}, svc, inspector, log),
		ReadHeaderTimeout: 5 * time.Second,
		MaxHeaderBytes:    httpapi.MaxHeaderBytes,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       2 * time.Minute,
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.ListenAndServe() }()
	log.Info("api listening", "addr", addr, "search", engineCfg.Backend, "version", version)
	select {
	case err := <-errc:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	log.Info("api shutting down")
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("shutdown: %w", err)
	}
	return nil
}

// readRateLimit reads RATE_LIMIT (on or off) and the two limits, which are
// checked even when off so that a typo never waits for the day they are
// turned on.
func readRateLimit(env *config.Env) (limits httpapi.RateLimit, on bool, err error) {
	switch v := env.String("RATE_LIMIT", "on"); v {
	case "on":
		on = true
	case "off":
	default:
		return limits, false, fmt.Errorf("RATE_LIMIT %q: want on or off", v)
	}
	if limits.Applications, err = httpapi.ParseLimit(env.String("RATE_LIMIT_APPLICATIONS", "10/1m")); err != nil {
		return limits, false, fmt.Errorf("RATE_LIMIT_APPLICATIONS %w", err)
	}
	if limits.Writes, err = httpapi.ParseLimit(env.String("RATE_LIMIT_WRITES", "200/1s,burst=400")); err != nil {
		return limits, false, fmt.Errorf("RATE_LIMIT_WRITES %w", err)
	}
	return limits, on, nil
}
