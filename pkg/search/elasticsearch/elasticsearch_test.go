package elasticsearch

import (
	"context"
	"errors"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/instachat/instachat/pkg/search"
	"github.com/instachat/instachat/pkg/search/searchtest"
	"github.com/instachat/instachat/pkg/testenv"
)

// serverURL returns ELASTICSEARCH_URL or skips: the engine is only tested
// against a real server (CI starts ZincSearch, which speaks part of the API).
func serverURL(t *testing.T) string {
	t.Helper()
	u := os.Getenv("ELASTICSEARCH_URL")
	if u == "" {
		t.Skip("ELASTICSEARCH_URL is not set: the Elasticsearch engine runs against a real server only " +
			"(CI starts ZincSearch; locally: ../shared/tools/zincsearch start, or the compose Elasticsearch)")
	}
	return u
}

// config returns a config with a fresh alias, adapted to the server: Zinc has
// no asciifolding token filter, so it runs with accents kept (the suite does
// not test folding; the bleve-only tests do).
func config(t *testing.T) Config {
	t.Helper()
	u := serverURL(t)
	return Config{URL: u, Alias: testenv.Name("ictest-"), KeepAccents: testenv.IsZinc(t, u)}
}

func openTest(t *testing.T, cfg Config, version int) *Engine {
	t.Helper()
	e, err := open(context.Background(), cfg, version)
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	t.Cleanup(func() {
		// Zinc has no DELETE index route under /es; its data dir is temporary.
		_ = e.DeleteIndex(context.Background())
		e.Close()
	})
	return e
}

func TestConformance(t *testing.T) {
	u := serverURL(t)
	var opts []searchtest.Option
	if testenv.IsZinc(t, u) {
		opts = append(opts,
			searchtest.Skip("stale version", "ZincSearch ignores version_type=external, so it cannot refuse an older version; Elasticsearch answers 409, which the engine treats as stale"),
			searchtest.Skip("ranking", "ZincSearch does not order hits by _score when a sort is given"),
		)
	}
	searchtest.Run(t, func(t *testing.T) search.Engine {
		e := openTest(t, config(t), MappingVersion)
		if !e.Info().Fresh {
			t.Fatalf("a new alias: got Fresh false, want true")
		}
		return e
	}, opts...)
}

// eventually polls a search until want holds (writes are near-real-time).
func eventually(t *testing.T, e *Engine, q search.Query, want []int64) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		got, err := e.Search(context.Background(), q)
		if err == nil && slices.Equal(got.Numbers, want) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("Search(%q): got %v, %v; want %v", q.Text, got.Numbers, err, want)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func TestMappingChangeSwitchesOverWithoutOutage(t *testing.T) {
	cfg := config(t)
	ctx := context.Background()
	v1 := openTest(t, cfg, 1)
	old := []search.Doc{{AppID: 1, Chat: 1, Number: 1, Body: "hello old"}, {AppID: 1, Chat: 1, Number: 2, Body: "hello again"}}
	if err := v1.Index(ctx, old); err != nil {
		t.Fatal(err)
	}
	q := search.Query{AppID: 1, Chat: 1, Text: "hel", Limit: 10}
	eventually(t, v1, q, []int64{1, 2})

	// A new mapping version: the new index starts empty, searches keep using
	// the old one, and writes reach both.
	v2 := openTest(t, cfg, 2)
	if !v2.Info().Fresh || v2.Info().Index == v1.Info().Index {
		t.Fatalf("v2: got %+v, want a fresh, different index", v2.Info())
	}
	eventually(t, v2, q, []int64{1, 2})
	if err := v2.Index(ctx, []search.Doc{{AppID: 1, Chat: 1, Number: 3, Body: "hello new"}}); err != nil {
		t.Fatal(err)
	}
	eventually(t, v2, q, []int64{1, 2, 3})

	// The rebuild re-sends message 1 only, then switches: searches now see
	// exactly what the new index holds.
	if err := v2.Index(ctx, old[:1]); err != nil {
		t.Fatal(err)
	}
	if err := v2.SwitchOver(ctx); err != nil {
		t.Fatalf("switch over: %v", err)
	}
	eventually(t, v2, q, []int64{1, 3})
}

func TestUnreachableServerIsUnavailable(t *testing.T) {
	cfg := Config{URL: "http://127.0.0.1:1", Alias: "ictest-down", Timeout: time.Second}
	_, err := Open(context.Background(), cfg)
	if !errors.Is(err, search.ErrUnavailable) {
		t.Fatalf("Open on a closed port: got %v, want search.ErrUnavailable", err)
	}
}

func TestRedactHidesPassword(t *testing.T) {
	got := redact("http://admin:s3cret@host:9200/es")
	if got != "http://admin:xxxxx@host:9200/es" {
		t.Errorf("redact: got %q, want the password masked", got)
	}
}
