package chats_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"strings"
	"testing"

	"github.com/instachat/instachat/pkg/chat"
	"github.com/instachat/instachat/pkg/counter"
	"github.com/instachat/instachat/pkg/queue"
	"github.com/instachat/instachat/pkg/search/bleve"
	"github.com/instachat/instachat/pkg/store"
	"github.com/instachat/instachat/pkg/testenv"
	"github.com/instachat/instachat/services/api/internal/chats"
)

// TestUnknownTokensStayOffMySQL is part of finding 10: a token that named
// no application is remembered for a few seconds, so asking again (a flood
// of made-up tokens) answers 404 without MySQL. The proof: MySQL is cut off
// after the first lookup, and the second still answers 404, not 503.
func TestUnknownTokensStayOffMySQL(t *testing.T) {
	ctx := context.Background()
	direct := testenv.MySQLDSN(t)
	if _, err := store.Open(ctx, store.Config{DSN: direct}); err != nil { // migrate directly
		t.Fatal(err)
	}
	proxy := testenv.NewProxy(t, "127.0.0.1:3306")
	dsn := strings.Replace(direct, "127.0.0.1:3306", proxy.Addr(), 1)
	st, err := store.Open(ctx, store.Config{DSN: dsn})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	rdb, prefix := testenv.Redis(t)
	eng, err := bleve.Open(bleve.Config{Path: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { eng.Close() })
	svc := chats.New(st, counter.New(rdb, queue.NewKeys(prefix, 1), st, counter.Config{}), eng, slog.New(slog.NewTextHandler(io.Discard, nil)))

	made := func(c byte) string { return strings.Repeat(string(c), 32) }
	steps := []struct {
		name string
		run  func(token string) error
	}{
		{"read application", func(tok string) error { _, err := svc.Application(ctx, tok); return err }},
		{"list chats", func(tok string) error { _, _, err := svc.Chats(ctx, tok, chat.Page{Page: 1, PerPage: 10}); return err }},
		{"create chat", func(tok string) error { _, err := svc.CreateChat(ctx, tok, chats.Write{}); return err }},
		{"create message", func(tok string) error { _, err := svc.CreateMessage(ctx, tok, 1, "hi", chats.Write{}); return err }},
	}
	for i, step := range steps {
		tok := made(byte('a' + i))
		proxy.Restore()
		reconnect(t, st)
		if err := step.run(tok); !errors.Is(err, chat.ErrNotFound) {
			t.Fatalf("%s with a made-up token: got %v, want not found", step.name, err)
		}
		proxy.Cut()
		for _, again := range steps {
			if err := again.run(tok); !errors.Is(err, chat.ErrNotFound) {
				t.Errorf("after %s: %s with the same made-up token while MySQL is cut off: got %v, want not found from the cache", step.name, again.name, err)
			}
		}
	}
	proxy.Restore()
	reconnect(t, st)
	if err := steps[0].run(made('z')); !errors.Is(err, chat.ErrNotFound) {
		t.Errorf("a new made-up token: got %v, want not found", err)
	}
}

// reconnect waits until the pool has dropped the connections the cut closed
// and reaches MySQL again.
func reconnect(t *testing.T, st *store.Store) {
	t.Helper()
	for range 20 {
		if st.Ping(context.Background()) == nil {
			return
		}
	}
	t.Fatal("MySQL not reachable again through the proxy")
}
