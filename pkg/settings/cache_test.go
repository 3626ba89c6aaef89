package settings_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"testing"
	"time"

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

func newRig(t *testing.T) *rig {
	t.Helper()
	ctx := context.Background()
	s, err := store.Open(ctx, store.Config{DSN: testenv.MySQLDSN(t)})
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
