package store

import (
	"context"

	"github.com/instachat/instachat/pkg/chat"
)

// Chats returns one page of an application's chats in number order, and the total.
func (s *Store) Chats(ctx context.Context, appID int64, p chat.Page) ([]chat.Chat, int64, error) {
	var total int64
	if err := s.db.WithContext(ctx).Raw("SELECT COUNT(*) FROM chats WHERE application_id = ? AND deleted_at IS NULL", appID).Scan(&total).Error; err != nil {
		return nil, 0, wrap("count chats", err)
	}
	var rows []chatRow
	err := s.db.WithContext(ctx).Raw(`SELECT id, application_id, number, messages_count, lock_version, created_at, updated_at
FROM chats WHERE application_id = ? AND deleted_at IS NULL ORDER BY number LIMIT ? OFFSET ?`, appID, p.PerPage, p.Offset()).Scan(&rows).Error
	if err != nil {
		return nil, 0, wrap("list chats", err)
	}
	out := make([]chat.Chat, len(rows))
	for i, r := range rows {
		out[i] = r.domain()
	}
	return out, total, nil
}

// Chat returns one chat.
func (s *Store) Chat(ctx context.Context, appID, number int64) (chat.Chat, error) {
	var rows []chatRow
	err := s.db.WithContext(ctx).Raw(`SELECT id, application_id, number, messages_count, lock_version, created_at, updated_at
FROM chats WHERE application_id = ? AND number = ? AND deleted_at IS NULL`, appID, number).Scan(&rows).Error
	if err != nil {
		return chat.Chat{}, wrap("read chat", err)
	}
	if len(rows) == 0 {
		return chat.Chat{}, chat.ErrNotFound
	}
	return rows[0].domain(), nil
}

const messageColumns = "c.number AS chat_number, m.number, m.body, m.created_at, m.updated_at"

// Messages returns one page of a chat's messages in number order, and the total.
func (s *Store) Messages(ctx context.Context, appID, chatNumber int64, p chat.Page) ([]chat.Message, int64, error) {
	var total int64
	err := s.db.WithContext(ctx).Raw(`SELECT COUNT(*) FROM messages m JOIN chats c ON c.id = m.chat_id
WHERE c.application_id = ? AND c.number = ? AND m.deleted_at IS NULL`, appID, chatNumber).Scan(&total).Error
	if err != nil {
		return nil, 0, wrap("count messages", err)
	}
	var rows []messageRow
	err = s.db.WithContext(ctx).Raw(`SELECT `+messageColumns+` FROM messages m JOIN chats c ON c.id = m.chat_id
WHERE c.application_id = ? AND c.number = ? AND m.deleted_at IS NULL ORDER BY m.number LIMIT ? OFFSET ?`, appID, chatNumber, p.PerPage, p.Offset()).Scan(&rows).Error
	if err != nil {
		return nil, 0, wrap("list messages", err)
	}
	return messages(rows), total, nil
}

// Message returns one message.
func (s *Store) Message(ctx context.Context, appID, chatNumber, number int64) (chat.Message, error) {
	got, err := s.MessagesByNumber(ctx, appID, chatNumber, []int64{number})
	if err != nil {
		return chat.Message{}, err
	}
	if len(got) == 0 {
		return chat.Message{}, chat.ErrNotFound
	}
	return got[0], nil
}

// MessagesByNumber returns the persisted messages among numbers, in the order
// of numbers (search results keep their ranking).
func (s *Store) MessagesByNumber(ctx context.Context, appID, chatNumber int64, numbers []int64) ([]chat.Message, error) {
	if len(numbers) == 0 {
		return nil, nil
	}
	var rows []messageRow
	err := s.db.WithContext(ctx).Raw(`SELECT `+messageColumns+` FROM messages m JOIN chats c ON c.id = m.chat_id
WHERE c.application_id = ? AND c.number = ? AND m.number IN ? AND m.deleted_at IS NULL`, appID, chatNumber, numbers).Scan(&rows).Error
	if err != nil {
		return nil, wrap("read messages", err)
	}
	byNumber := make(map[int64]messageRow, len(rows))
	for _, r := range rows {
		byNumber[r.Number] = r
	}
	out := make([]chat.Message, 0, len(rows))
	for _, n := range numbers {
		if r, ok := byNumber[n]; ok {
			out = append(out, r.domain())
		}
	}
	return out, nil
}

func messages(rows []messageRow) []chat.Message {
	out := make([]chat.Message, len(rows))
	for i, r := range rows {
		out[i] = r.domain()
	}
	return out
}
