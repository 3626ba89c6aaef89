package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"gorm.io/gorm"

	"github.com/instachat/instachat/pkg/chat"
)

// outboxChunk bounds the rows of one outbox INSERT: four small values each,
// so a chunk stays far below max_allowed_packet.
const outboxChunk = 1000

// QueueForIndex records, in the writer's transaction, that the messages of
// keys changed and must reach the search index. The rows commit or roll back
// with the writes, so the api's catch-up finds every committed change even
// when the writer's in-memory reindex call is lost.
func (tx *Tx) QueueForIndex(ctx context.Context, keys []MessageKey) error {
	for start := 0; start < len(keys); start += outboxChunk {
		chunk := keys[start:min(start+outboxChunk, len(keys))]
		var sb strings.Builder
		sb.WriteString("INSERT INTO search_outbox (application_id, chat_number, number, created_at) VALUES ")
		args := make([]any, 0, len(chunk)*3)
		for i, k := range chunk {
			if i > 0 {
				sb.WriteByte(',')
			}
			sb.WriteString("(?,?,?,UTC_TIMESTAMP(6))")
			args = append(args, k.AppID, k.Chat, k.Number)
		}
		if err := tx.db.WithContext(ctx).Exec(sb.String(), args...).Error; err != nil {
			return wrap(fmt.Sprintf("queue %d messages for the index", len(chunk)), err)
		}
	}
	return nil
}

// ProcessOutbox claims up to limit outbox rows, oldest first, and runs fn
// with their message keys (each key once) inside the claiming transaction.
// The rows are deleted when fn returns nil; otherwise the transaction rolls
// back and they stay for the next round. Rows that another transaction holds
// are skipped (FOR UPDATE SKIP LOCKED), so concurrent callers, such as
// several api replicas, never get the same row. It returns the number of rows
// processed; zero means there was nothing to claim and fn did not run.
func (s *Store) ProcessOutbox(ctx context.Context, limit int, fn func(keys []MessageKey) error) (int, error) {
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
ORDER BY id LIMIT ? FOR UPDATE SKIP LOCKED`, limit).Scan(&rows).Error
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
