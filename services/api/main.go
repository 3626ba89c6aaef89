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
//	@tag.name					events
//	@tag.description			Live events of an application or a chat: Server-Sent Events, or WebSocket on the same paths; resumable from an event id without gaps or repeats.
//	@tag.name					health
//	@tag.description			Liveness and readiness.
//	@tag.name					admin
//	@tag.description			Operators only (ADMIN_TOKEN): dead jobs and webhook deliveries, and the search index.
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
	"log/slog"
	"net"
	"net/http"
	"net/netip"
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
	appsettings "github.com/instachat/instachat/pkg/settings"
	"github.com/instachat/instachat/pkg/telemetry"
	"github.com/instachat/instachat/pkg/webhook"
	"github.com/instachat/instachat/services/api/internal/chats"
	"github.com/instachat/instachat/services/api/internal/httpapi"
	"github.com/instachat/instachat/services/api/internal/index"
	"github.com/instachat/instachat/services/api/internal/live"
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

// settings are what the api reads from the environment.
type settings struct {
	common         config.Common
	addr           string
	internalToken  string
	adminToken     string
	engine         index.Config
	catchUp        index.CatchUpConfig
	rateLimit      httpapi.RateLimit
	rateLimitOn    bool
	trustedProxies []netip.Prefix
	historySettle  time.Duration
	live           live.Config
	webhookKey     string         // seals webhook secrets; "" turns webhooks off
	webhookPolicy  webhook.Policy // where webhook URLs may point
}

// readSettings reads the api's settings, refusing bad and placeholder values.
func readSettings(getenv func(string) string) (settings, error) {
	env := config.NewEnv(getenv)
	s := settings{common: config.ReadCommon(env, "api"), addr: env.String("HTTP_ADDR", ":8080")}
	s.internalToken = env.Secret("INTERNAL_TOKEN", "the secret the writer presents to /internal/reindex", true)
	s.adminToken = env.Secret("ADMIN_TOKEN", "opens /admin/*; empty turns the admin endpoints off", false)
	s.engine = readEngineConfig(env)
	s.catchUp = index.CatchUpConfig{
		Interval: env.Duration("SEARCH_CATCHUP_INTERVAL", time.Second),
		Delay:    env.Duration("SEARCH_CATCHUP_DELAY", 10*time.Second),
	}
	// How long a number still being written may hold back the items after
	// it in a cursor page (the settled horizon, see chats.MessageHistory).
	s.historySettle = env.Duration("HISTORY_SETTLE", chats.DefaultSettle)
	if s.historySettle <= 0 && env.Err() == nil {
		return s, fmt.Errorf("HISTORY_SETTLE must be a positive duration, got %s", s.historySettle)
	}
	var err error
	if s.live, err = readLive(env); err != nil {
		return s, err
	}
	s.live.Settle = s.historySettle // lists' Event-Position steps over a hole as late as their pages do
	if s.rateLimit, s.rateLimitOn, err = readRateLimit(env); err != nil {
		return s, err
	}
	if s.trustedProxies, err = httpapi.ParseTrustedProxies(env.List("TRUSTED_PROXIES", "")); err != nil {
		return s, fmt.Errorf("TRUSTED_PROXIES: %w", err)
	}
	s.webhookKey = env.Secret("WEBHOOK_KEY", "seals webhook signing secrets in MySQL (the writer needs the same); empty turns webhooks off", false)
	if s.webhookPolicy, err = webhook.ParsePolicy(env.String("WEBHOOK_ALLOW_HOSTS", "")); err != nil {
		return s, fmt.Errorf("WEBHOOK_ALLOW_HOSTS: %w", err)
	}
	return s, env.Err()
}

// tenants builds the applications' settings: their store, the cache Run
// keeps current, and what webhook endpoints need.
func tenants(cfg settings, conns *config.Conns, log *slog.Logger) (chats.Tenants, error) {
	var sealer *appsettings.Sealer
	if cfg.webhookKey != "" {
		var err error
		if sealer, err = appsettings.NewSealer(cfg.webhookKey); err != nil {
			return chats.Tenants{}, err
		}
	}
	st := conns.Store.Settings(sealer)
	return chats.Tenants{Store: st, Cache: appsettings.NewCache(st, conns.Redis, appsettings.Channel(cfg.common.KeyPrefix), log),
		NewSecret: webhook.NewSecret, CheckURL: cfg.webhookPolicy.CheckURL, Webhooks: sealer != nil}, nil
}

// serve runs the HTTP api with its background work (index rebuild and
// catch-up) until ctx ends.
func serve(ctx context.Context, getenv func(string) string, out io.Writer) error {
	cfg, err := readSettings(getenv)
	if err != nil {
		return err
	}
	log, err := cfg.common.Logger(ctx, out)
	if err != nil {
		return err
	}
	gin.SetMode(gin.ReleaseMode) // process-wide: no debug route listing, no colour
	// The port first: a taken address fails at once, before anything starts.
	ln, err := net.Listen("tcp", cfg.addr)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	defer ln.Close()
	conns, err := cfg.common.Connect(ctx)
	if err != nil {
		return err
	}
	defer conns.Close()
	if cfg.rateLimitOn {
		cfg.rateLimit.Redis, cfg.rateLimit.KeyPrefix = conns.Redis, cfg.common.KeyPrefix
	}

	// Background work (the engine's opener, the rebuild, the catch-up) ends
	// with bgCtx, which ends before the engine closes, also when serving fails.
	bgCtx, stopBackground := context.WithCancel(ctx)
	defer stopBackground()
	engine, ready, err := index.Open(bgCtx, cfg.engine, log)
	if err != nil {
		return err
	}
	defer engine.Close()

	metrics := telemetry.NewRegistry()
	measured := search.WithMetrics(engine, metrics)
	cnt := counter.New(conns.Redis, cfg.common.Keys(), conns.Store, cfg.common.Counter)
	ten, err := tenants(cfg, conns, log)
	if err != nil {
		return err
	}
	svc := chats.New(conns.Store, cnt, measured, log).WithTenants(ten)
	idx := index.New(conns.Store, measured, log)
	// The admin endpoints' and dashboard's view of the queue; replaying a
	// number conflict renumbers it.
	inspector := queue.NewInspector(conns.Redis, cfg.common.Keys()).WithRenumberer(cnt)
	metrics.MustRegister(queue.NewCollector(inspector))
	// The webhook deliveries' lane, for the same pages (?lane=hooks); its
	// metrics come from the writers.
	hooks := queue.NewInspector(conns.Redis, cfg.common.Keys().Hooks())
	var background sync.WaitGroup
	defer background.Wait() // before the engine closes
	defer stopBackground()  // before the wait
	background.Go(func() { idx.Run(bgCtx, ready, cfg.catchUp) })
	background.Go(func() { ten.Cache.Run(bgCtx) })
	hub := live.New(cfg.live, conns.Redis, cfg.common.Keys(), live.NewMetrics(metrics), log)
	hub.UseJournal(conns.Store) // the MySQL the lists read: their Event-Position is its watermark
	background.Go(func() { hub.Run(bgCtx) })
	handler := httpapi.NewServer(httpapi.Config{InternalToken: cfg.internalToken, Index: idx, AdminToken: cfg.adminToken, Version: version,
		Metrics: metrics, RateLimit: cfg.rateLimit, TrustedProxies: cfg.trustedProxies, HistorySettle: cfg.historySettle, Live: hub, Hooks: hooks}, svc, inspector, log)
	log.Info("api listening", "addr", ln.Addr().String(), "search", cfg.engine.Backend, "version", version)
	return serveHTTP(ctx, ln, handler, log, hub.CloseAll)
}

// serveHTTP serves handler on ln until ctx ends, then shuts down gracefully.
// closeStreams runs when the shutdown starts: event streams never go idle,
// so Shutdown would otherwise wait for them until its timeout. The read and
// write timeouts bound ordinary requests; event streams lift them for their
// connection (each write batch has its own deadline).
func serveHTTP(ctx context.Context, ln net.Listener, handler http.Handler, log *slog.Logger, closeStreams func()) error {
	srv := &http.Server{
		Handler:           handler,
		ReadHeaderTimeout: 5 * time.Second,
		MaxHeaderBytes:    httpapi.MaxHeaderBytes,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       2 * time.Minute,
	}
	if closeStreams != nil {
		srv.RegisterOnShutdown(closeStreams)
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
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

// readLive reads the live events' settings (EVENTS_*); each must be positive.
func readLive(env *config.Env) (live.Config, error) {
	c := live.Config{
		Buffer:         env.Int("EVENTS_BUFFER", live.DefaultBuffer),
		Ring:           env.Int("EVENTS_RING", live.DefaultRing),
		Heartbeat:      env.Duration("EVENTS_HEARTBEAT", live.DefaultHeartbeat),
		WriteTimeout:   env.Duration("EVENTS_WRITE_TIMEOUT", live.DefaultWriteTimeout),
		MaxSubscribers: env.Int("EVENTS_MAX_SUBSCRIBERS", live.DefaultMaxSubscribers),
		MaxPerApp:      env.Int("EVENTS_MAX_PER_APP", live.DefaultMaxPerApp),
		// A resume whose gap Redis no longer retains replays it from the
		// event journal: at most this many positions, waiting at most this
		// long for the writer to journal them, else reset.
		ReplayMax:  env.Int("EVENTS_REPLAY_MAX", live.DefaultReplayMax),
		ReplayWait: env.Duration("EVENTS_REPLAY_WAIT", live.DefaultReplayWait),
	}
	if env.Err() != nil {
		return c, env.Err()
	}
	for name, v := range map[string]int64{"EVENTS_BUFFER": int64(c.Buffer), "EVENTS_RING": int64(c.Ring),
		"EVENTS_HEARTBEAT": int64(c.Heartbeat), "EVENTS_WRITE_TIMEOUT": int64(c.WriteTimeout),
		"EVENTS_MAX_SUBSCRIBERS": int64(c.MaxSubscribers), "EVENTS_MAX_PER_APP": int64(c.MaxPerApp),
		"EVENTS_REPLAY_MAX": int64(c.ReplayMax), "EVENTS_REPLAY_WAIT": int64(c.ReplayWait)} {
		if v <= 0 {
			return c, fmt.Errorf("%s must be positive", name)
		}
	}
	return c, nil
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
