package store

import (
	"context"
	"math"
	"time"

	"github.com/instachat/instachat/pkg/chat"
)

// Keyset pages: a range read on an index from the cursor, one row more than
// the page to learn whether more follow. No COUNT(*) and no OFFSET, so a page
// a million items deep costs what the first one does (explain_test.go checks
// that each statement plans as a range).
//
// FORCE INDEX keeps the plan a range from the cursor. Without it MariaDB
// 10.11 picks, for a cursor its statistics call unselective (after=20 in a
// chat of 300,000), a ref on the parent's prefix that walks the index from
// the prefix's start and filters: cheap when the estimate is right, a read of
// the whole chat when it is not.

// keysetBound is the SQL comparison and order of a cursor page, and the
// bound to compare with: "limit alone" (the newest page) is "below the
// largest number", so it shares the statement of every NewestFirst page.
func keysetBound(l chat.List) (cmp, order string, bound int64) {
	if l.Order == chat.OldestFirst {
		return ">", "ASC", l.Bound
	}
	if l.Bound == 0 {
		return "<", "DESC", math.MaxInt64
	}
	return "<", "DESC", l.Bound
}

// messagesKeysetSQL is the statement of MessagesKeyset for l.
func messagesKeysetSQL(l chat.List) string {
	cmp, order, _ := keysetBound(l)
	return `SELECT c.messages_count, ` + messageColumns + `
FROM messages m FORCE INDEX (idx_messages_chat_number) JOIN chats c ON c.id = m.chat_id
WHERE c.application_id = ? AND c.number = ? AND m.deleted_at IS NULL AND m.number ` + cmp + ` ?
ORDER BY m.number ` + order + ` LIMIT ?`
}

// chatsKeysetSQL is the statement of ChatsKeyset for l.
func chatsKeysetSQL(l chat.List) string {
	cmp, order, _ := keysetBound(l)
	return `SELECT id, application_id, number, messages_count, lock_version, created_at, updated_at
FROM chats FORCE INDEX (idx_chats_application_live)
WHERE application_id = ? AND deleted_at IS NULL AND number ` + cmp + ` ?
ORDER BY number ` + order + ` LIMIT ?`
}

// MessagePage is one cursor page of a chat's messages.
type MessagePage struct {
	Messages []chat.Message // in the page's order
	HasMore  bool           // a row beyond the page exists
	// MessagesCount is the chat's kept count (chats.messages_count, as of the
	// last counter sync); valid only when Messages is not empty.
	MessagesCount int64
}

// keysetMessageRow is a message as a cursor page reads it, with its chat's
// kept count.
type keysetMessageRow struct {
	MessagesCount int64
	ChatNumber    int64
	Number        int64
	Body          string
	CreatedAt     time.Time
	UpdatedAt     time.Time
}

// MessagesKeyset returns one cursor page of a chat's persisted messages.
func (s *Store) MessagesKeyset(ctx context.Context, appID, chatNumber int64, l chat.List) (MessagePage, error) {
	_, _, bound := keysetBound(l)
	var rows []keysetMessageRow
	err := s.db.WithContext(ctx).Raw(messagesKeysetSQL(l), appID, chatNumber, bound, l.Limit+1).Scan(&rows).Error
	if err != nil {
		return MessagePage{}, wrap("list messages", err)
	}
	p := MessagePage{HasMore: len(rows) > l.Limit}
	rows = rows[:min(len(rows), l.Limit)]
	p.Messages = make([]chat.Message, len(rows))
	for i, r := range rows {
		p.Messages[i] = chat.Message{ChatNumber: r.ChatNumber, Number: r.Number, Body: r.Body, CreatedAt: r.CreatedAt, UpdatedAt: r.UpdatedAt}
		p.MessagesCount = r.MessagesCount
	}
	return p, nil
}

// ChatsKeyset returns one cursor page of an application's persisted chats,
// and whether more follow.
func (s *Store) ChatsKeyset(ctx context.Context, appID int64, l chat.List) ([]chat.Chat, bool, error) {
	_, _, bound := keysetBound(l)
	var rows []chatRow
	if err := s.db.WithContext(ctx).Raw(chatsKeysetSQL(l), appID, bound, l.Limit+1).Scan(&rows).Error; err != nil {
		return nil, false, wrap("list chats", err)
	}
	more := len(rows) > l.Limit
	rows = rows[:min(len(rows), l.Limit)]
	out := make([]chat.Chat, len(rows))
	for i, r := range rows {
		out[i] = r.domain()
	}
	return out, more, nil
}

// The written numbers between two items of a page tell a gap that is settled
// (its rows were deleted) from one that is not (its rows are still queued):
// see the api's settled horizon. They read the unique (parent, number) key
// only, deleted rows included, and at most max numbers.

const (
	messageNumbersSQL = `SELECT m.number FROM messages m FORCE INDEX (idx_messages_chat_number) JOIN chats c ON c.id = m.chat_id
WHERE c.application_id = ? AND c.number = ? AND m.number > ? AND m.number < ? ORDER BY m.number LIMIT ?`
	chatNumbersSQL = `SELECT number FROM chats FORCE INDEX (idx_chats_application_number)
WHERE application_id = ? AND number > ? AND number < ? ORDER BY number LIMIT ?`
)

// MessageNumbersBetween returns the numbers of a chat's messages, deleted or
// not, above lo and below hi, in ascending order, at most max of them.
func (s *Store) MessageNumbersBetween(ctx context.Context, appID, chatNumber, lo, hi int64, max int) ([]int64, error) {
	var out []int64
	err := s.db.WithContext(ctx).Raw(messageNumbersSQL, appID, chatNumber, lo, hi, max).Scan(&out).Error
	if err != nil {
		return nil, wrap("read message numbers", err)
	}
	return out, nil
}

// ChatNumbersBetween returns the numbers of an application's chats, deleted
// or not, above lo and below hi, in ascending order, at most max of them.
func (s *Store) ChatNumbersBetween(ctx context.Context, appID, lo, hi int64, max int) ([]int64, error) {
	var out []int64
	err := s.db.WithContext(ctx).Raw(chatNumbersSQL, appID, lo, hi, max).Scan(&out).Error
	if err != nil {
		return nil, wrap("read chat numbers", err)
	}
	return out, nil
}
