package store

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/instachat/instachat/pkg/chat"
)

// AppRef is an application as the services see it internally: its id and its
// public form. The id never leaves the services.
type AppRef struct {
	ID  int64
	App chat.Application
}

// tokenSHA256 is what MySQL keeps of a token and looks it up by. A token
// holds 192 random bits, so a fast unsalted hash is enough: there is no
// dictionary to try, and one lookup stays one indexed equality.
func tokenSHA256(token string) []byte {
	sum := sha256.Sum256([]byte(token))
	return sum[:]
}

// CreateApplication inserts an application with a fresh token. The token is
// returned here once; MySQL keeps only its digests.
func (s *Store) CreateApplication(ctx context.Context, name string, now time.Time) (AppRef, error) {
	for range 3 {
		token, err := chat.NewToken()
		if err != nil {
			return AppRef{}, err
		}
		row := applicationRow{TokenSHA256: tokenSHA256(token), TokenDigest: chat.TokenDigest(token), Name: name, CreatedAt: now, UpdatedAt: now}
		err = s.db.WithContext(ctx).Create(&row).Error
		var me *mysql.MySQLError
		if errors.As(err, &me) && me.Number == 1062 {
			continue // a token collision: 192 random bits make this theoretical
		}
		if err != nil {
			return AppRef{}, wrap("create application", err)
		}
		return AppRef{ID: row.ID, App: row.domain(token)}, nil
	}
	return AppRef{}, fmt.Errorf("create application: token collisions: %w", chat.ErrConflict)
}

// Application returns the application with token, looked up by the token's
// SHA-256 (the only form of it that reaches MySQL).
func (s *Store) Application(ctx context.Context, token string) (AppRef, error) {
	var row applicationRow
	err := s.db.WithContext(ctx).Where("token_sha256 = ?", tokenSHA256(token)).Take(&row).Error
	if err != nil {
		return AppRef{}, wrap("read application", err)
	}
	return AppRef{ID: row.ID, App: row.domain(token)}, nil
}

// RenameApplication changes an application's name with optimistic locking:
// it re-reads and retries when a concurrent change bumped lock_version.
func (s *Store) RenameApplication(ctx context.Context, token, name string, now time.Time) (AppRef, error) {
	for range maxLockRetries {
		var row applicationRow
		if err := s.db.WithContext(ctx).Where("token_sha256 = ?", tokenSHA256(token)).Take(&row).Error; err != nil {
			return AppRef{}, wrap("read application", err)
		}
		if row.Name == name {
			return AppRef{ID: row.ID, App: row.domain(token)}, nil
		}
		res := s.db.WithContext(ctx).Exec(
			"UPDATE applications SET name = ?, updated_at = ?, lock_version = lock_version + 1 WHERE id = ? AND lock_version = ?",
			name, now, row.ID, row.LockVersion)
		if res.Error != nil {
			return AppRef{}, wrap("rename application", res.Error)
		}
		if res.RowsAffected == 1 {
			row.Name, row.UpdatedAt = name, now
			return AppRef{ID: row.ID, App: row.domain(token)}, nil
		}
	}
	return AppRef{}, fmt.Errorf("rename application: %w", chat.ErrConflict)
}

// maxLockRetries bounds optimistic lock_version retries.
const maxLockRetries = 8

// ApplicationIDs maps token digests (chat.TokenDigest, as jobs carry them) to
// internal ids; unknown digests are absent.
func (s *Store) ApplicationIDs(ctx context.Context, digests []string) (map[string]int64, error) {
	var rows []struct {
		ID          int64
		TokenDigest string
	}
	if err := s.db.WithContext(ctx).Raw("SELECT id, token_digest FROM applications WHERE token_digest IN ?", digests).Scan(&rows).Error; err != nil {
		return nil, wrap("read application ids", err)
	}
	out := make(map[string]int64, len(rows))
	for _, r := range rows {
		out[r.TokenDigest] = r.ID
	}
	return out, nil
}

// MaxChatNumber returns the highest persisted chat number of an application,
// used to seed its Redis counter.
func (s *Store) MaxChatNumber(ctx context.Context, appID int64) (int64, error) {
	var n int64
	err := s.db.WithContext(ctx).Raw("SELECT COALESCE(MAX(number), 0) FROM chats WHERE application_id = ?", appID).Scan(&n).Error
	return n, wrap("read highest chat number", err)
}

// MaxMessageNumber returns the highest persisted message number of a chat
// (0 when the chat has no row yet). Two queries, so each is one index lookup.
func (s *Store) MaxMessageNumber(ctx context.Context, appID, chatNumber int64) (int64, error) {
	var ids []int64
	err := s.db.WithContext(ctx).Raw("SELECT id FROM chats WHERE application_id = ? AND number = ?", appID, chatNumber).Scan(&ids).Error
	if err != nil || len(ids) == 0 {
		return 0, wrap("read highest message number", err)
	}
	var n int64
	err = s.db.WithContext(ctx).Raw("SELECT COALESCE(MAX(number), 0) FROM messages WHERE chat_id = ?", ids[0]).Scan(&n).Error
	return n, wrap("read highest message number", err)
}
