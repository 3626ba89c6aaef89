// Command api is InstaChat's public HTTP service: it validates requests,
// hands out chat and message numbers from Redis, queues the writes, reads
// from MySQL and searches messages.
//
//	@title						InstaChat API
//	@version					1.0
//	@description				Chat back end: applications (addressed by a secret token), chats numbered 1, 2, 3… per application, messages numbered 1, 2, 3… per chat. Creates answer at once with the number; the write happens in the background. Errors are JSON {"error": "…"}.
//	@BasePath					/api/v1
//	@schemes					http
//	@accept						json
//	@produce					json
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

	"github.com/redis/go-redis/v9"

	"github.com/instachat/instachat/pkg/config"
	"github.com/instachat/instachat/pkg/counter"
	"github.com/instachat/instachat/pkg/store"
	"github.com/instachat/instachat/pkg/telemetry"
	"github.com/instachat/instachat/services/api/internal/chats"
	"github.com/instachat/instachat/services/api/internal/httpapi"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = "dev"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Getenv, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "api:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, getenv func(string) string, out io.Writer) error {
	env := config.NewEnv(getenv)
	common := config.ReadCommon(env, "api")
	addr := env.String("HTTP_ADDR", ":8080")
	internalToken := env.Required("INTERNAL_TOKEN", "the secret the writer presents to /internal/reindex")
	engineCfg := readEngineConfig(env)
	if err := env.Err(); err != nil {
		return err
	}
	log := telemetry.NewLogger(out, common.Log)

	st, err := store.Open(ctx, common.Store)
	if err != nil {
		return err
	}
	defer st.Close()
	rdb := redis.NewClient(&common.Redis)
	defer rdb.Close()

	engine, err := openEngine(engineCfg)
	if err != nil {
		return err
	}
	defer engine.Close()

	svc := chats.New(st, counter.New(rdb, common.Keys()), engine, log)
	var background sync.WaitGroup
	defer background.Wait() // before the engine closes
	if engine.Info().Fresh {
		// A new index (first start, lost directory, mapping change) is filled
		// from MySQL in the background; searches see it grow.
		background.Go(func() {
			start := time.Now()
			n, err := svc.RebuildIndex(ctx, 1000)
			if err != nil {
				log.Error("rebuild of the new search index stopped", "indexed", n, "err", err)
				return
			}
			log.Info("new search index rebuilt from MySQL", "messages", n, "duration_ms", time.Since(start).Milliseconds())
		})
	}
	srv := &http.Server{
		Addr:              addr,
		Handler:           httpapi.NewServer(httpapi.Config{InternalToken: internalToken, Version: version}, svc, log),
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       2 * time.Minute,
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.ListenAndServe() }()
	log.Info("api listening", "addr", addr, "search", engine.Info().Backend, "index", engine.Info().Index, "version", version)
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
