// Package bleve is the embedded message search backend, built on a bleve
// (scorch) index on local disk; it implements search.Engine.
//
// Words of a body are indexed as lowercased, accent-folded edge n-grams (1 to
// 20 runes), so a query word finds every word it begins; query words are
// analyzed the same way without the n-grams and all of them are required.
//
// The index lives in Config.Path/v<MappingVersion>. A mapping change bumps
// MappingVersion: Open then creates a new, empty index next to the old one,
// deletes the old one and reports Fresh, and the owner reindexes from MySQL.
package bleve

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	blevesearch "github.com/blevesearch/bleve/v2"
	"github.com/blevesearch/bleve/v2/analysis"
	bsearch "github.com/blevesearch/bleve/v2/search"
	"github.com/blevesearch/bleve/v2/search/query"

	"github.com/instachat/instachat/pkg/search"
)

// Config configures the embedded index.
type Config struct {
	// Path is the directory that holds the index, one v<N> subdirectory per
	// mapping version; it is created when missing and must be dedicated to
	// the index. Only one process may open it at a time.
	Path string
	// LockTimeout is how long Open waits for another process to release the
	// index before failing; zero means 10 seconds.
	LockTimeout time.Duration
}

// defaultLockTimeout is the LockTimeout used when Config leaves it zero.
const defaultLockTimeout = 10 * time.Second

// Engine is a search.Engine backed by an embedded bleve index. It is safe for
// concurrent use; writes are serialized so the stale-version check is exact.
type Engine struct {
	fresh    bool
	version  int
	analyzer analysis.Analyzer // the query analyzer of the index mapping

	writeMu sync.Mutex // serializes Index and Delete (read versions, then write)

	stateMu sync.RWMutex // guards idx and closed against Close
	idx     blevesearch.Index
	closed  bool
}

// Info describes the opened index.
func (e *Engine) Info() search.Info {
	return search.Info{Backend: "bleve", Index: fmt.Sprintf("bleve-v%d", e.version), Fresh: e.fresh}
}

// Open opens the index at cfg.Path, creating it when it is missing or was
// built with another mapping version (see Fresh).
func Open(cfg Config) (*Engine, error) {
	return open(cfg, MappingVersion)
}

// open is Open with the mapping version as a parameter, for tests.
func open(cfg Config, version int) (*Engine, error) {
	lockTimeout := cfg.LockTimeout
	if lockTimeout <= 0 {
		lockTimeout = defaultLockTimeout
	}
	idx, created, err := openVersion(cfg.Path, version, lockTimeout)
	if err != nil {
		return nil, err
	}
	a := idx.Mapping().AnalyzerNamed(analyzerQuery)
	if a == nil {
		_ = idx.Close()
		return nil, fmt.Errorf("open bleve index %s: mapping lacks analyzer %q", cfg.Path, analyzerQuery)
	}
	return &Engine{fresh: created, version: version, analyzer: a, idx: idx}, nil
}

// Fresh reports whether Open created a new, empty index (first start, mapping
// version change or an interrupted creation): the caller should then reindex
// every message from the source of truth.
func (e *Engine) Fresh() bool { return e.fresh }

// Index adds or replaces documents in one batch. A document whose version is
// not above the indexed one is skipped; within docs the highest version of a
// key wins.
func (e *Engine) Index(ctx context.Context, docs []search.Doc) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("index %d documents: %w", len(docs), err)
	}
	e.writeMu.Lock()
	defer e.writeMu.Unlock()
	e.stateMu.RLock()
	defer e.stateMu.RUnlock()
	if e.closed {
		return fmt.Errorf("index %d documents: %w", len(docs), unavailable())
	}

	latest, ids := newestPerKey(docs)
	if len(ids) == 0 {
		return nil
	}
	indexed, err := e.versions(ctx, ids)
	if err != nil {
		return fmt.Errorf("index %d documents: %w", len(docs), err)
	}

	b := e.idx.NewBatch()
	for _, id := range ids {
		d := latest[id]
		if v, ok := indexed[id]; ok && d.Version <= v {
			continue // stale or already there
		}
		err := b.Index(id, indexDoc{
			Scope:   scopeOf(d.AppID, d.Chat),
			Version: strconv.FormatInt(d.Version, 10),
			Body:    d.Body,
		})
		if err != nil {
			return fmt.Errorf("index message %s: %w", id, err)
		}
	}
	if b.Size() == 0 {
		return nil
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("index %d documents: %w", len(docs), err)
	}
	if err := e.idx.Batch(b); err != nil {
		return fmt.Errorf("index %d documents: %w", len(docs), wrapClosed(err))
	}
	return nil
}

// newestPerKey keeps the highest version of every key, and the ids in order
// of first appearance so batches are deterministic.
func newestPerKey(docs []search.Doc) (map[string]search.Doc, []string) {
	latest := make(map[string]search.Doc, len(docs))
	ids := make([]string, 0, len(docs))
	for _, d := range docs {
		id := docID(d.AppID, d.Chat, d.Number)
		prev, ok := latest[id]
		if !ok {
			ids = append(ids, id)
		}
		if !ok || d.Version > prev.Version {
			latest[id] = d
		}
	}
	return latest, ids
}

// versions returns the indexed version of every id that is in the index, with
// one search over the ids rather than one lookup per document.
func (e *Engine) versions(ctx context.Context, ids []string) (map[string]int64, error) {
	req := blevesearch.NewSearchRequestOptions(query.NewDocIDQuery(ids), len(ids), 0, false)
	req.Fields = []string{fieldVersion}
	req.Score = "none"
	res, err := e.idx.SearchInContext(ctx, req)
	if err != nil {
		return nil, fmt.Errorf("look up indexed versions: %w", wrapClosed(err))
	}
	out := make(map[string]int64, len(res.Hits))
	for _, h := range res.Hits {
		s, ok := h.Fields[fieldVersion].(string)
		if !ok {
			return nil, fmt.Errorf("look up indexed version of %s: field missing", h.ID)
		}
		v, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("look up indexed version of %s: %w", h.ID, err)
		}
		out[h.ID] = v
	}
	return out, nil
}

// Delete removes documents in one batch; unknown keys are ignored.
func (e *Engine) Delete(ctx context.Context, keys []search.Key) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("delete %d documents: %w", len(keys), err)
	}
	e.writeMu.Lock()
	defer e.writeMu.Unlock()
	e.stateMu.RLock()
	defer e.stateMu.RUnlock()
	if e.closed {
		return fmt.Errorf("delete %d documents: %w", len(keys), unavailable())
	}
	if len(keys) == 0 {
		return nil
	}
	b := e.idx.NewBatch()
	for _, k := range keys {
		b.Delete(docID(k.AppID, k.Chat, k.Number))
	}
	if err := e.idx.Batch(b); err != nil {
		return fmt.Errorf("delete %d documents: %w", len(keys), wrapClosed(err))
	}
	return nil
}

// Search returns the numbers of the chat's messages that contain every query
// word as a word prefix, best score first and ties by ascending number. A
// query without searchable words (blank, only punctuation) matches nothing;
// Limit 0 returns only the total.
func (e *Engine) Search(ctx context.Context, q search.Query) (search.Result, error) {
	if q.Offset < 0 || q.Limit < 0 {
		return search.Result{}, fmt.Errorf("search chat %d: invalid offset %d or limit %d", q.Chat, q.Offset, q.Limit)
	}
	if err := q.CheckWindow(); err != nil {
		return search.Result{}, fmt.Errorf("search chat %d: %w", q.Chat, err)
	}
	e.stateMu.RLock()
	defer e.stateMu.RUnlock()
	if e.closed {
		return search.Result{}, fmt.Errorf("search chat %d: %w", q.Chat, unavailable())
	}

	words := bodyTerms(e.analyzer, q.Text)
	if len(words) == 0 {
		return search.Result{Numbers: []int64{}}, nil
	}
	scope := query.NewTermQuery(scopeOf(q.AppID, q.Chat))
	scope.SetField(fieldScope)
	req := blevesearch.NewSearchRequestOptions(
		query.NewConjunctionQuery(append([]query.Query{scope}, words...)),
		q.Limit, q.Offset, false)
	req.SortByCustom(bsearch.SortOrder{
		&bsearch.SortScore{Desc: true},
		&bsearch.SortDocID{}, // ties by ascending number: see docID
	})

	res, err := e.idx.SearchInContext(ctx, req)
	if err != nil {
		return search.Result{}, fmt.Errorf("search chat %d: %w", q.Chat, wrapClosed(err))
	}
	numbers := make([]int64, 0, len(res.Hits))
	for _, h := range res.Hits {
		n, err := numberOf(h.ID)
		if err != nil {
			return search.Result{}, fmt.Errorf("search chat %d: %w", q.Chat, err)
		}
		numbers = append(numbers, n)
	}
	return search.Result{Numbers: numbers, Total: int64(res.Total)}, nil
}

// SwitchOver does nothing: a new mapping version gets a new directory that
// is searched at once, so there is no older index to switch from.
func (e *Engine) SwitchOver(context.Context) error { return nil }

// Ping reports whether the index is open.
func (e *Engine) Ping(context.Context) error {
	e.stateMu.RLock()
	defer e.stateMu.RUnlock()
	if e.closed {
		return unavailable()
	}
	return nil
}

// Close waits for running requests and closes the index; later calls return
// errors wrapping search.ErrUnavailable. Closing twice is a no-op.
func (e *Engine) Close() error {
	e.stateMu.Lock()
	defer e.stateMu.Unlock()
	if e.closed {
		return nil
	}
	e.closed = true
	if err := e.idx.Close(); err != nil {
		return fmt.Errorf("close bleve index: %w", err)
	}
	return nil
}

// unavailable is the error of a request to a closed engine.
func unavailable() error {
	return fmt.Errorf("bleve index closed: %w", search.ErrUnavailable)
}

// wrapClosed marks bleve's own "index closed" error as unavailability.
func wrapClosed(err error) error {
	if errors.Is(err, blevesearch.ErrorIndexClosed) {
		return fmt.Errorf("%w: %w", search.ErrUnavailable, err)
	}
	return err
}
