package store

import (
	"context"
	"time"

	"github.com/instachat/instachat/pkg/chat"
)

// ChatSeed returns what an application's Redis chat counter is seeded from:
// its highest persisted chat number and its deleted chats. The application
// is named by its app key (chat.TokenDigest); an unknown one is
// chat.ErrNotFound.
func (s *Store) ChatSeed(ctx context.Context, app string) (int64, []int64, error) {
	id, err := s.appID(ctx, app)
	if err != nil {
		return 0, nil, err
	}
	var max int64
	if err := s.db.WithContext(ctx).Raw("SELECT COALESCE(MAX(number), 0) FROM chats WHERE application_id = ?", id).Scan(&max).Error; err != nil {
		return 0, nil, wrap("read highest chat number", err)
	}
	var deleted []int64
	err = s.db.WithContext(ctx).Raw("SELECT number FROM chats WHERE application_id = ? AND deleted_at IS NOT NULL", id).Scan(&deleted).Error
	return max, deleted, wrap("read deleted chats", err)
}

// MessageSeed returns what a chat's Redis message counter is seeded from: its
// highest persisted message number and its deleted messages (none are listed
// for a deleted chat, whose own tombstone refuses them all). A chat without a
// row yet has neither.
func (s *Store) MessageSeed(ctx context.Context, app string, chatNumber int64) (int64, []int64, error) {
	id, err := s.appID(ctx, app)
	if err != nil {
		return 0, nil, err
	}
	var chats []struct {
		ID        int64
		DeletedAt *time.Time
	}
	if err := s.db.WithContext(ctx).Raw("SELECT id, deleted_at FROM chats WHERE application_id = ? AND number = ?", id, chatNumber).Scan(&chats).Error; err != nil {
		return 0, nil, wrap("read chat for seeding", err)
	}
	if len(chats) == 0 {
		return 0, nil, nil
	}
	var max int64
	if err := s.db.WithContext(ctx).Raw("SELECT COALESCE(MAX(number), 0) FROM messages WHERE chat_id = ?", chats[0].ID).Scan(&max).Error; err != nil {
		return 0, nil, wrap("read highest message number", err)
	}
	if chats[0].DeletedAt != nil {
		return max, nil, nil
	}
	var deleted []int64
	err = s.db.WithContext(ctx).Raw("SELECT number FROM messages WHERE chat_id = ? AND deleted_at IS NOT NULL", chats[0].ID).Scan(&deleted).Error
	return max, deleted, wrap("read deleted messages", err)
}

// appID resolves an app key to the application's id.
func (s *Store) appID(ctx context.Context, app string) (int64, error) {
	var ids []int64
	if err := s.db.WithContext(ctx).Raw("SELECT id FROM applications WHERE token_digest = ?", app).Scan(&ids).Error; err != nil {
		return 0, wrap("read application", err)
	}
	if len(ids) == 0 {
		return 0, chat.NotFound("application")
	}
	return ids[0], nil
}
