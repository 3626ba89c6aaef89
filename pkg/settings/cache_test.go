package settings_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/instachat/instachat/pkg/chat"
	"github.com/instachat/instachat/pkg/settings"
	"github.com/instachat/instachat/pkg/store"
	"github.com/instachat/instachat/pkg/testenv"
)

// rig is MySQL (a fresh database) with one application, and Redis.
type rig struct {
	st  *store.SettingsStore
	app string // token digest
}

func newRig(t *testing.T) *rig { return newRigVia(t, "") }

// newRigVia reaches MySQL through addr ("" for directly).
func newRigVia(t *testing.T, addr string) *rig {
	t.Helper()
	ctx := context.Background()
	dsn := testenv.MySQLDSN(t)
	if addr != "" {
		cfg, err := mysql.ParseDSN(dsn)
		if err != nil {
			t.Fatal(err)
		}
		cfg.Addr, cfg.Timeout, cfg.ReadTimeout = addr, time.Second, time.Second
		dsn = cfg.FormatDSN()
	}
	s, err := store.Open(ctx, store.Config{DSN: dsn})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	sealer, err := settings.NewSealer("test key: thirty-two characters!")
	if err != nil {
		t.Fatal(err)
	}
	ref, err := s.CreateApplication(ctx, "settings", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return &rig{st: s.Settings(sealer), app: chat.TokenDigest(ref.App.Token)}
}

// write applies body as a PATCH through the store, as the api does.
func (r *rig) write(t *testing.T, body string) settings.Settings {
	t.Helper()
	saved, err := r.st.Update(context.Background(), r.app, func(cur settings.Settings) (settings.Settings, error) {
		next, _, err := settings.Apply(cur, change(t, false, body), time.Now().UTC(), secrets())
		return next, err
	})
	if err != nil {
		t.Fatal(err)
	}
	return saved
}

func TestStoreRoundTrip(t *testing.T) {
	r := newRig(t)
	ctx := context.Background()
	if s, err := r.st.LoadSettings(ctx, r.app); err != nil || s.Version != 0 || s.Events != nil || len(s.Webhooks) != 0 {
		t.Fatalf("defaults: %+v, %v", s, err)
	}
	saved := r.write(t, `{"max_body_bytes": 64, "write_rate_limit": "5/1s", "events": ["message.created", "chat.deleted"],
		"webhooks": [{"url": "https://a.example/h", "events": ["message.created"]}, {"url": "https://b.example/h", "active": false}]}`)
	got, err := r.st.LoadSettings(ctx, r.app)
	if err != nil {
		t.Fatal(err)
	}
	if got.Version != 1 || got.MaxBodyBytes != 64 || got.WriteRateLimit != "5/1s" || len(got.Events) != 2 || got.Events[1] != "chat.deleted" {
		t.Errorf("loaded: %+v", got)
	}
	if len(got.Webhooks) != 2 || got.Webhooks[0].ID != saved.Webhooks[0].ID || got.Webhooks[0].Secrets[0] != saved.Webhooks[0].Secrets[0] ||
		got.Webhooks[1].Active || got.Webhooks[1].Events != nil || got.Webhooks[0].Events[0] != "message.created" {
		t.Errorf("webhooks: got %+v, want %+v", got.Webhooks, saved.Webhooks)
	}
	// A write made against an old version is refused, and changes nothing.
	_, err = r.st.Update(ctx, r.app, func(cur settings.Settings) (settings.Settings, error) {
		if cur.Version != 0 {
			return settings.Settings{}, settings.ErrStale
		}
		return cur, nil
	})
	if !errors.Is(err, settings.ErrStale) {
		t.Errorf("stale write: %v", err)
	}
	if _, err := r.st.LoadSettings(ctx, "no such digest"); !errors.Is(err, chat.ErrNotFound) {
		t.Errorf("unknown application: %v", err)
	}
}

// TestCacheFollowsChanges: two caches (two processes) over one MySQL and one
// Redis; a change made through one reaches the other within a second, and
// AtLeast reloads for a job accepted under a version the cache has not seen.
func TestCacheFollowsChanges(t *testing.T) {
	r := newRig(t)
	rdb, prefix := testenv.Redis(t)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	a := settings.NewCache(r.st, rdb, prefix+"settings", log)
	b := settings.NewCache(r.st, rdb, prefix+"settings", log)
	for _, c := range []*settings.Cache{a, b} {
		go c.Run(ctx)
		select {
		case <-c.Ready():
		case <-time.After(5 * time.Second):
			t.Fatal("cache did not subscribe")
		}
	}
	for _, c := range []*settings.Cache{a, b} {
		if s, err := c.Get(ctx, r.app); err != nil || s.Version != 0 {
			t.Fatalf("first read: %+v, %v", s, err)
		}
	}
	saved := r.write(t, `{"max_body_bytes": 10}`)
	if err := a.Changed(ctx, r.app, saved); err != nil {
		t.Fatal(err)
	}
	if s, _ := a.Get(ctx, r.app); s.Version != 1 {
		t.Errorf("the writer's own cache: version %d, want 1", s.Version)
	}
	deadline := time.Now().Add(time.Second)
	for {
		s, err := b.Get(ctx, r.app)
		if err == nil && s.Version == 1 && s.BodyLimit() == 10 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the other cache after 1 s: %+v, %v", s, err)
		}
		time.Sleep(5 * time.Millisecond)
	}

	// A change whose message is lost (published nowhere): b keeps version 1
	// for Get, but a job accepted under version 2 reloads.
	r.write(t, `{"max_body_bytes": 20}`)
	if s, _ := b.Get(ctx, r.app); s.Version != 1 {
		t.Fatalf("without a message: version %d, want the cached 1", s.Version)
	}
	if s, err := b.AtLeast(ctx, r.app, 2); err != nil || s.Version != 2 || s.BodyLimit() != 20 {
		t.Errorf("AtLeast(2): %+v, %v", s, err)
	}
}

// TestCacheServesTheLastSettingsWhileMySQLIsDown: settings older than a
// minute, or dropped by a resubscription, keep serving when MySQL cannot be
// reached (writes are accepted with MySQL down); an application never loaded
// is an error the caller decides about, and a job from a newer version is
// not served older settings.
func TestCacheServesTheLastSettingsWhileMySQLIsDown(t *testing.T) {
	proxy := testenv.NewProxy(t, "127.0.0.1:3306")
	r := newRigVia(t, proxy.Addr())
	rdb, prefix := testenv.Redis(t)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	c := settings.NewCache(r.st, rdb, prefix+"settings", slog.New(slog.NewTextHandler(io.Discard, nil)))
	go c.Run(ctx)
	<-c.Ready()
	r.write(t, `{"max_body_bytes": 33}`)
	if s, err := c.Get(ctx, r.app); err != nil || s.BodyLimit() != 33 {
		t.Fatalf("first read: %+v, %v", s, err)
	}
	proxy.Cut()
	t.Cleanup(proxy.Restore)
	// A lost subscription marks every entry stale; MySQL is down.
	if err := rdb.Publish(ctx, prefix+"settings", r.app+" 1").Err(); err != nil {
		t.Fatal(err)
	}
	c.Invalidate()
	readCtx, cancelRead := context.WithTimeout(ctx, 5*time.Second)
	defer cancelRead()
	if s, err := c.Get(readCtx, r.app); err != nil || s.BodyLimit() != 33 {
		t.Errorf("with MySQL down: %+v, %v; want the last settings loaded", s, err)
	}
	if _, err := c.AtLeast(readCtx, r.app, 2); err == nil {
		t.Error("AtLeast(2) with MySQL down served version 1")
	}
	if _, err := c.Get(readCtx, "never loaded"); err == nil {
		t.Error("an application never loaded was served with MySQL down")
	}
}

// TestCacheRunEndsWithItsContext: Run returns when its context ends, even
// with no message on the channel (a service's shutdown waits for it).
func TestCacheRunEndsWithItsContext(t *testing.T) {
	r := newRig(t)
	rdb, prefix := testenv.Redis(t)
	c := settings.NewCache(r.st, rdb, prefix+"settings", slog.New(slog.NewTextHandler(io.Discard, nil)))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { c.Run(ctx); close(done) }()
	<-c.Ready()
	cancel()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Run still running 5 s after its context ended")
	}
}
