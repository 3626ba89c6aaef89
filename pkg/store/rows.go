package store

import (
	"time"

	"github.com/instachat/instachat/pkg/chat"
)

// applicationRow holds no token: MySQL keeps its full SHA-256 (the lookup
// key) and chat.TokenDigest (the name jobs and Redis keys use), so a dump,
// the process list or a statement log never shows a secret.
type applicationRow struct {
	ID          int64
	TokenSHA256 []byte `gorm:"column:token_sha256"`
	TokenDigest string
	Name        string
	ChatsCount  int64
	LockVersion int64
	CreatedAt   time.Time
	UpdatedAt   time.Time
}

func (applicationRow) TableName() string { return "applications" }

// domain returns the application with the token the caller presented: the
// store cannot give back what it does not keep.
func (r applicationRow) domain(token string) chat.Application {
	return chat.Application{Token: token, Name: r.Name, ChatsCount: r.ChatsCount, CreatedAt: r.CreatedAt, UpdatedAt: r.UpdatedAt}
}

type chatRow struct {
	ID            int64
	ApplicationID int64
	Number        int64
	MessagesCount int64
	LockVersion   int64
	CreatedAt     time.Time
	UpdatedAt     time.Time
}

func (r chatRow) domain() chat.Chat {
	return chat.Chat{Number: r.Number, MessagesCount: r.MessagesCount, CreatedAt: r.CreatedAt, UpdatedAt: r.UpdatedAt}
}

type messageRow struct {
	ChatNumber int64
	Number     int64
	Body       string
	CreatedAt  time.Time
	UpdatedAt  time.Time
}

func (r messageRow) domain() chat.Message {
	return chat.Message{ChatNumber: r.ChatNumber, Number: r.Number, Body: r.Body, CreatedAt: r.CreatedAt, UpdatedAt: r.UpdatedAt}
}
