// Package bleve is the embedded message search backend, built on a bleve
// (scorch) index on local disk; it implements search.Engine.
//
// Words of a body are indexed as lowercased, accent-folded edge n-grams (1 to
// 20 runes), so a query word finds every word it begins; query words are
// analyzed the same way without the n-grams and all of them are required.
//
// The index is partitioned by chat (see partition.go) over shardCount bleve
// indexes in Config.Path/v<MappingVersion>/shard-NN; a search reads one
// partition. A mapping or layout change bumps MappingVersion: Open then
// creates a new, empty index next to the old one, deletes the old one and
// reports Fresh, and the owner reindexes from MySQL.
package bleve

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	blevesearch "github.com/blevesearch/bleve/v2"
	"github.com/blevesearch/bleve/v2/analysis"

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

// Engine is a search.Engine backed by embedded bleve indexes, one per shard.
// It is safe for concurrent use; the writes of a shard are serialized so the
// stale-version check is exact.
type Engine struct {
	fresh         bool
	version       int
	bodyAnalyzer  analysis.Analyzer // analyzerIndex of the index mapping
	queryAnalyzer analysis.Analyzer // analyzerQuery of the index mapping

	stateMu sync.RWMutex // read-held by every request, write-held by Close
	shards  []*shard
	closed  bool
}

// Info describes the opened index.
func (e *Engine) Info() search.Info {
	return search.Info{Backend: "bleve", Index: fmt.Sprintf("bleve-v%d", e.version), Fresh: e.fresh}
}

// Open opens the index at cfg.Path, creating it when it is missing or was
// built with another mapping version (see Fresh). It calls LimitAnalysis.
func Open(cfg Config) (*Engine, error) {
	LimitAnalysis()
	return open(cfg, MappingVersion)
}

// analysisWorkers is how many goroutines of the process analyze documents
// for bleve (bleve's default is 4, process-wide).
const analysisWorkers = 1

var limitAnalysis sync.Once

// LimitAnalysis sets bleve's process-wide analysis queue to analysisWorkers,
// once per process. With bleve's four workers a batch's analysis takes every
// core of a small machine and request goroutines wait for preemption: on 2
// cores at 1,500 creates/s, one worker took the create p99 from 66.6 to
// 43.9 ms and the api's CPU per create from 519 to 488 µs (docs/adr/0017).
// Open calls it; a process that indexes with bleve directly and NewMapping
// (the benchmark's reference pipeline) calls it to be measured alike. It must
// run before the process opens any bleve index: bleve closes the queue it
// replaces, and an index opened before would hang on its next batch.
func LimitAnalysis() {
	limitAnalysis.Do(func() { blevesearch.Config.SetAnalysisQueueSize(analysisWorkers) })
}

// open is Open with the mapping version as a parameter, for tests.
func open(cfg Config, version int) (*Engine, error) {
	lockTimeout := cfg.LockTimeout
	if lockTimeout <= 0 {
		lockTimeout = defaultLockTimeout
	}
	idxs, created, err := openVersion(cfg.Path, version, shardCount, lockTimeout)
	if err != nil {
		return nil, err
	}
	m := idxs[0].Mapping()
	body, qa := m.AnalyzerNamed(analyzerIndex), m.AnalyzerNamed(analyzerQuery)
	if body == nil || qa == nil {
		closeAll(idxs)
		return nil, fmt.Errorf("open bleve index %s: mapping lacks analyzer %q or %q", cfg.Path, analyzerIndex, analyzerQuery)
	}
	e := &Engine{fresh: created, version: version, bodyAnalyzer: body, queryAnalyzer: qa}
	for _, idx := range idxs {
		e.shards = append(e.shards, &shard{idx: idx})
	}
	return e, nil
}

// Fresh reports whether Open created a new, empty index (first start, mapping
// version change or an interrupted creation): the caller should then reindex
// every message from the source of truth.
func (e *Engine) Fresh() bool { return e.fresh }

// shardOf is the index in e.shards of the shard that holds a chat.
func shardOf(appID, chat int64) int {
	return shardOfPartition(partitionOf(scopeOf(appID, chat)))
}

// Index adds or replaces documents, one batch per shard. A document whose version is not above the indexed one is
// skipped; within docs the highest version of a key wins. When a shard
// fails the others may have been written: indexing again is harmless.
func (e *Engine) Index(ctx context.Context, docs []search.Doc) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("index %d documents: %w", len(docs), err)
	}
	e.stateMu.RLock()
	defer e.stateMu.RUnlock()
	if e.closed {
		return fmt.Errorf("index %d documents: %w", len(docs), unavailable())
	}
	latest, ids := newestPerKey(docs)
	routed := make([][]string, len(e.shards))
	for _, id := range ids {
		d := latest[id]
		i := shardOf(d.AppID, d.Chat)
		routed[i] = append(routed[i], id)
	}
	err := e.eachShard(routed, func(s *shard, ids []string) error {
		return s.index(ctx, ids, latest, e.bodyAnalyzer)
	})
	if err != nil {
		return fmt.Errorf("index %d documents: %w", len(docs), err)
	}
	return nil
}

// eachShard runs do for every shard that has ids, one shard after another,
// and joins their errors. Not in parallel: on a small machine indexing two
// shards at once takes both cores from request handling (at 2,400 creates/s
// on 2 cores, create p90 was 14 ms one after another against 19–24 ms in
// parallel, for the same CPU; docs/adr/0017).
func (e *Engine) eachShard(routed [][]string, do func(s *shard, ids []string) error) error {
	var errs []error
	for i, ids := range routed {
		if len(ids) == 0 {
			continue
		}
		if err := do(e.shards[i], ids); err != nil {
			errs = append(errs, fmt.Errorf("shard %d: %w", i, err))
		}
	}
	return errors.Join(errs...)
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

// Delete removes documents, one batch per shard; unknown keys are ignored.
func (e *Engine) Delete(ctx context.Context, keys []search.Key) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("delete %d documents: %w", len(keys), err)
	}
	e.stateMu.RLock()
	defer e.stateMu.RUnlock()
	if e.closed {
		return fmt.Errorf("delete %d documents: %w", len(keys), unavailable())
	}
	routed := make([][]string, len(e.shards))
	for _, k := range keys {
		i := shardOf(k.AppID, k.Chat)
		routed[i] = append(routed[i], docID(k.AppID, k.Chat, k.Number))
	}
	if err := e.eachShard(routed, (*shard).delete); err != nil {
		return fmt.Errorf("delete %d documents: %w", len(keys), err)
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

	scope := scopeOf(q.AppID, q.Chat)
	p := partitionOf(scope)
	terms := queryTerms(e.queryAnalyzer, termPrefix(p), q.Text)
	if len(terms) == 0 {
		return search.Result{Numbers: []int64{}}, nil
	}
	k := q.Offset + q.Limit
	if q.Limit == 0 {
		k = 0 // count only
	}
	hits, total, err := e.shards[shardOfPartition(p)].search(ctx, scope, terms, k)
	if err != nil {
		return search.Result{}, fmt.Errorf("search chat %d: %w", q.Chat, err)
	}
	numbers := make([]int64, 0, max(len(hits)-q.Offset, 0))
	for _, h := range hits[min(q.Offset, len(hits)):] {
		numbers = append(numbers, h.number)
	}
	return search.Result{Numbers: numbers, Total: total}, nil
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

// Close waits for running requests and closes every shard; later calls
// return errors wrapping search.ErrUnavailable. Closing twice is a no-op.
func (e *Engine) Close() error {
	e.stateMu.Lock()
	defer e.stateMu.Unlock()
	if e.closed {
		return nil
	}
	e.closed = true
	var errs []error
	for i, s := range e.shards {
		if err := s.idx.Close(); err != nil {
			errs = append(errs, fmt.Errorf("close bleve shard %d: %w", i, err))
		}
	}
	return errors.Join(errs...)
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
