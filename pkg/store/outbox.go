package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"time"

	"gorm.io/gorm"

	"github.com/instachat/instachat/pkg/chat"
)

// outboxChunk bounds the rows of one outbox INSERT: five small values each,
// so a chunk stays far below max_allowed_packet.
const outboxChunk = 1000

// OutboxBatch names the outbox rows one writer transaction added, so the
// writer can remove them in one statement once the api has indexed them.
// Zero names no batch: such rows wait for the api's catch-up.
type OutboxBatch uint64

// NewOutboxBatch returns a random non-zero batch name.
func NewOutboxBatch() OutboxBatch {
	for {
		if b := OutboxBatch(rand.Uint64() >> 1); b != 0 { // BIGINT UNSIGNED, kept below 2^63 for drivers that read int64
			return b
		}
	}
}

// QueueForIndex records, in the writer's transaction, that the messages of
// keys changed and must reach the search index. The rows commit or roll back
// with the writes, so the api's catch-up finds every committed change even
// when the writer's in-memory reindex call is lost. The rows belong to no
// batch: only the catch-up removes them.
func (tx *Tx) QueueForIndex(ctx context.Context, keys []MessageKey) error {
	return tx.QueueForIndexAs(ctx, 0, keys)
}

// QueueForIndexAs is QueueForIndex with the rows named batch, for a writer
// that reindexes them itself and then calls ForgetIndexed.
func (tx *Tx) QueueForIndexAs(ctx context.Context, batch OutboxBatch, keys []MessageKey) error {
	for start := 0; start < len(keys); start += outboxChunk {
		chunk := keys[start:min(start+outboxChunk, len(keys))]
		var sb strings.Builder
		sb.WriteString("INSERT INTO search_outbox (application_id, chat_number, number, batch_id, created_at) VALUES ")
		args := make([]any, 0, len(chunk)*4)
		for i, k := range chunk {
			if i > 0 {
				sb.WriteByte(',')
			}
			sb.WriteString("(?,?,?,?,UTC_TIMESTAMP(6))")
			args = append(args, k.AppID, k.Chat, k.Number, uint64(batch))
		}
		if err := tx.db.WithContext(ctx).Exec(sb.String(), args...).Error; err != nil {
			return wrap(fmt.Sprintf("queue %d messages for the index", len(chunk)), err)
		}
	}
	return nil
}

// ForgetIndexed removes the outbox rows of batches whose messages the api
// has indexed: the live path worked, so the catch-up has nothing to do for
// them. Rows the catch-up holds at that moment are its to finish.
func (s *Store) ForgetIndexed(ctx context.Context, batches []OutboxBatch) error {
	ids := make([]uint64, 0, len(batches))
	for _, b := range batches {
		if b != 0 {
			ids = append(ids, uint64(b))
		}
	}
	if len(ids) == 0 {
		return nil
	}
	err := s.db.WithContext(ctx).Exec("DELETE FROM search_outbox WHERE batch_id IN ?", ids).Error
	if err != nil {
		return wrap("forget indexed outbox rows", err)
	}
	return nil
}

// ProcessOutbox claims up to limit outbox rows at least olderThan old, oldest
// first, and runs fn with their message keys (each key once) inside the
// claiming transaction. Younger rows are left to the writer that added them,
// which normally reindexes them and forgets them within milliseconds; the
// catch-up is for the changes whose live reindex was lost.
// The rows are deleted when fn returns nil; otherwise the transaction rolls
// back and they stay for the next round. Rows that another transaction holds
// are skipped (FOR UPDATE SKIP LOCKED), so concurrent callers, such as
// several api replicas, never get the same row. It returns the number of rows
// processed; zero means there was nothing to claim and fn did not run.
func (s *Store) ProcessOutbox(ctx context.Context, limit int, olderThan time.Duration, fn func(keys []MessageKey) error) (int, error) {
	if limit <= 0 {
		return 0, fmt.Errorf("process outbox: limit must be positive, got %d", limit)
	}
	claimed := 0
	err := s.db.WithContext(ctx).Transaction(func(db *gorm.DB) error {
		var rows []struct {
			ID            int64
			ApplicationID int64
			ChatNumber    int64
			Number        int64
		}
		err := db.Raw(`SELECT id, application_id, chat_number, number FROM search_outbox
WHERE created_at <= UTC_TIMESTAMP(6) - INTERVAL ? MICROSECOND ORDER BY created_at, id LIMIT ? FOR UPDATE SKIP LOCKED`,
			max(olderThan, 0).Microseconds(), limit).Scan(&rows).Error
		if err != nil {
			return wrap("claim outbox rows", err)
		}
		if len(rows) == 0 {
			return nil
		}
		ids := make([]int64, len(rows))
		seen := make(map[MessageKey]bool, len(rows))
		keys := make([]MessageKey, 0, len(rows))
		for i, r := range rows {
			ids[i] = r.ID
			k := MessageKey{AppID: r.ApplicationID, Chat: r.ChatNumber, Number: r.Number}
			if !seen[k] {
				seen[k] = true
				keys = append(keys, k)
			}
		}
		if err := fn(keys); err != nil {
			return err
		}
		// One row per statement: an equality on the primary key locks that row
		// only. "id IN (…)" may be planned as a table scan (the outbox is
		// small), and a range scan locks the row past its end; either waits
		// for, or deadlocks with, the rows another caller claimed.
		for _, id := range ids {
			if err := db.Exec("DELETE FROM search_outbox WHERE id = ?", id).Error; err != nil {
				return wrap("delete processed outbox rows", err)
			}
		}
		claimed = len(rows)
		return nil
	}, &sql.TxOptions{Isolation: sql.LevelReadCommitted})
	if errors.Is(err, chat.ErrUnavailable) {
		return 0, fmt.Errorf("process outbox: %w", err)
	}
	if err != nil {
		return 0, wrap("process outbox", err)
	}
	return claimed, nil
}

// OutboxBacklog returns how many changes wait for the index catch-up.
func (s *Store) OutboxBacklog(ctx context.Context) (int64, error) {
	var n int64
	if err := s.db.WithContext(ctx).Raw("SELECT COUNT(*) FROM search_outbox").Scan(&n).Error; err != nil {
		return 0, wrap("count outbox rows", err)
	}
	return n, nil
}
