// Package index keeps the api's search index a copy of MySQL: it opens the
// engine (retrying while Elasticsearch is down), takes the writer's live
// reindex calls, drains the search outbox (catch-up), rebuilds the index from
// MySQL and switches searches over when a rebuild is done. Searching stays in
// package chats, through the same engine.
package index

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/instachat/instachat/pkg/chat"
	"github.com/instachat/instachat/pkg/search"
	"github.com/instachat/instachat/pkg/store"
)

// Index writes the search index from MySQL and from the writer's calls.
type Index struct {
	store  *store.Store
	engine search.Engine
	log    *slog.Logger
	now    func() time.Time
	// requests carries the restart flag of a background rebuild to Run;
	// rebuilding is set from the request until that rebuild returns, so at
	// most one is queued or runs.
	requests   chan bool
	rebuilding atomic.Bool
}

// New returns an Index writing engine from st.
func New(st *store.Store, engine search.Engine, log *slog.Logger) *Index {
	return &Index{store: st, engine: engine, log: log, now: time.Now, requests: make(chan bool, 1)}
}

// Reindex puts documents the writer just committed into the search index and
// removes the deleted keys.
func (x *Index) Reindex(ctx context.Context, docs []search.Doc, deleted []search.Key) error {
	if len(docs) > 0 {
		if err := x.engine.Index(ctx, docs); err != nil {
			return fmt.Errorf("reindex: %w: %w", chat.Unavailable("search"), err)
		}
	}
	if len(deleted) > 0 {
		if err := x.engine.Delete(ctx, deleted); err != nil {
			return fmt.Errorf("reindex: %w: %w", chat.Unavailable("search"), err)
		}
	}
	return nil
}

// CatchUpConfig says how often the catch-up looks at the outbox and how old
// a change must be before it takes it from the writer's live reindex.
type CatchUpConfig struct {
	Interval, Delay time.Duration
}

// Run keeps the search index complete once the engine is open (ready closes;
// at once for bleve, when the cluster answers for Elasticsearch): it drains
// the search outbox, so changes whose reindex call was lost (writer died, api
// or search down) arrive, and rebuilds a fresh index (from zero) or resumes
// an interrupted rebuild. It returns when ctx ends.
func (x *Index) Run(ctx context.Context, ready <-chan struct{}, catchUp CatchUpConfig) {
	select {
	case <-ctx.Done():
		return
	case <-ready:
	}
	info := x.engine.Info()
	x.log.Info("search engine open", "search", info.Backend, "index", info.Index, "fresh", info.Fresh)
	var wg sync.WaitGroup
	defer wg.Wait()
	wg.Go(func() { x.RunCatchUp(ctx, catchUp.Interval, catchUp.Delay) })
	wg.Go(func() { x.runRequestedRebuilds(ctx) })
	st, saved, err := x.store.RebuildState(ctx, info.Index)
	switch {
	case ctx.Err() != nil:
		return // shutting down
	case err != nil:
		// Without the saved state a rebuild might resume from a wrong
		// position; an operator can start one (POST /admin/index/rebuild).
		x.log.Error("read the search rebuild state; no rebuild started", "err", err)
	case info.Fresh || !saved:
		// A fresh index starts from zero whatever was saved for its name (a
		// lost bleve directory); so does one with nothing saved: it was
		// created by a start that stopped before its rebuild was recorded.
		x.StartRebuild(true)
	case !st.Finished():
		x.StartRebuild(false) // resume the interrupted rebuild
	}
}

// searchDocs converts the store's documents to the index's.
func searchDocs(rows []store.IndexDoc) []search.Doc {
	docs := make([]search.Doc, len(rows))
	for i, r := range rows {
		docs[i] = search.Doc{AppID: r.AppID, Chat: r.Chat, Number: r.Number, Body: r.Body, Version: r.Version}
	}
	return docs
}
