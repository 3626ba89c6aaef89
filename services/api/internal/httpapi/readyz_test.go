package httpapi

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/instachat/instachat/pkg/counter"
	"github.com/instachat/instachat/pkg/queue"
	"github.com/instachat/instachat/pkg/search/bleve"
	"github.com/instachat/instachat/pkg/store"
	"github.com/instachat/instachat/pkg/testenv"
	"github.com/instachat/instachat/services/api/internal/chats"
)

// TestReadyzNamesSearch: /readyz checks search as a third dependency; search
// down alone leaves the api ready but degraded, since only searches need it.
func TestReadyzNamesSearch(t *testing.T) {
	ctx := t.Context()
	st, err := store.Open(ctx, store.Config{DSN: testenv.MySQLDSN(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	rdb, prefix := testenv.Redis(t)
	keys := queue.NewKeys(prefix, 1)
	eng, err := bleve.Open(bleve.Config{Path: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { eng.Close() })
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	svc := chats.New(st, counter.New(rdb, keys, st, counter.Config{}), eng, log)
	srv := httptest.NewServer(NewServer(Config{Version: "test"}, svc, queue.New(rdb, keys, queue.DefaultConfig()), log))
	t.Cleanup(srv.Close)

	readyz := func() (int, Readiness) {
		t.Helper()
		resp, err := http.Get(srv.URL + "/readyz")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var r Readiness
		if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
			t.Fatalf("decode /readyz: %v", err)
		}
		return resp.StatusCode, r
	}
	tests := []struct {
		name       string
		before     func()
		wantStatus int
		want       Readiness
	}{
		{"all up", func() {}, http.StatusOK, Readiness{Status: "ok", Version: "test", MySQL: "ok", Redis: "ok", Search: "ok"}},
		{"search down", func() { eng.Close() }, http.StatusOK, Readiness{Status: "degraded", Version: "test", MySQL: "ok", Redis: "ok", Search: "unavailable"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.before()
			status, got := readyz()
			if status != tt.wantStatus || got != tt.want {
				t.Errorf("GET /readyz: got %d %+v, want %d %+v", status, got, tt.wantStatus, tt.want)
			}
		})
	}
}
