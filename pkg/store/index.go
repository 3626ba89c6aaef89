package store

import (
	"context"
)

// IndexDoc is a live message as the search index needs it: where it is, its
// current body and its version. The version is the row's lock_version, which
// grows with every body change, so a late reindex of an older body never
// replaces a newer one.
type IndexDoc struct {
	AppID   int64
	Chat    int64 // chat number
	Number  int64
	Body    string
	Version int64
}

// Key returns the document's message key.
func (d IndexDoc) Key() MessageKey { return MessageKey{AppID: d.AppID, Chat: d.Chat, Number: d.Number} }

// IndexPage returns up to limit live messages with row id above after, in id
// order, as documents for the search index, and the last row id read (the resume position
// of a rebuild). Deleted messages are skipped. An empty page means the walk
// is done.
func (s *Store) IndexPage(ctx context.Context, after int64, limit int) ([]IndexDoc, int64, error) {
	for {
		var rows []struct {
			ID            int64
			ApplicationID int64
			ChatNumber    int64
			Number        int64
			Body          string
			LockVersion   int64
			Deleted       bool
		}
		// STRAIGHT_JOIN reads messages first, a page in id order: with
		// stale table statistics (right after a bulk load) MariaDB may
		// otherwise start from chats and sort every message per page.
		err := s.db.WithContext(ctx).Raw(`SELECT m.id, c.application_id, c.number AS chat_number, m.number, m.body, m.lock_version,
m.deleted_at IS NOT NULL AS deleted
FROM messages m STRAIGHT_JOIN chats c ON c.id = m.chat_id WHERE m.id > ? ORDER BY m.id LIMIT ?`, after, limit).Scan(&rows).Error
		if err != nil {
			return nil, after, wrap("read messages to index", err)
		}
		if len(rows) == 0 {
			return nil, after, nil
		}
		docs := make([]IndexDoc, 0, len(rows))
		for _, r := range rows {
			if !r.Deleted {
				docs = append(docs, IndexDoc{AppID: r.ApplicationID, Chat: r.ChatNumber, Number: r.Number, Body: r.Body, Version: r.LockVersion})
			}
			after = r.ID
		}
		if len(docs) > 0 {
			return docs, after, nil
		}
	}
}
