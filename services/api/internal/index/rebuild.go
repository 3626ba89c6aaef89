package index

import (
	"context"
	"fmt"
	"time"
)

// saveTimeout bounds the write of a rebuild position after the context ended.
const saveTimeout = 5 * time.Second

// RebuildIndex indexes every persisted message from MySQL, in row id order
// and pages of batch, and returns how many documents this run sent. The
// position (the last row id indexed) is saved in MySQL after every page under
// the engine's versioned index name, so an interrupted rebuild resumes where
// it stopped; restart starts from zero instead, and so does a rebuild whose
// last run finished. progress, when not nil, is called with the messages
// walked so far and the total. At the end an engine that builds a new index
// beside the searched one (Elasticsearch) switches searches over to it.
// Documents the index already holds at the same or a newer version are
// skipped by the engine, so it is safe while the writer and the catch-up keep
// indexing.
func (x *Index) RebuildIndex(ctx context.Context, batch int, restart bool, progress func(done, total int64)) (int64, error) {
	n, _, err := x.rebuild(ctx, batch, restart, progress)
	return n, err
}

// StartRebuild asks Run to rebuild the index in the background (from the
// first message when restart, else resuming an unfinished rebuild) and
// reports whether it was queued: false when a rebuild is already queued or
// running in this process.
func (x *Index) StartRebuild(restart bool) bool {
	if !x.rebuilding.CompareAndSwap(false, true) {
		return false
	}
	x.requests <- restart // the one winner of the swap: the buffer has room
	return true
}

// runRequestedRebuilds runs the rebuilds StartRebuild queues, one at a time,
// until ctx ends.
func (x *Index) runRequestedRebuilds(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case restart := <-x.requests:
			x.RunRebuild(ctx, 1000, restart)
			x.rebuilding.Store(false)
		}
	}
}

// Progress is the state of the index's rebuild, for operators.
type Progress struct {
	Index string
	// Running is true while a rebuild is queued or runs in this process.
	Running bool
	// Started is false when no rebuild of Index was ever started.
	Started    bool
	Done       int64 // messages walked so far
	Total      int64 // messages in MySQL
	StartedAt  time.Time
	UpdatedAt  time.Time
	FinishedAt time.Time // zero while unfinished
}

// RebuildProgress reads the saved rebuild state of the engine's index and
// counts the messages it walked.
func (x *Index) RebuildProgress(ctx context.Context) (Progress, error) {
	p := Progress{Index: x.engine.Info().Index, Running: x.rebuilding.Load()}
	st, ok, err := x.store.RebuildState(ctx, p.Index)
	if err != nil || !ok {
		return p, err
	}
	p.Started, p.StartedAt, p.UpdatedAt, p.FinishedAt = true, st.StartedAt, st.UpdatedAt, st.FinishedAt
	p.Done, p.Total, err = x.store.IndexProgress(ctx, st.Position)
	if err != nil {
		return p, fmt.Errorf("rebuild progress of %s: %w", p.Index, err)
	}
	if st.Finished() {
		p.Done = p.Total
	}
	return p, nil
}

// RebuildPending reports whether a rebuild of the engine's index was started
// and has not finished; the api then resumes it at start-up.
func (x *Index) RebuildPending(ctx context.Context) (bool, error) {
	st, ok, err := x.store.RebuildState(ctx, x.engine.Info().Index)
	if err != nil {
		return false, err
	}
	return ok && !st.Finished(), nil
}

// rebuild is RebuildIndex; started reports that the run's starting point
// (zero or the resumed position) was recorded, after which a retry resumes.
func (x *Index) rebuild(ctx context.Context, batch int, restart bool, progress func(done, total int64)) (indexed int64, started bool, err error) {
	if batch <= 0 {
		batch = 1000
	}
	if progress == nil {
		progress = func(int64, int64) {}
	}
	index := x.engine.Info().Index
	after, done, total, err := x.startRebuild(ctx, index, restart)
	if err != nil {
		return 0, false, err
	}
	progress(done, total)
	for {
		if err := ctx.Err(); err != nil {
			return indexed, true, fmt.Errorf("rebuild index %s: stopped after message id %d: %w", index, after, err)
		}
		rows, last, err := x.store.IndexPage(ctx, after, batch)
		if err != nil {
			return indexed, true, fmt.Errorf("rebuild index %s: %w", index, err)
		}
		if len(rows) == 0 {
			break
		}
		docs := searchDocs(rows)
		if err := x.engine.Index(ctx, docs); err != nil {
			return indexed, true, fmt.Errorf("rebuild index %s: index messages after id %d: %w", index, after, err)
		}
		indexed += int64(len(docs))
		done += int64(len(docs))
		total = max(total, done) // messages written meanwhile
		after = last
		// The page is in the index: record it even when ctx just ended, so
		// the next run does not send it again.
		saveCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), saveTimeout)
		err = x.store.SaveRebuildPosition(saveCtx, index, after, total)
		cancel()
		if err != nil {
			return indexed, true, fmt.Errorf("rebuild index %s: %w", index, err)
		}
		progress(done, total)
	}
	// An engine that built the index beside the one searches use (a new
	// mapping) moves searches to it now that it holds every message.
	if err := x.engine.SwitchOver(ctx); err != nil {
		return indexed, true, fmt.Errorf("rebuild index %s: switch searches over: %w", index, err)
	}
	if err := x.store.FinishRebuild(ctx, index); err != nil {
		return indexed, true, fmt.Errorf("rebuild index %s: %w", index, err)
	}
	return indexed, true, nil
}

// startRebuild records where a rebuild of index starts and returns that row
// id with the messages already walked and the total.
func (x *Index) startRebuild(ctx context.Context, index string, restart bool) (after, done, total int64, err error) {
	st, ok, err := x.store.RebuildState(ctx, index)
	if err != nil {
		return 0, 0, 0, fmt.Errorf("rebuild index %s: %w", index, err)
	}
	if ok && !restart && !st.Finished() {
		after = st.Position
	}
	done, total, err = x.store.IndexProgress(ctx, after)
	if err != nil {
		return 0, 0, 0, fmt.Errorf("rebuild index %s: %w", index, err)
	}
	if after > 0 {
		err = x.store.SaveRebuildPosition(ctx, index, after, total)
	} else {
		err = x.store.StartRebuild(ctx, index, total)
	}
	if err != nil {
		return 0, 0, 0, fmt.Errorf("rebuild index %s: %w", index, err)
	}
	return after, done, total, nil
}

// RunRebuild rebuilds the index in the background: it logs progress now and
// then, and after a failure (search or MySQL down) it waits, backing off up
// to maxBackoff, and resumes from the saved position. It returns when the
// rebuild finished or ctx ended.
func (x *Index) RunRebuild(ctx context.Context, batch int, restart bool) {
	start := x.now()
	var lastLog time.Time
	progress := func(done, total int64) {
		if now := x.now(); now.Sub(lastLog) >= 10*time.Second {
			lastLog = now
			x.log.InfoContext(ctx, "rebuilding the search index from MySQL", "index", x.engine.Info().Index, "done", done, "total", total)
		}
	}
	wait := time.Second
	var sent int64
	for {
		n, started, err := x.rebuild(ctx, batch, restart, progress)
		sent += n
		if err == nil {
			x.log.InfoContext(ctx, "search index rebuilt from MySQL", "index", x.engine.Info().Index, "messages", sent,
				"duration_ms", x.now().Sub(start).Milliseconds())
			return
		}
		if ctx.Err() != nil {
			x.log.InfoContext(ctx, "search index rebuild paused; it resumes at the next start", "index", x.engine.Info().Index, "messages", sent)
			return
		}
		if started {
			restart = false // from now on, resume from the saved position
		}
		x.log.WarnContext(ctx, "search index rebuild failed; resuming later", "err", err, "retry_in", wait.String())
		if !sleep(ctx, wait) {
			return
		}
		wait = min(wait*2, maxBackoff)
	}
}

// sleep waits d or until ctx ends, and reports whether ctx is still alive.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
