package store

import (
	"context"
	"database/sql"
	"time"
)

// RebuildState is the saved progress of a rebuild of one search index from
// MySQL. It is keyed by the engine's versioned index name, so a new mapping
// (a new name) starts from zero.
type RebuildState struct {
	Index      string
	Position   int64     // messages.id of the last message indexed
	Total      int64     // messages in MySQL when the rebuild started or resumed
	StartedAt  time.Time // when the rebuild started from zero
	UpdatedAt  time.Time // when Position last moved
	FinishedAt time.Time // zero while the rebuild is unfinished
}

// Finished reports whether the rebuild walked every message.
func (r RebuildState) Finished() bool { return !r.FinishedAt.IsZero() }

// RebuildState returns the saved rebuild of index; ok is false when no
// rebuild of it was ever started.
func (s *Store) RebuildState(ctx context.Context, index string) (state RebuildState, ok bool, err error) {
	var rows []struct {
		IndexName  string
		Position   int64
		Total      int64
		StartedAt  time.Time
		UpdatedAt  time.Time
		FinishedAt sql.NullTime
	}
	err = s.db.WithContext(ctx).Raw(`SELECT index_name, position, total, started_at, updated_at, finished_at
FROM search_rebuild WHERE index_name = ?`, index).Scan(&rows).Error
	if err != nil {
		return RebuildState{}, false, wrap("read rebuild state of "+index, err)
	}
	if len(rows) == 0 {
		return RebuildState{}, false, nil
	}
	r := rows[0]
	return RebuildState{Index: r.IndexName, Position: r.Position, Total: r.Total, StartedAt: r.StartedAt,
		UpdatedAt: r.UpdatedAt, FinishedAt: r.FinishedAt.Time}, true, nil
}

// StartRebuild records a rebuild of index starting from zero with total
// messages to walk, replacing any earlier state of it.
func (s *Store) StartRebuild(ctx context.Context, index string, total int64) error {
	err := s.db.WithContext(ctx).Exec(`INSERT INTO search_rebuild (index_name, position, total, started_at, updated_at, finished_at)
VALUES (?, 0, ?, UTC_TIMESTAMP(6), UTC_TIMESTAMP(6), NULL)
ON DUPLICATE KEY UPDATE position = 0, total = VALUES(total), started_at = VALUES(started_at),
updated_at = VALUES(updated_at), finished_at = NULL`, index, total).Error
	return wrap("start rebuild of "+index, err)
}

// SaveRebuildPosition records that every message up to row id position is
// indexed, and the current total.
func (s *Store) SaveRebuildPosition(ctx context.Context, index string, position, total int64) error {
	err := s.db.WithContext(ctx).Exec(`UPDATE search_rebuild SET position = ?, total = ?, updated_at = UTC_TIMESTAMP(6)
WHERE index_name = ?`, position, total, index).Error
	return wrap("save rebuild position of "+index, err)
}

// FinishRebuild marks the rebuild of index as done.
func (s *Store) FinishRebuild(ctx context.Context, index string) error {
	err := s.db.WithContext(ctx).Exec(`UPDATE search_rebuild SET finished_at = UTC_TIMESTAMP(6), updated_at = UTC_TIMESTAMP(6)
WHERE index_name = ?`, index).Error
	return wrap("finish rebuild of "+index, err)
}

// IndexProgress counts the messages a rebuild positioned at row id after has
// walked (done) and all messages (total), for progress reports.
func (s *Store) IndexProgress(ctx context.Context, after int64) (done, total int64, err error) {
	var row struct {
		Done  int64
		Total int64
	}
	err = s.db.WithContext(ctx).Raw("SELECT COALESCE(SUM(id <= ?), 0) AS done, COUNT(*) AS total FROM messages", after).Scan(&row).Error
	if err != nil {
		return 0, 0, wrap("count messages to index", err)
	}
	return row.Done, row.Total, nil
}
