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

// ChatList is one page of chats. In page mode (page, per_page) it carries
// page, per_page and the exact total; in cursor mode (before, after, limit)
// it carries limit, has_more, the next and previous cursors and size instead.
type ChatList struct {
	Chats []ChatResponse `json:"chats"`
	listMeta
} // @name ChatList

// MessageList is one page of messages or search results (search pages by
// page number only), in page mode or cursor mode as ChatList.
type MessageList struct {
	Messages []MessageResponse `json:"messages"`
	listMeta
} // @name MessageList

// listMeta is what a list says about its page: each mode shows only its own
// fields.
type listMeta struct {
	// Page is the page number (page mode only, as are per_page and total).
	Page *int `json:"page,omitempty" example:"1"`
	// PerPage is the page size in page mode.
	PerPage *int `json:"per_page,omitempty" example:"20"`
	// Total is the exact number of items in page mode.
	Total *int64 `json:"total,omitempty" example:"42"`
	// Limit is the page size in cursor mode (cursor mode only, as are
	// has_more, next, previous and size).
	Limit *int `json:"limit,omitempty" example:"50"`
	// HasMore says whether the next page (in this page's order) has items
	// to read now. It is false at either end, and at the live edge of an
	// after= walk while a number is still being written (poll again from
	// the last item).
	HasMore *bool `json:"has_more,omitempty" example:"true"`
	// Next continues in this page's order; present only when has_more.
	Next *Cursor `json:"next,omitempty"`
	// Previous turns back from this page's first item; absent on an empty page.
	Previous *Cursor `json:"previous,omitempty"`
	// Size is the count the system keeps (chats_count or messages_count),
	// as of the last counter sync (hourly by default): it lags creates and
	// deletes. Page with has_more, not with size.
	Size *int64 `json:"size,omitempty" example:"4200"`
}

// Cursor names the page next to a cursor page: pass its field as the query
// parameter of the same name, with the same limit.
type Cursor struct {
	// Before: items numbered below it, newest first.
	Before *int64 `json:"before,omitempty" example:"4151"`
	// After: items numbered above it, oldest first.
	After *int64 `json:"after,omitempty" example:"4200"`
} // @name Cursor

func pageMeta(p chat.Page, total int64) listMeta {
	return listMeta{Page: &p.Page, PerPage: &p.PerPage, Total: &total}
}

func cursorMeta(l chat.List, cur chat.Cursors, size int64) listMeta {
	return listMeta{Limit: &l.Limit, HasMore: &cur.HasMore, Next: cursorOf(cur.Next), Previous: cursorOf(cur.Previous), Size: &size}
}

func cursorOf(l *chat.List) *Cursor {
	if l == nil {
		return nil
	}
	n := l.Bound
	if l.Order == chat.OldestFirst {
		return &Cursor{After: &n}
	}
	return &Cursor{Before: &n}
}

func messageResponses(msgs []chat.Message) []MessageResponse {
	out := make([]MessageResponse, len(msgs))
	for i, m := range msgs {
		out[i] = messageResponse(m)
	}
	return out
}

func chatResponses(list []chat.Chat) []ChatResponse {
	out := make([]ChatResponse, len(list))
	for i, ch := range list {
		out[i] = chatResponse(ch)
	}
	return out
}

// messageList is a page-mode list of messages (a list or search results).
func messageList(msgs []chat.Message, p chat.Page, total int64) MessageList {
	return MessageList{Messages: messageResponses(msgs), listMeta: pageMeta(p, total)}
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
