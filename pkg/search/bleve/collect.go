package bleve

import (
	"context"
	"fmt"
	"slices"

	bsearch "github.com/blevesearch/bleve/v2/search"
	index "github.com/blevesearch/bleve_index_api"
)

// checkDoneEvery is how many matches a search collects between looks at its
// context, as bleve's own collector does.
const checkDoneEvery = 1024

// collect runs searcher to its end and returns the total number of matches
// and the best k of them, best first: higher score, then lower message
// number. The numbers of the returned hits are known.
//
// It stands in for bleve's TopNCollector, which, sorting on the document id
// to break score ties, reads the id of every match from its stored record
// (a third of a search's time over a common word). Here a match's number is
// read only when its score ties with a kept match, or when it is kept until
// the end: most matches of a common word are dropped on their score alone.
func collect(ctx context.Context, s bsearch.Searcher, r index.IndexReader, k int) ([]*hit, int64, error) {
	sctx := &bsearch.SearchContext{
		DocumentMatchPool: bsearch.NewDocumentMatchPool(s.DocumentMatchPoolSize()+1, 0),
		IndexReader:       r,
	}
	top := &topHits{k: k, reader: r}
	var total int64
	for {
		if total%checkDoneEvery == 0 {
			if err := ctx.Err(); err != nil {
				return nil, 0, err
			}
		}
		m, err := s.Next(sctx)
		if err != nil {
			return nil, 0, fmt.Errorf("next match: %w", err)
		}
		if m == nil {
			break
		}
		total++
		top.offer(m)
		sctx.DocumentMatchPool.Put(m)
		if top.err != nil {
			return nil, 0, top.err
		}
	}
	hits, err := top.sorted()
	return hits, total, err
}

// hit is one kept match.
type hit struct {
	score  float64
	id     index.IndexInternalID // owned copy: bleve reuses its buffers
	number int64
	known  bool // number has been read
}

// topHits keeps the best k matches offered, in a heap whose root is the
// worst kept one.
type topHits struct {
	k      int
	reader index.IndexReader
	heap   []*hit
	spare  *hit  // a dropped hit, reused for the next tie
	err    error // the first failure to read a number
}

// offer considers one match.
func (t *topHits) offer(m *bsearch.DocumentMatch) {
	if t.k == 0 {
		return
	}
	if len(t.heap) < t.k {
		t.heap = append(t.heap, t.newHit(m))
		t.up(len(t.heap) - 1)
		return
	}
	root := t.heap[0]
	if m.Score < root.score {
		return
	}
	h := t.newHit(m)
	if m.Score == root.score && !t.worse(root, h) {
		t.spare = h
		return
	}
	t.heap[0] = h
	t.down(0)
	root.known = false
	t.spare = root
}

// newHit copies m, reusing the spare hit when there is one.
func (t *topHits) newHit(m *bsearch.DocumentMatch) *hit {
	h := t.spare
	t.spare = nil
	if h == nil {
		h = &hit{}
	}
	h.score, h.known = m.Score, false
	h.id = append(h.id[:0], m.IndexInternalID...)
	return h
}

// worse reports whether a ranks after b: a lower score, or the same score
// and a higher number.
func (t *topHits) worse(a, b *hit) bool {
	if a.score != b.score {
		return a.score < b.score
	}
	return t.number(a) > t.number(b)
}

// number reads the message number of h once; a failure is kept in t.err
// and the search fails when the current match has been offered.
func (t *topHits) number(h *hit) int64 {
	if h.known {
		return h.number
	}
	id, err := t.reader.ExternalID(h.id)
	if err == nil {
		h.number, err = numberOf(id)
	}
	if err != nil && t.err == nil {
		t.err = fmt.Errorf("read the id of a match: %w", err)
	}
	h.known = true
	return h.number
}

func (t *topHits) up(i int) {
	for i > 0 {
		p := (i - 1) / 2
		if !t.worse(t.heap[i], t.heap[p]) {
			return
		}
		t.heap[i], t.heap[p] = t.heap[p], t.heap[i]
		i = p
	}
}

func (t *topHits) down(i int) {
	n := len(t.heap)
	for {
		w, l, r := i, 2*i+1, 2*i+2
		if l < n && t.worse(t.heap[l], t.heap[w]) {
			w = l
		}
		if r < n && t.worse(t.heap[r], t.heap[w]) {
			w = r
		}
		if w == i {
			return
		}
		t.heap[i], t.heap[w] = t.heap[w], t.heap[i]
		i = w
	}
}

// sorted returns the kept hits best first, every number read.
func (t *topHits) sorted() ([]*hit, error) {
	for _, h := range t.heap {
		t.number(h)
	}
	if t.err != nil {
		return nil, t.err
	}
	hits := slices.Clone(t.heap)
	slices.SortFunc(hits, func(a, b *hit) int {
		switch {
		case t.worse(b, a):
			return -1
		case t.worse(a, b):
			return 1
		}
		return 0
	})
	return hits, nil
}
