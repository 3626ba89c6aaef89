package bleve

import (
	"context"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	blevesearch "github.com/blevesearch/bleve/v2"
	bsearch "github.com/blevesearch/bleve/v2/search"
	"github.com/blevesearch/bleve/v2/search/query"

	"github.com/instachat/instachat/pkg/search"
)

// The collector must page exactly as bleve's own sort on score, then id,
// would: same order, same total, for any window, with many score ties (few
// distinct body lengths) and matches spread over several segments.
func TestCollectPagesAsBleveSorts(t *testing.T) {
	e := openTemp(t, Config{Path: t.TempDir()})
	rng := rand.New(rand.NewPCG(5, 6))
	words := []string{"alpha", "alps", "beta", "gamma", "delta"}
	var number int64
	for range 6 { // six batches: six segments, unless merged already
		docs := make([]search.Doc, 150)
		for i := range docs {
			number++
			text := make([]string, 1+rng.IntN(4))
			for j := range text {
				text[j] = words[rng.IntN(len(words))]
			}
			docs[i] = body(number, 1, strings.Join(text, " "))
		}
		mustIndex(t, e, docs...)
	}
	// Another chat with the same words must not count.
	mustIndex(t, e, search.Doc{AppID: 1, Chat: 2, Number: 1, Version: 1, Body: "alpha beta"})

	for _, text := range []string{"al", "alpha", "beta gamma", "alps delta al", "zeta"} {
		want := bleveSorted(t, e, text)
		windows := [][2]int{{0, 20}, {0, 1}, {5, 7}, {19, 2}, {0, 1000}, {len(want) - 3, 10}, {len(want) + 5, 10}}
		for _, w := range windows {
			offset, limit := max(w[0], 0), w[1]
			q := search.Query{AppID: 1, Chat: 1, Text: text, Offset: offset, Limit: limit}
			got, err := e.Search(context.Background(), q)
			if err != nil {
				t.Fatalf("Search(%+v): %v", q, err)
			}
			page := want[min(offset, len(want)):min(offset+limit, len(want))]
			if !slices.Equal(got.Numbers, page) && (len(got.Numbers) != 0 || len(page) != 0) {
				t.Errorf("Search(%q, offset %d, limit %d): got %v, want %v", text, offset, limit, got.Numbers, page)
			}
			if got.Total != int64(len(want)) {
				t.Errorf("Search(%q, offset %d, limit %d): got total %d, want %d", text, offset, limit, got.Total, len(want))
			}
		}
	}
}

// bleveSorted returns every match of text in chat 1 of application 1 as
// bleve's TopNCollector orders them: score descending, then document id.
func bleveSorted(t *testing.T, e *Engine, text string) []int64 {
	t.Helper()
	scope := scopeOf(1, 1)
	sq := query.NewTermQuery(scope)
	sq.SetField(fieldScope)
	parts := []query.Query{sq}
	for _, term := range queryTerms(e.queryAnalyzer, termPrefix(partitionOf(scope)), text) {
		tq := query.NewTermQuery(term)
		tq.SetField(fieldBody)
		parts = append(parts, tq)
	}
	req := blevesearch.NewSearchRequestOptions(query.NewConjunctionQuery(parts), 10_000, 0, false)
	req.SortByCustom(bsearch.SortOrder{&bsearch.SortScore{Desc: true}, &bsearch.SortDocID{}})
	res, err := e.shards[shardOf(1, 1)].idx.Search(req)
	if err != nil {
		t.Fatalf("bleve search %q: %v", text, err)
	}
	out := make([]int64, len(res.Hits))
	for i, h := range res.Hits {
		n, err := numberOf(h.ID)
		if err != nil {
			t.Fatal(err)
		}
		out[i] = n
	}
	if int(res.Total) != len(out) {
		t.Fatalf("bleve search %q: total %d, %d hits", text, res.Total, len(out))
	}
	return out
}
