package bleve

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	blevesearch "github.com/blevesearch/bleve/v2"

	"github.com/instachat/instachat/pkg/search"
	"github.com/instachat/instachat/pkg/search/searchtest"
)

func TestConformance(t *testing.T) {
	searchtest.Run(t, func(t *testing.T) search.Engine {
		return openTemp(t, Config{Path: t.TempDir()})
	})
}

// openTemp opens an engine and closes it when the test ends.
func openTemp(t *testing.T, cfg Config) *Engine {
	t.Helper()
	e, err := Open(cfg)
	if err != nil {
		t.Fatalf("Open(%+v): got error %v, want nil", cfg, err)
	}
	t.Cleanup(func() {
		if err := e.Close(); err != nil {
			t.Errorf("Close: got error %v, want nil", err)
		}
	})
	return e
}

// mustIndex indexes docs or fails the test.
func mustIndex(t *testing.T, e *Engine, docs ...search.Doc) {
	t.Helper()
	if err := e.Index(context.Background(), docs); err != nil {
		t.Fatalf("Index: got error %v, want nil", err)
	}
}

// numbers searches chat 1 of application 1 and returns the matching numbers.
func numbers(t *testing.T, e *Engine, text string) []int64 {
	t.Helper()
	r, err := e.Search(context.Background(), search.Query{AppID: 1, Chat: 1, Text: text, Limit: 100})
	if err != nil {
		t.Fatalf("Search(%q): got error %v, want nil", text, err)
	}
	return r.Numbers
}

func body(number, version int64, text string) search.Doc {
	return search.Doc{AppID: 1, Chat: 1, Number: number, Version: version, Body: text}
}

func TestReopenKeepsData(t *testing.T) {
	dir := t.TempDir()
	e, err := Open(Config{Path: dir})
	if err != nil {
		t.Fatalf("Open: got error %v, want nil", err)
	}
	if !e.Fresh() {
		t.Errorf("first Open: got Fresh false, want true")
	}
	mustIndex(t, e, body(1, 1, "persistent hello"), body(2, 1, "other"))
	if err := e.Close(); err != nil {
		t.Fatalf("Close: got error %v, want nil", err)
	}

	e = openTemp(t, Config{Path: dir})
	if e.Fresh() {
		t.Errorf("second Open: got Fresh true, want false")
	}
	if got, want := numbers(t, e, "persist"), []int64{1}; !slices.Equal(got, want) {
		t.Errorf("after reopen: got %v, want %v", got, want)
	}
	// Versions survive too: a stale write after reopening is ignored.
	mustIndex(t, e, body(1, 0, "stale after reopen"))
	if got := numbers(t, e, "stale"); len(got) != 0 {
		t.Errorf("stale write after reopen: got %v, want none", got)
	}
}

func TestMappingVersionChangeRebuilds(t *testing.T) {
	dir := t.TempDir()
	old, err := open(Config{Path: dir}, MappingVersion)
	if err != nil {
		t.Fatalf("open v%d: got error %v, want nil", MappingVersion, err)
	}
	mustIndex(t, old, body(1, 1, "indexed with the old mapping"))
	if err := old.Close(); err != nil {
		t.Fatalf("Close: got error %v, want nil", err)
	}

	next := MappingVersion + 1
	e, err := open(Config{Path: dir}, next)
	if err != nil {
		t.Fatalf("open v%d: got error %v, want nil", next, err)
	}
	t.Cleanup(func() { _ = e.Close() })
	if !e.Fresh() {
		t.Errorf("open after version change: got Fresh false, want true")
	}
	if got := numbers(t, e, "indexed"); len(got) != 0 {
		t.Errorf("new index: got %v, want none (rebuilt empty)", got)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatalf("ReadDir: %v", err)
	}
	var names []string
	for _, en := range entries {
		names = append(names, en.Name())
	}
	if want := []string{versionDirName(next)}; !slices.Equal(names, want) {
		t.Errorf("index root holds %v, want %v (old version removed)", names, want)
	}
}

// A crash while creating the shards leaves one without its version marker
// (written last): the whole set is created again and reported Fresh.
func TestHalfCreatedIndexIsRecreated(t *testing.T) {
	dir := t.TempDir()
	e, err := Open(Config{Path: dir})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	mustIndex(t, e, body(1, 1, "leftover"))
	if err := e.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	last := filepath.Join(dir, versionDirName(MappingVersion), shardDirName(shardCount-1))
	idx, err := blevesearch.Open(last)
	if err != nil {
		t.Fatalf("open the last shard: %v", err)
	}
	if err := idx.DeleteInternal(internalVersionKey); err != nil {
		t.Fatalf("remove its marker: %v", err)
	}
	if err := idx.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}

	e = openTemp(t, Config{Path: dir})
	if !e.Fresh() {
		t.Errorf("got Fresh false, want true")
	}
	if got := numbers(t, e, "leftover"); len(got) != 0 {
		t.Errorf("got %v, want none", got)
	}
}

func TestOpenEmptyPath(t *testing.T) {
	if _, err := Open(Config{}); err == nil {
		t.Errorf("Open with empty path: got nil error, want one")
	}
}

func TestClosedEngineIsUnavailable(t *testing.T) {
	e, err := Open(Config{Path: t.TempDir()})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	if err := e.Close(); err != nil {
		t.Fatalf("Close: got error %v, want nil", err)
	}
	ctx := context.Background()
	errs := map[string]error{
		"Index":  e.Index(ctx, []search.Doc{body(1, 1, "x")}),
		"Delete": e.Delete(ctx, []search.Key{{AppID: 1, Chat: 1, Number: 1}}),
	}
	_, errs["Search"] = e.Search(ctx, search.Query{AppID: 1, Chat: 1, Text: "x", Limit: 1})
	for name, err := range errs {
		if !errors.Is(err, search.ErrUnavailable) {
			t.Errorf("%s after Close: got error %v, want one wrapping ErrUnavailable", name, err)
		}
	}
	if err := e.Close(); err != nil {
		t.Errorf("second Close: got error %v, want nil", err)
	}
}

func TestAccentFolding(t *testing.T) {
	e := openTemp(t, Config{Path: t.TempDir()})
	mustIndex(t, e, body(1, 1, "Café crème"), body(2, 1, "Straße"), body(3, 1, "cafe noir"))
	cases := []struct {
		text string
		want []int64
	}{
		{"cafe", []int64{1, 3}},
		{"café", []int64{1, 3}},
		{"creme", []int64{1}},
		{"strasse", []int64{2}},
	}
	for _, c := range cases {
		got := numbers(t, e, c.text)
		slices.Sort(got)
		if !slices.Equal(got, c.want) {
			t.Errorf("Search(%q): got %v, want %v", c.text, got, c.want)
		}
	}
}

func TestLongQueryWordIsTruncated(t *testing.T) {
	e := openTemp(t, Config{Path: t.TempDir()})
	mustIndex(t, e, body(1, 1, "Supercalifragilisticexpialidocious"), body(2, 1, "supercalifragilistik"))
	// Only the first maxGram runes are indexed, so they decide the match.
	if got, want := numbers(t, e, "supercalifragilisticANYTHING"), []int64{1}; !slices.Equal(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
}

func TestSearchRejectsNegativePaging(t *testing.T) {
	e := openTemp(t, Config{Path: t.TempDir()})
	for _, q := range []search.Query{{Text: "x", Offset: -1, Limit: 1}, {Text: "x", Limit: -1}} {
		if _, err := e.Search(context.Background(), q); err == nil {
			t.Errorf("Search(%+v): got nil error, want one", q)
		}
	}
}

func TestSearchRefusesPagesBeyondTheWindow(t *testing.T) {
	e := openTemp(t, Config{Path: t.TempDir()})
	mustIndex(t, e, body(1, 1, "deep"))
	tests := []struct {
		offset, limit int
		ok            bool
	}{
		{search.MaxWindow - 100, 100, true},
		{search.MaxWindow - 99, 100, false},
		{search.MaxWindow, 0, true},
		{1 << 62, 100, false},
	}
	for _, tt := range tests {
		q := search.Query{AppID: 1, Chat: 1, Text: "deep", Offset: tt.offset, Limit: tt.limit}
		_, err := e.Search(context.Background(), q)
		if tt.ok && err != nil || !tt.ok && !errors.Is(err, search.ErrBeyondWindow) {
			t.Errorf("Search(offset %d, limit %d): got %v, want ok=%v or ErrBeyondWindow", tt.offset, tt.limit, err, tt.ok)
		}
		if errors.Is(err, search.ErrUnavailable) {
			t.Errorf("Search(offset %d, limit %d): got %v, must not be ErrUnavailable", tt.offset, tt.limit, err)
		}
	}
}

func TestLimitZeroCountsOnly(t *testing.T) {
	e := openTemp(t, Config{Path: t.TempDir()})
	mustIndex(t, e, body(1, 1, "count me"), body(2, 1, "count me too"))
	r, err := e.Search(context.Background(), search.Query{AppID: 1, Chat: 1, Text: "count"})
	if err != nil {
		t.Fatalf("Search: got error %v, want nil", err)
	}
	if len(r.Numbers) != 0 || r.Total != 2 {
		t.Errorf("got numbers %v total %d, want none and total 2", r.Numbers, r.Total)
	}
}

func TestCanceledContext(t *testing.T) {
	e := openTemp(t, Config{Path: t.TempDir()})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := e.Index(ctx, []search.Doc{body(1, 1, "never")}); !errors.Is(err, context.Canceled) {
		t.Errorf("Index: got error %v, want context.Canceled", err)
	}
	if got := numbers(t, e, "never"); len(got) != 0 {
		t.Errorf("after canceled Index: got %v, want none", got)
	}
}

// Versions are compared exactly, even beyond float64 precision (2^53).
func TestStaleCheckIsExactForLargeVersions(t *testing.T) {
	e := openTemp(t, Config{Path: t.TempDir()})
	const v = int64(1)<<62 + 1
	mustIndex(t, e, body(1, v, "newer"))
	mustIndex(t, e, body(1, v-1, "older"))
	if got := numbers(t, e, "older"); len(got) != 0 {
		t.Errorf("version %d after %d: got %v, want none", v-1, v, got)
	}
	mustIndex(t, e, body(1, v+1, "newest"))
	if got, want := numbers(t, e, "newest"), []int64{1}; !slices.Equal(got, want) {
		t.Errorf("version %d after %d: got %v, want %v", v+1, v, got, want)
	}
}

// Concurrent writers of one message end with the highest version, whatever
// the order in which they run.
func TestConcurrentWritersKeepHighestVersion(t *testing.T) {
	e := openTemp(t, Config{Path: t.TempDir()})
	words := []string{"zero", "one", "two", "three", "four", "five", "six", "seven"}
	var wg sync.WaitGroup
	for v := range words {
		wg.Go(func() {
			if err := e.Index(context.Background(), []search.Doc{body(1, int64(v), words[v])}); err != nil {
				t.Errorf("Index version %d: got error %v, want nil", v, err)
			}
		})
		wg.Go(func() {
			if _, err := e.Search(context.Background(), search.Query{AppID: 1, Chat: 1, Text: "t", Limit: 10}); err != nil {
				t.Errorf("Search: got error %v, want nil", err)
			}
		})
	}
	wg.Wait()
	for v, w := range words {
		want := []int64(nil)
		if v == len(words)-1 {
			want = []int64{1}
		}
		if got := numbers(t, e, w); !slices.Equal(got, want) {
			t.Errorf("Search(%q): got %v, want %v", w, got, want)
		}
	}
}

func TestOpenFailsWhileAnotherEngineHoldsTheIndex(t *testing.T) {
	dir := t.TempDir()
	openTemp(t, Config{Path: dir})
	e, err := Open(Config{Path: dir, LockTimeout: 100 * time.Millisecond})
	if !errors.Is(err, ErrLocked) {
		if err == nil {
			_ = e.Close()
		}
		t.Fatalf("second Open of a held index: got error %v, want ErrLocked", err)
	}
}

func TestEmptyIndexDirectoryIsRecreated(t *testing.T) {
	dir := t.TempDir()
	// A crash before bleve wrote its metadata leaves an empty directory.
	if err := os.MkdirAll(filepath.Join(dir, versionDirName(MappingVersion)), 0o755); err != nil {
		t.Fatalf("MkdirAll: %v", err)
	}
	e := openTemp(t, Config{Path: dir})
	if !e.Fresh() {
		t.Errorf("got Fresh false, want true")
	}
	mustIndex(t, e, body(1, 1, "works"))
	if got, want := numbers(t, e, "works"), []int64{1}; !slices.Equal(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
}

// Ties are broken by ascending number, not by the id's text: 9 before 10,
// 99 before 100, whatever order they were indexed in.
func TestTiesSortByNumberNotText(t *testing.T) {
	e := openTemp(t, Config{Path: t.TempDir()})
	var docs []search.Doc
	for _, n := range []int64{100, 10, 9, 99, 1, 1000, 11} {
		docs = append(docs, body(n, 1, "same words"))
	}
	if err := e.Index(context.Background(), docs); err != nil {
		t.Fatal(err)
	}
	got := numbers(t, e, "same")
	want := []int64{1, 9, 10, 11, 99, 100, 1000}
	if !slices.Equal(got, want) {
		t.Errorf("equally scored matches came as %v, want %v", got, want)
	}
}
