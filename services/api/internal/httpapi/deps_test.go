package httpapi

import (
	"database/sql"
	"io"
	"log/slog"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/instachat/instachat/pkg/counter"
	"github.com/instachat/instachat/pkg/queue"
	"github.com/instachat/instachat/pkg/search/bleve"
	"github.com/instachat/instachat/pkg/store"
	"github.com/instachat/instachat/pkg/testenv"
	"github.com/instachat/instachat/services/api/internal/chats"
)

// deps is what the api's tests build the router on: a fresh MariaDB
// database (through the store, and raw for checks), Redis under a fresh
// prefix, bleve in a temporary directory, the queue and the chats service.
type deps struct {
	st     *store.Store
	db     *sql.DB
	rdb    *redis.Client
	prefix string
	keys   queue.Keys
	eng    *bleve.Engine
	log    *slog.Logger
	q      *queue.Queue
	in     *queue.Inspector
	svc    *chats.Service
}

func newDeps(t *testing.T, partitions int) deps {
	t.Helper()
	dsn := testenv.MySQLDSN(t)
	st, err := store.Open(t.Context(), store.Config{DSN: dsn})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	db, err := sql.Open("mysql", dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	rdb, prefix := testenv.Redis(t)
	keys := queue.NewKeys(prefix, partitions)
	eng, err := bleve.Open(bleve.Config{Path: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { eng.Close() })
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	return deps{st: st, db: db, rdb: rdb, prefix: prefix, keys: keys, eng: eng, log: log,
		q: queue.New(rdb, keys, queue.DefaultConfig()), in: queue.NewInspector(rdb, keys), svc: chats.New(st, counter.New(rdb, keys, st, counter.Config{}), eng, log)}
}
