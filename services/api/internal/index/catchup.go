package index

import (
	"context"
	"fmt"
	"time"

	"github.com/instachat/instachat/pkg/search"
	"github.com/instachat/instachat/pkg/store"
)

const (
	// catchUpBatch is how many outbox rows one catch-up round claims.
	catchUpBatch = 1000
	// maxBackoff bounds the wait between attempts while search or MySQL is down.
	maxBackoff = 30 * time.Second
)

// CatchUp indexes one batch of the search outbox, the changes the writer
// recorded in its transactions whose live reindex did not remove them within
// olderThan: it claims up to batch rows (rows another api
// replica holds are skipped), reads the current documents from MySQL, indexes
// them and deletes from the index the messages that no longer exist. The rows
// are removed only when the engine took every call; otherwise they stay for
// the next round. It returns the documents sent and the keys deleted; both
// zero means the outbox was empty.
func (x *Index) CatchUp(ctx context.Context, batch int, olderThan time.Duration) (indexed, deleted int, err error) {
	_, err = x.store.ProcessOutbox(ctx, batch, olderThan, func(keys []store.MessageKey) error {
		rows, err := x.store.SearchDocs(ctx, keys)
		if err != nil {
			return err
		}
		docs := searchDocs(rows)
		found := make(map[search.Key]bool, len(docs))
		for _, d := range docs {
			found[d.Key()] = true
		}
		var gone []search.Key
		for _, k := range keys {
			if sk := (search.Key{AppID: k.AppID, Chat: k.Chat, Number: k.Number}); !found[sk] {
				gone = append(gone, sk)
			}
		}
		if len(docs) > 0 {
			if err := x.engine.Index(ctx, docs); err != nil {
				return fmt.Errorf("index %d documents: %w", len(docs), err)
			}
			late, err := x.deletedMeanwhile(ctx, docs)
			if err != nil {
				return err
			}
			gone = append(gone, late...)
		}
		if len(gone) > 0 {
			if err := x.engine.Delete(ctx, gone); err != nil {
				return fmt.Errorf("delete %d documents: %w", len(gone), err)
			}
		}
		indexed, deleted = len(docs), len(gone)
		return nil
	})
	if err != nil {
		return 0, 0, fmt.Errorf("search catch-up: %w", err)
	}
	return indexed, deleted, nil
}

// deletedMeanwhile returns the keys of docs whose message is gone now. A
// message deleted after the catch-up read it may have been removed from the
// index by the writer's live reindex before Index put the old version back;
// the live path then deletes its outbox rows, so nothing would correct it.
// Reading again after Index closes that window: a delete that committed
// before this read is seen here, and one that commits after it reaches the
// index through the live path (or the outbox) after Index did.
func (x *Index) deletedMeanwhile(ctx context.Context, docs []search.Doc) ([]search.Key, error) {
	keys := make([]store.MessageKey, len(docs))
	for i, d := range docs {
		keys[i] = store.MessageKey{AppID: d.AppID, Chat: d.Chat, Number: d.Number}
	}
	rows, err := x.store.SearchDocs(ctx, keys)
	if err != nil {
		return nil, fmt.Errorf("read indexed messages again: %w", err)
	}
	still := make(map[search.Key]bool, len(rows))
	for _, d := range searchDocs(rows) {
		still[d.Key()] = true
	}
	var late []search.Key
	for _, d := range docs {
		if !still[d.Key()] {
			late = append(late, d.Key())
		}
	}
	return late, nil
}

// RunCatchUp drains the search outbox until ctx ends: it runs CatchUp until
// no row older than olderThan is left, then waits interval (one second when
// not positive). olderThan gives the writer's live reindex the time to index
// and remove its rows, so a message is normally indexed once, not twice.
// While search or MySQL is down it logs one warning per outage, not one per
// attempt, backs off up to 30 s, and logs when it recovers.
func (x *Index) RunCatchUp(ctx context.Context, interval, olderThan time.Duration) {
	if interval <= 0 {
		interval = time.Second
	}
	wait := interval
	var downSince time.Time
	var failures int
	for {
		indexed, deleted, err := x.CatchUp(ctx, catchUpBatch, olderThan)
		if ctx.Err() != nil {
			return
		}
		switch {
		case err != nil:
			failures++
			if downSince.IsZero() {
				downSince = x.now()
				wait = interval
				x.log.WarnContext(ctx, "search catch-up failing; changes stay in the outbox and are retried", "err", err)
			} else {
				wait = min(wait*2, maxBackoff)
				x.log.DebugContext(ctx, "search catch-up still failing", "attempts", failures, "err", err)
			}
		default:
			if !downSince.IsZero() {
				x.log.InfoContext(ctx, "search catch-up recovered", "failed_for", x.now().Sub(downSince).Round(time.Millisecond).String(), "attempts", failures)
				downSince, failures = time.Time{}, 0
			}
			wait = interval
			if indexed+deleted > 0 {
				x.log.DebugContext(ctx, "search catch-up", "indexed", indexed, "deleted", deleted)
				continue // more may be waiting
			}
		}
		if !sleep(ctx, wait) {
			return
		}
	}
}
