package config

import (
	"context"
	"fmt"
	"io"
	"log/slog"

	"github.com/redis/go-redis/v9"

	"github.com/instachat/instachat/pkg/store"
	"github.com/instachat/instachat/pkg/telemetry"
)

// Logger starts what every service starts first: its logger, writing to
// out, and the profiles server when PPROF_ADDR is set (it ends with ctx).
func (c Common) Logger(ctx context.Context, out io.Writer) (*slog.Logger, error) {
	log := telemetry.NewLogger(out, c.Log)
	if err := telemetry.ServeProfiles(ctx, c.PprofAddr, log); err != nil {
		return nil, fmt.Errorf("PPROF_ADDR: %w", err)
	}
	return log, nil
}

// Conns are a service's connections: MySQL (migrated) and Redis.
type Conns struct {
	Store *store.Store
	Redis redis.UniversalClient
}

// Connect opens MySQL, applying migrations, and a Redis client for the
// configured topology.
func (c Common) Connect(ctx context.Context) (*Conns, error) {
	st, err := store.Open(ctx, c.Store)
	if err != nil {
		return nil, err
	}
	return &Conns{Store: st, Redis: c.RedisClient()}, nil
}

// Close closes both connections.
func (c *Conns) Close() {
	_ = c.Redis.Close()
	_ = c.Store.Close()
}
