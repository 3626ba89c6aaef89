package httpapi

import (
	"time"

	"github.com/instachat/instachat/pkg/chat"
	"github.com/instachat/instachat/services/api/internal/chats"
)

// Status values of chats and messages.
const (
	statusPersisted = "persisted"
	statusPending   = "pending"
)

// ApplicationResponse is an application. The token is its only identifier.
type ApplicationResponse struct {
	Token      string    `json:"token" example:"pF0kq3m4y0u1Wc8RZb7tXr2sQe9LhV6n"`
	Name       string    `json:"name" example:"Support desk"`
	ChatsCount int64     `json:"chats_count" example:"3"`
	CreatedAt  time.Time `json:"created_at"`
	UpdatedAt  time.Time `json:"updated_at"`
} // @name ApplicationResponse

func applicationResponse(a chat.Application) ApplicationResponse {
	return ApplicationResponse{Token: a.Token, Name: a.Name, ChatsCount: a.ChatsCount, CreatedAt: a.CreatedAt, UpdatedAt: a.UpdatedAt}
}

// ChatResponse is a chat. Status "pending" means its number was handed out
// and its row is still queued: counts are 0 and timestamps absent until the
// writer has written it (normally well under a second).
type ChatResponse struct {
	Number        int64      `json:"number" example:"1"`
	MessagesCount int64      `json:"messages_count" example:"0"`
	Status        string     `json:"status" enums:"persisted,pending" example:"persisted"`
	CreatedAt     *time.Time `json:"created_at,omitempty"`
	UpdatedAt     *time.Time `json:"updated_at,omitempty"`
} // @name ChatResponse

func chatResponse(c chat.Chat) ChatResponse {
	return ChatResponse{Number: c.Number, MessagesCount: c.MessagesCount, Status: statusPersisted, CreatedAt: &c.CreatedAt, UpdatedAt: &c.UpdatedAt}
}

func chatViewResponse(v chats.ChatView) ChatResponse {
	if v.Pending {
		return ChatResponse{Number: v.Chat.Number, Status: statusPending}
	}
	return chatResponse(v.Chat)
}

// MessageResponse is a message. Status "pending" means it was accepted and is
// still queued: a GET then has no body or timestamps yet.
type MessageResponse struct {
	ChatNumber int64      `json:"chat_number" example:"1"`
	Number     int64      `json:"number" example:"1"`
	Body       *string    `json:"body,omitempty" example:"Hello, world"`
	Status     string     `json:"status" enums:"persisted,pending" example:"persisted"`
	CreatedAt  *time.Time `json:"created_at,omitempty"`
	UpdatedAt  *time.Time `json:"updated_at,omitempty"`
} // @name MessageResponse

func messageResponse(m chat.Message) MessageResponse {
	return MessageResponse{ChatNumber: m.ChatNumber, Number: m.Number, Body: &m.Body, Status: statusPersisted, CreatedAt: &m.CreatedAt, UpdatedAt: &m.UpdatedAt}
}

// ChatList is one page of chats.
type ChatList struct {
	Chats   []ChatResponse `json:"chats"`
	Page    int            `json:"page" example:"1"`
	PerPage int            `json:"per_page" example:"20"`
	Total   int64          `json:"total" example:"42"`
} // @name ChatList

// MessageList is one page of messages or search results.
type MessageList struct {
	Messages []MessageResponse `json:"messages"`
	Page     int               `json:"page" example:"1"`
	PerPage  int               `json:"per_page" example:"20"`
	Total    int64             `json:"total" example:"42"`
} // @name MessageList

func messageList(msgs []chat.Message, p chat.Page, total int64) MessageList {
	out := MessageList{Messages: make([]MessageResponse, len(msgs)), Page: p.Page, PerPage: p.PerPage, Total: total}
	for i, m := range msgs {
		out.Messages[i] = messageResponse(m)
	}
	return out
}

// Health is the body of /healthz.
type Health struct {
	Status  string `json:"status" example:"ok"`
	Version string `json:"version,omitempty" example:"v1.0.0"`
} // @name Health

// Readiness is the body of /readyz: "ok", "degraded" (a dependency is
// down: reads, creates or searches answer 503) or "unavailable" (MySQL and
// Redis both down).
type Readiness struct {
	Status  string `json:"status" enums:"ok,degraded,unavailable" example:"ok"`
	Version string `json:"version,omitempty" example:"v1.0.0"`
	MySQL   string `json:"mysql" enums:"ok,unavailable" example:"ok"`
	Redis   string `json:"redis" enums:"ok,unavailable" example:"ok"`
	Search  string `json:"search" enums:"ok,unavailable" example:"ok"`
} // @name Readiness
