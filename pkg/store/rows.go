package store

import (
	"time"

	"github.com/instachat/instachat/pkg/chat"
)

type applicationRow struct {
	ID          int64
	Token       string
	TokenDigest string
	Name        string
	ChatsCount  int64
	LockVersion int64
	CreatedAt   time.Time
	UpdatedAt   time.Time
}

func (applicationRow) TableName() string { return "applications" }

func (r applicationRow) domain() chat.Application {
	return chat.Application{Token: r.Token, Name: r.Name, ChatsCount: r.ChatsCount, CreatedAt: r.CreatedAt, UpdatedAt: r.UpdatedAt}
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
