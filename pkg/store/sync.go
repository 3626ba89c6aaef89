package store

import (
	"context"
	"fmt"

	"github.com/instachat/instachat/pkg/chat"
)

// SyncReport says what a count sync did.
type SyncReport struct {
	ChatsChecked        int64 // chat rows whose messages_count was compared
	ChatsCorrected      int64 // chat rows whose messages_count changed
	ApplicationsChecked int64
	AppsCorrected       int64
	Drift               int64 // sum of |old - new| over corrected rows
	Conflicts           int64 // lock_version retries taken
}

const syncPage = 1000

// SyncCounts sets every chat's messages_count and every application's
// chats_count to the number of rows that exist, walking the tables in
// primary-key pages. Each correction is an optimistic update guarded by
// lock_version; a conflict re-reads the row and tries again.
func (s *Store) SyncCounts(ctx context.Context) (SyncReport, error) {
	var rep SyncReport
	if err := s.syncTable(ctx, &rep, countSpec{
		table: "chats", column: "messages_count",
		count: "SELECT COUNT(*) FROM messages m WHERE m.chat_id = t.id AND m.deleted_at IS NULL",
	}, &rep.ChatsChecked, &rep.ChatsCorrected); err != nil {
		return rep, err
	}
	if err := s.syncTable(ctx, &rep, countSpec{
		table: "applications", column: "chats_count",
		count: "SELECT COUNT(*) FROM chats c WHERE c.application_id = t.id AND c.deleted_at IS NULL",
	}, &rep.ApplicationsChecked, &rep.AppsCorrected); err != nil {
		return rep, err
	}
	return rep, nil
}

type countSpec struct {
	table  string // table whose counter column is synced
	column string // the counter column
	count  string // correlated subquery counting the truth for row t
}

type countRow struct {
	ID          int64
	LockVersion int64
	Stored      int64
	Actual      int64
}

func (s *Store) syncTable(ctx context.Context, rep *SyncReport, spec countSpec, checked, corrected *int64) error {
	page := fmt.Sprintf("SELECT t.id, t.lock_version, t.%s AS stored, (%s) AS actual FROM %s t WHERE t.id > ? ORDER BY t.id LIMIT ?",
		spec.column, spec.count, spec.table)
	one := fmt.Sprintf("SELECT t.id, t.lock_version, t.%s AS stored, (%s) AS actual FROM %s t WHERE t.id = ?",
		spec.column, spec.count, spec.table)
	update := fmt.Sprintf("UPDATE %s SET %s = ?, lock_version = lock_version + 1 WHERE id = ? AND lock_version = ?",
		spec.table, spec.column)
	var after int64
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		var rows []countRow
		if err := s.db.WithContext(ctx).Raw(page, after, syncPage).Scan(&rows).Error; err != nil {
			return wrap("sync "+spec.table, err)
		}
		for _, r := range rows {
			*checked++
			for attempt := 0; r.Stored != r.Actual; attempt++ {
				if attempt == maxLockRetries {
					return fmt.Errorf("sync %s row %d: %w", spec.table, r.ID, chat.ErrConflict)
				}
				res := s.db.WithContext(ctx).Exec(update, r.Actual, r.ID, r.LockVersion)
				if res.Error != nil {
					return wrap("sync "+spec.table, res.Error)
				}
				if res.RowsAffected == 1 {
					*corrected++
					rep.Drift += abs(r.Actual - r.Stored)
					break
				}
				rep.Conflicts++
				var again []countRow
				if err := s.db.WithContext(ctx).Raw(one, r.ID).Scan(&again).Error; err != nil {
					return wrap("sync "+spec.table, err)
				}
				if len(again) == 0 {
					break
				}
				r = again[0]
			}
		}
		if len(rows) < syncPage {
			return nil
		}
		after = rows[len(rows)-1].ID
	}
}

func abs(n int64) int64 {
	if n < 0 {
		return -n
	}
	return n
}
