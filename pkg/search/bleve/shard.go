package bleve

import (
	"context"
	"fmt"
	"strconv"
	"sync"

	blevesearch "github.com/blevesearch/bleve/v2"
	"github.com/blevesearch/bleve/v2/analysis"
	bsearch "github.com/blevesearch/bleve/v2/search"
	"github.com/blevesearch/bleve/v2/search/query"

	"github.com/instachat/instachat/pkg/search"
)

// shard is one bleve index, holding every message of the chats routed to it.
type shard struct {
	idx     blevesearch.Index
	writeMu sync.Mutex // serializes writes: read the versions, then write
}

// index writes the documents ids of latest in one batch, skipping those whose
// indexed version is not lower.
func (s *shard) index(ctx context.Context, ids []string, latest map[string]search.Doc, body analysis.Analyzer) error {
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	indexed, err := s.versions(ctx, ids)
	if err != nil {
		return err
	}
	b := s.idx.NewBatch()
	for _, id := range ids {
		d := latest[id]
		if v, ok := indexed[id]; ok && d.Version <= v {
			continue // stale or already there
		}
		scope := scopeOf(d.AppID, d.Chat)
		doc := indexDoc{Scope: scope, Version: strconv.FormatInt(d.Version, 10), Body: d.Body}
		if err := b.IndexAdvanced(newDocument(id, doc, partitionOf(scope), body)); err != nil {
			return fmt.Errorf("index message %s: %w", id, err)
		}
	}
	if b.Size() == 0 {
		return nil
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	return wrapClosed(s.idx.Batch(b))
}

// versions returns the indexed version of every id that is in the shard,
// with one search over the ids rather than one lookup per document.
func (s *shard) versions(ctx context.Context, ids []string) (map[string]int64, error) {
	req := blevesearch.NewSearchRequestOptions(query.NewDocIDQuery(ids), len(ids), 0, false)
	req.Fields = []string{fieldVersion}
	req.Score = "none"
	res, err := s.idx.SearchInContext(ctx, req)
	if err != nil {
		return nil, fmt.Errorf("look up indexed versions: %w", wrapClosed(err))
	}
	out := make(map[string]int64, len(res.Hits))
	for _, h := range res.Hits {
		v, ok := h.Fields[fieldVersion].(string)
		if !ok {
			return nil, fmt.Errorf("look up indexed version of %s: field missing", h.ID)
		}
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("look up indexed version of %s: %w", h.ID, err)
		}
		out[h.ID] = n
	}
	return out, nil
}

// delete removes the documents ids in one batch.
func (s *shard) delete(ids []string) error {
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	b := s.idx.NewBatch()
	for _, id := range ids {
		b.Delete(id)
	}
	return wrapClosed(s.idx.Batch(b))
}

// search finds the chat's documents that hold every term (of the chat's
// partition) and returns the best k and the total, reading one snapshot of
// the shard. The scope term keeps out the partition's other chats.
func (s *shard) search(ctx context.Context, scope string, terms []string, k int) ([]*hit, int64, error) {
	sq := query.NewTermQuery(scope)
	sq.SetField(fieldScope)
	parts := []query.Query{sq}
	for _, term := range terms {
		tq := query.NewTermQuery(term)
		tq.SetField(fieldBody)
		parts = append(parts, tq)
	}
	q := query.NewConjunctionQuery(parts)
	adv, err := s.idx.Advanced()
	if err != nil {
		return nil, 0, wrapClosed(err)
	}
	r, err := adv.Reader()
	if err != nil {
		return nil, 0, wrapClosed(err)
	}
	defer r.Close()
	searcher, err := q.Searcher(ctx, r, s.idx.Mapping(), bsearch.SearcherOptions{})
	if err != nil {
		return nil, 0, fmt.Errorf("build searcher: %w", err)
	}
	defer searcher.Close()
	return collect(ctx, searcher, r, k)
}
