package client

import "time"

// Application is an application. Its token is its only name and its secret.
type Application struct {
	Token      string    `json:"token"`
	Name       string    `json:"name"`
	ChatsCount int64     `json:"chats_count"`
	CreatedAt  time.Time `json:"created_at"`
	UpdatedAt  time.Time `json:"updated_at"`
}

// Status says whether a chat or message has been written yet.
type Status string

const (
	// StatusPersisted: written; counts, bodies and timestamps are real.
	StatusPersisted Status = "persisted"
	// StatusPending: its number is handed out and its write is queued
	// (normally well under a second): a read has no body or timestamps yet.
	StatusPending Status = "pending"
)

// Chat is a chat of an application, numbered 1, 2, 3… per application.
// A pending chat has zero counts and timestamps (a created one has the time
// its create was accepted).
type Chat struct {
	Number        int64     `json:"number"`
	MessagesCount int64     `json:"messages_count"`
	Status        Status    `json:"status"`
	CreatedAt     time.Time `json:"created_at"`
	UpdatedAt     time.Time `json:"updated_at"`
}

// Message is a message of a chat, numbered 1, 2, 3… per chat. A pending
// message read back has no body or timestamps yet.
type Message struct {
	Chat      int64     `json:"chat_number"`
	Number    int64     `json:"number"`
	Body      string    `json:"body"`
	Status    Status    `json:"status"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// Deletion acknowledges a queued delete: once the writer applies it the chat
// or message is gone from reads and search. Numbers are never reused.
type Deletion struct {
	Number int64  `json:"number"`
	Status string `json:"status"` // "deleting"
}

// The wire shapes: the api omits timestamps of pending items and the body
// of a pending message, and sends lists in one of two modes.
type (
	wireChat struct {
		Number        int64      `json:"number"`
		MessagesCount int64      `json:"messages_count"`
		Status        Status     `json:"status"`
		CreatedAt     *time.Time `json:"created_at"`
		UpdatedAt     *time.Time `json:"updated_at"`
	}
	wireMessage struct {
		ChatNumber int64      `json:"chat_number"`
		Number     int64      `json:"number"`
		Body       *string    `json:"body"`
		Status     Status     `json:"status"`
		CreatedAt  *time.Time `json:"created_at"`
		UpdatedAt  *time.Time `json:"updated_at"`
	}
	wireCursor struct {
		Before *int64 `json:"before"`
		After  *int64 `json:"after"`
	}
	wireChatList struct {
		Chats    []wireChat  `json:"chats"`
		Page     int         `json:"page"`
		PerPage  int         `json:"per_page"`
		Total    int64       `json:"total"`
		Limit    int         `json:"limit"`
		HasMore  bool        `json:"has_more"`
		Next     *wireCursor `json:"next"`
		Previous *wireCursor `json:"previous"`
		Size     *int64      `json:"size"`
	}
	wireMessageList struct {
		Messages []wireMessage `json:"messages"`
		Page     int           `json:"page"`
		PerPage  int           `json:"per_page"`
		Total    int64         `json:"total"`
		Limit    int           `json:"limit"`
		HasMore  bool          `json:"has_more"`
		Next     *wireCursor   `json:"next"`
		Previous *wireCursor   `json:"previous"`
		Size     *int64        `json:"size"`
	}
)

func (w wireChat) chat() Chat {
	return Chat{Number: w.Number, MessagesCount: w.MessagesCount, Status: w.Status, CreatedAt: deref(w.CreatedAt), UpdatedAt: deref(w.UpdatedAt)}
}

func (w wireMessage) message() Message {
	m := Message{Chat: w.ChatNumber, Number: w.Number, Status: w.Status, CreatedAt: deref(w.CreatedAt), UpdatedAt: deref(w.UpdatedAt)}
	if w.Body != nil {
		m.Body = *w.Body
	}
	return m
}

func chats(ws []wireChat) []Chat {
	out := make([]Chat, len(ws))
	for i, w := range ws {
		out[i] = w.chat()
	}
	return out
}

func messages(ws []wireMessage) []Message {
	out := make([]Message, len(ws))
	for i, w := range ws {
		out[i] = w.message()
	}
	return out
}

func deref[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}
