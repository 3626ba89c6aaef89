package client

import (
	"context"
	"net/http"
	"strconv"
)

// Route templates, for errors: paths themselves hold the token.
const (
	routeApps     = "/api/v1/applications"
	routeApp      = routeApps + "/{token}"
	routeChats    = routeApp + "/chats"
	routeChat     = routeChats + "/{chat}"
	routeMessages = routeChat + "/messages"
	routeMessage  = routeMessages + "/{message}"
	routeSearch   = routeMessages + "/search"
)

func num(n int64) string { return strconv.FormatInt(n, 10) }

// CreateApplication creates an application; its Token addresses it from
// then on (App). Names are 1–255 characters.
func (c *Client) CreateApplication(ctx context.Context, name string, opts ...WriteOption) (Application, error) {
	var out Application
	err := c.do(ctx, &call{op: "POST " + routeApps, method: http.MethodPost, path: routeApps, write: true,
		body: map[string]string{"name": name}, out: &out, opts: collect(opts)})
	return out, err
}

// Get reads the application.
func (a *App) Get(ctx context.Context) (Application, error) {
	var out Application
	err := a.c.do(ctx, &call{op: "GET " + routeApp, method: http.MethodGet, path: a.path(), out: &out})
	return out, err
}

// Rename changes the application's name (PUT; PATCH is the same route).
func (a *App) Rename(ctx context.Context, name string, opts ...WriteOption) (Application, error) {
	var out Application
	err := a.c.do(ctx, &call{op: "PUT " + routeApp, method: http.MethodPut, path: a.path(), write: true,
		body: map[string]string{"name": name}, out: &out, opts: collect(opts)})
	return out, err
}

// CreateChat hands out the application's next chat number at once; the
// chat comes back pending and is written in the background.
func (a *App) CreateChat(ctx context.Context, opts ...WriteOption) (Chat, error) {
	var out wireChat
	err := a.c.do(ctx, &call{op: "POST " + routeChats, method: http.MethodPost, path: a.path("chats"), write: true,
		out: &out, opts: collect(opts)})
	return out.chat(), err
}

// Chat reads chat n. A number that was handed out is never ErrNotFound:
// until it is written it is StatusPending.
func (a *App) Chat(ctx context.Context, n int64) (Chat, error) {
	var out wireChat
	err := a.c.do(ctx, &call{op: "GET " + routeChat, method: http.MethodGet, path: a.path("chats", num(n)), out: &out})
	return out.chat(), err
}

// DeleteChat queues the deletion of chat n and its messages.
func (a *App) DeleteChat(ctx context.Context, n int64, opts ...WriteOption) (Deletion, error) {
	var out Deletion
	err := a.c.do(ctx, &call{op: "DELETE " + routeChat, method: http.MethodDelete, path: a.path("chats", num(n)), write: true,
		out: &out, opts: collect(opts)})
	return out, err
}

// PostMessage hands out chat's next message number at once; the message
// comes back pending and is written in the background. A body is at most
// 16384 bytes of UTF-8, not blank.
func (a *App) PostMessage(ctx context.Context, chat int64, body string, opts ...WriteOption) (Message, error) {
	var out wireMessage
	err := a.c.do(ctx, &call{op: "POST " + routeMessages, method: http.MethodPost, path: a.path("chats", num(chat), "messages"), write: true,
		body: map[string]string{"body": body}, out: &out, opts: collect(opts)})
	return out.message(), err
}

// Message reads message n of chat. A number that was handed out is never
// ErrNotFound: until it is written it is StatusPending, without a body.
func (a *App) Message(ctx context.Context, chat, n int64) (Message, error) {
	var out wireMessage
	err := a.c.do(ctx, &call{op: "GET " + routeMessage, method: http.MethodGet, path: a.path("chats", num(chat), "messages", num(n)), out: &out})
	return out.message(), err
}

// UpdateMessage queues a new body for message n of chat (PUT); the newest
// update wins however the updates are applied.
func (a *App) UpdateMessage(ctx context.Context, chat, n int64, body string, opts ...WriteOption) (Message, error) {
	var out wireMessage
	err := a.c.do(ctx, &call{op: "PUT " + routeMessage, method: http.MethodPut, path: a.path("chats", num(chat), "messages", num(n)), write: true,
		body: map[string]string{"body": body}, out: &out, opts: collect(opts)})
	return out.message(), err
}

// DeleteMessage queues the deletion of message n of chat.
func (a *App) DeleteMessage(ctx context.Context, chat, n int64, opts ...WriteOption) (Deletion, error) {
	var out Deletion
	err := a.c.do(ctx, &call{op: "DELETE " + routeMessage, method: http.MethodDelete, path: a.path("chats", num(chat), "messages", num(n)), write: true,
		out: &out, opts: collect(opts)})
	return out, err
}
