package settings

import (
	"context"
	"errors"
	"log/slog"
	"strconv"
	"strings"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"
	"github.com/redis/go-redis/v9"
	"golang.org/x/sync/singleflight"

	"github.com/instachat/instachat/pkg/chat"
)

// Channel is the Redis channel changes are announced on, under the
// services' key prefix (KEY_PREFIX).
func Channel(keyPrefix string) string { return keyPrefix + "settings" }

// Loader reads an application's settings, by its token digest, from MySQL
// (store.Store); an application without settings has the defaults at
// version 0, one that does not exist is chat.ErrNotFound.
type Loader interface {
	LoadSettings(ctx context.Context, app string) (Settings, error)
}

// Cache sizes and lifetimes. An entry is reloaded after CacheTTL even if a
// change's message never arrived; while MySQL cannot answer, the last
// settings loaded keep serving (a write is still accepted with MySQL down).
const (
	CacheSize = 100_000
	CacheTTL  = time.Minute
)

// entry is cached settings and when they were loaded.
type entry struct {
	s  Settings
	at time.Time
}

// Cache keeps applications' settings in memory, loaded on a miss (one load
// per application at a time), and current across processes: a change is
// published on a Redis channel and every process drops what is older. The
// highest version heard of each application is kept too, so that a load
// that raced a change is not cached as if current, and so that AtLeast can
// tell a job from the future.
type Cache struct {
	load    Loader
	rdb     redis.UniversalClient
	channel string
	log     *slog.Logger
	entries *lru.Cache[string, entry]
	heard   *lru.Cache[string, int64] // app → newest version announced
	loads   singleflight.Group
	ready   chan struct{} // closed once subscribed the first time
}

// NewCache returns a cache over load; Run keeps it current through channel.
func NewCache(load Loader, rdb redis.UniversalClient, channel string, log *slog.Logger) *Cache {
	entries, _ := lru.New[string, entry](CacheSize) // errors only for a size ≤ 0
	heard, _ := lru.New[string, int64](CacheSize)
	return &Cache{load: load, rdb: rdb, channel: channel, log: log, entries: entries, heard: heard, ready: make(chan struct{})}
}

// Get returns app's settings.
func (c *Cache) Get(ctx context.Context, app string) (Settings, error) { return c.AtLeast(ctx, app, 0) }

// AtLeast returns app's settings at version min or later: a job accepted
// under version min is applied with those settings or newer ones, never
// with the ones this process had cached before.
func (c *Cache) AtLeast(ctx context.Context, app string, min int64) (Settings, error) {
	want := min // what the caller needs even when MySQL cannot answer
	if heard, ok := c.heard.Get(app); ok && heard > min {
		min = heard
	}
	e, cached := c.entries.Get(app)
	if cached && e.s.Version >= min && time.Since(e.at) < CacheTTL {
		return e.s, nil
	}
	v, err, _ := c.loads.Do(app, func() (any, error) {
		s, err := c.load.LoadSettings(ctx, app)
		if err != nil {
			return Settings{}, err
		}
		c.put(app, s)
		return s, nil
	})
	switch {
	case err == nil:
		return v.(Settings), nil
	case cached && e.s.Version >= want && !errors.Is(err, chat.ErrNotFound):
		c.log.DebugContext(ctx, "settings cache: serving settings older than a minute", "app", app, "err", err)
		return e.s, nil
	}
	return Settings{}, err
}

// put caches s unless a newer version was announced or cached meanwhile.
func (c *Cache) put(app string, s Settings) {
	if heard, ok := c.heard.Get(app); ok && heard > s.Version {
		return
	}
	if cur, ok := c.entries.Get(app); ok && cur.s.Version > s.Version {
		return
	}
	c.entries.Add(app, entry{s: s, at: time.Now()})
}

// Changed is called by the process that wrote s: it caches s and tells every
// process, which drop older versions within a round trip to Redis.
func (c *Cache) Changed(ctx context.Context, app string, s Settings) error {
	c.hear(app, s.Version)
	c.put(app, s)
	msg := app + " " + strconv.FormatInt(s.Version, 10)
	if err := c.rdb.Publish(ctx, c.channel, msg).Err(); err != nil {
		return err
	}
	return nil
}

// hear records that app's settings reached version v and drops older ones.
func (c *Cache) hear(app string, v int64) {
	if heard, ok := c.heard.Get(app); !ok || v > heard {
		c.heard.Add(app, v)
	}
	if e, ok := c.entries.Peek(app); ok && e.s.Version < v {
		c.entries.Add(app, entry{s: e.s}) // stale: reloaded on its next use
	}
}

// Ready is closed once the cache heard its channel: from then on a change
// made anywhere reaches it.
func (c *Cache) Ready() <-chan struct{} { return c.ready }

// Run follows the channel until ctx ends. Each (re)subscription drops every
// entry: changes published while it was cut off were not heard.
func (c *Cache) Run(ctx context.Context) {
	ps := c.rdb.Subscribe(ctx, c.channel)
	defer ps.Close()
	// Receive does not return when ctx ends: closing the subscription does.
	stop := context.AfterFunc(ctx, func() { _ = ps.Close() })
	defer stop()
	first := true
	for ctx.Err() == nil {
		m, err := ps.Receive(ctx)
		if err != nil {
			if ctx.Err() == nil {
				c.log.WarnContext(ctx, "settings cache: subscription", "err", err)
				c.purge()
				sleepCtx(ctx, time.Second)
			}
			continue
		}
		switch m := m.(type) {
		case *redis.Subscription:
			if m.Kind == "subscribe" {
				c.purge()
				if first {
					first = false
					close(c.ready)
				}
			}
		case *redis.Message:
			c.heard1(m.Payload)
		}
	}
}

// heard1 handles one "<app> <version>" message.
func (c *Cache) heard1(payload string) {
	app, v, ok := strings.Cut(payload, " ")
	version, err := strconv.ParseInt(v, 10, 64)
	if !ok || err != nil || app == "" {
		c.log.Warn("settings cache: malformed message", "payload", payload)
		return
	}
	c.hear(app, version)
}

// Invalidate marks every entry stale, as a lost subscription does.
func (c *Cache) Invalidate() { c.purge() }

// purge marks every entry stale (not the versions heard: they stay true):
// each is reloaded on its next use, and serves only if MySQL cannot answer.
func (c *Cache) purge() {
	for _, app := range c.entries.Keys() {
		if e, ok := c.entries.Peek(app); ok {
			c.entries.Add(app, entry{s: e.s})
		}
	}
}

func sleepCtx(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}
