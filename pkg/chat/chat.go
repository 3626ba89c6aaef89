// Package chat holds InstaChat's domain: applications, chats and messages,
// the errors the rest of the system maps to responses, and input validation.
// It depends on the standard library only.
package chat

import (
	"time"
)

// Application is a client application, identified publicly by its token.
type Application struct {
	Token      string
	Name       string
	ChatsCount int64
	CreatedAt  time.Time
	UpdatedAt  time.Time
}

// Chat is a conversation inside an application, numbered 1, 2, 3… per application.
type Chat struct {
	Number        int64
	MessagesCount int64
	CreatedAt     time.Time
	UpdatedAt     time.Time
}

// Message is one message in a chat, numbered 1, 2, 3… per chat.
type Message struct {
	ChatNumber int64
	Number     int64
	Body       string
	CreatedAt  time.Time
	UpdatedAt  time.Time
}

// Page selects one page of a list. Page numbers start at 1.
type Page struct {
	Page    int
	PerPage int
}

// Offset is the number of items that come before this page.
func (p Page) Offset() int { return (p.Page - 1) * p.PerPage }
