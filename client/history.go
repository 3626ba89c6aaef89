package client

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// DefaultLimit is the page size of a Cursor whose Limit is 0, as the api's;
// MaxLimit is the largest the api serves.
const (
	DefaultLimit = 50
	MaxLimit     = 100
)

// Cursor says where a page of a list starts and which way it goes. Its zero
// value is the newest page.
type Cursor struct {
	// Forward pages toward newer numbers, oldest first, from the items
	// numbered above Number; otherwise toward older numbers, newest first,
	// from the items numbered below Number.
	Forward bool
	// Number bounds the page, exclusively. 0 starts at the end the page
	// walks away from: the newest item going back, the oldest going forward.
	Number int64
	// Limit is the page size, 1–MaxLimit; 0 means DefaultLimit.
	Limit int
}

// Newest is the newest page, then older ones: the zero Cursor.
func Newest() Cursor { return Cursor{} }

// Oldest is the oldest page, then newer ones: After(0).
func Oldest() Cursor { return Cursor{Forward: true} }

// Before pages back from (and without) number n, newest first.
func Before(n int64) Cursor { return Cursor{Number: n} }

// After pages forward from (and without) number n, oldest first.
func After(n int64) Cursor { return Cursor{Forward: true, Number: n} }

// WithLimit returns c with page size n.
func (c Cursor) WithLimit(n int) Cursor { c.Limit = n; return c }

// query is c as the api reads it: before=/after= and limit=. A backward
// cursor from the newest item sends limit alone.
func (c Cursor) query() url.Values {
	q := url.Values{}
	limit := c.Limit
	if limit == 0 {
		limit = DefaultLimit
	}
	q.Set("limit", strconv.Itoa(limit))
	switch {
	case c.Forward:
		q.Set("after", num(c.Number))
	case c.Number > 0:
		q.Set("before", num(c.Number))
	}
	return q
}

// cursor reads an answer's next or previous cursor, keeping the limit.
func (w *wireCursor) cursor(limit int) *Cursor {
	switch {
	case w == nil:
		return nil
	case w.After != nil:
		return &Cursor{Forward: true, Number: *w.After, Limit: limit}
	case w.Before != nil:
		return &Cursor{Number: *w.Before, Limit: limit}
	}
	return nil
}

// ChatPage is one cursor page of chats.
type ChatPage struct {
	Chats []Chat
	// HasMore says Next leads to more chats.
	HasMore bool
	// Next continues the same way; nil when !HasMore. Previous goes the
	// other way from this page's first chat; nil when the page is empty.
	Next, Previous *Cursor
	// Size is the application's chat count as of the api's last counter
	// sync (it lags creates and deletes); nil when the api sent none. Page
	// with HasMore, not with Size.
	Size *int64
	// Position is where to subscribe from to follow every change after
	// this page was read (the Event-Position header); "" when the api sent
	// none.
	Position Position
}

// MessagePage is one cursor page of a chat's messages.
type MessagePage struct {
	Messages []Message
	// HasMore says Next leads to more messages now. It is false at either
	// end, and at the newest end of a forward walk while a number is still
	// being written: poll again later from After(the last number read).
	HasMore bool
	// Next continues the same way; nil when !HasMore. Previous goes the
	// other way from this page's first message; nil when the page is empty.
	Next, Previous *Cursor
	// Size is the chat's message count as of the api's last counter sync
	// (it lags posts and deletes); nil when the api sent none.
	Size *int64
	// Position is where to subscribe from to follow every change after
	// this page was read (the Event-Position header); "" when the api sent
	// none.
	Position Position
}

// ChatList is one legacy page of chats, with the exact total.
type ChatList struct {
	Chats         []Chat
	Page, PerPage int
	Total         int64
}

// MessageList is one legacy page of messages or of search results, with
// the exact total.
type MessageList struct {
	Messages      []Message
	Page, PerPage int
	Total         int64
}

// errNotCursorPage is an api that answered a cursor request with a legacy
// page: one from before cursors, which would end every walk after a page.
var errNotCursorPage = errors.New("the api answered with a page/per_page list: it does not page by cursor")

// Chats reads one page of the application's persisted chats.
func (a *App) Chats(ctx context.Context, from Cursor) (ChatPage, error) {
	var w wireChatList
	var h http.Header
	op := "GET " + routeChats
	if err := a.c.do(ctx, &call{op: op, method: http.MethodGet, path: a.path("chats"), query: from.query(), out: &w, header: &h}); err != nil {
		return ChatPage{}, err
	}
	if w.Limit == 0 && w.Page != 0 {
		return ChatPage{}, fmt.Errorf("instachat: %s: %w", op, errNotCursorPage)
	}
	return ChatPage{Chats: chats(w.Chats), HasMore: w.HasMore, Next: w.Next.cursor(w.Limit),
		Previous: w.Previous.cursor(w.Limit), Size: w.Size, Position: Position(h.Get("Event-Position"))}, nil
}

// ChatsByPage reads a legacy page of chats in ascending number order
// (page from 1, perPage 1–100; 0 takes the api's default). The api serves
// such pages only down to item 10000.
func (a *App) ChatsByPage(ctx context.Context, page, perPage int) (ChatList, error) {
	var w wireChatList
	err := a.c.do(ctx, &call{op: "GET " + routeChats, method: http.MethodGet, path: a.path("chats"), query: pageQuery(page, perPage), out: &w})
	return ChatList{Chats: chats(w.Chats), Page: w.Page, PerPage: w.PerPage, Total: w.Total}, err
}

// AllChats yields the application's chats from the cursor on, following
// each page's Next. See History for how errors end it.
func (a *App) AllChats(ctx context.Context, from Cursor) iter.Seq2[Chat, error] {
	return walk(ctx, a.c.retry.withDefaults(), from, func(ctx context.Context, c Cursor) ([]Chat, *Cursor, error) {
		p, err := a.Chats(ctx, c)
		return p.Chats, p.Next, err
	})
}

// Messages reads one page of chat's persisted messages.
func (a *App) Messages(ctx context.Context, chat int64, from Cursor) (MessagePage, error) {
	var w wireMessageList
	var h http.Header
	op := "GET " + routeMessages
	if err := a.c.do(ctx, &call{op: op, method: http.MethodGet, path: a.path("chats", num(chat), "messages"), query: from.query(), out: &w, header: &h}); err != nil {
		return MessagePage{}, err
	}
	if w.Limit == 0 && w.Page != 0 {
		return MessagePage{}, fmt.Errorf("instachat: %s: %w", op, errNotCursorPage)
	}
	return MessagePage{Messages: messages(w.Messages), HasMore: w.HasMore, Next: w.Next.cursor(w.Limit),
		Previous: w.Previous.cursor(w.Limit), Size: w.Size, Position: Position(h.Get("Event-Position"))}, nil
}

// MessagesByPage reads a legacy page of chat's messages in ascending number
// order, with the exact total; only down to item 10000.
func (a *App) MessagesByPage(ctx context.Context, chat int64, page, perPage int) (MessageList, error) {
	var w wireMessageList
	err := a.c.do(ctx, &call{op: "GET " + routeMessages, method: http.MethodGet, path: a.path("chats", num(chat), "messages"), query: pageQuery(page, perPage), out: &w})
	return MessageList{Messages: messages(w.Messages), Page: w.Page, PerPage: w.PerPage, Total: w.Total}, err
}

// History yields chat's messages from the cursor on, following each page's
// Next until a page says there is no more. An error is yielded once, with a
// zero Message, and ends the sequence; breaking out of the loop stops the
// fetching. A forward walk ends at the live edge (the api stops before a
// number still being written, so nothing is skipped): to follow a chat,
// walk again later from After(the last number read).
//
//	for m, err := range app.History(ctx, chat, client.Oldest()) {
//		if err != nil {
//			return err
//		}
//		fmt.Println(m.Number, m.Body)
//	}
func (a *App) History(ctx context.Context, chat int64, from Cursor) iter.Seq2[Message, error] {
	return walk(ctx, a.c.retry.withDefaults(), from, func(ctx context.Context, c Cursor) ([]Message, *Cursor, error) {
		p, err := a.Messages(ctx, chat, c)
		return p.Messages, p.Next, err
	})
}

// Search finds chat's messages with words beginning with each word of q,
// best match first (page from 1, perPage 1–100; 0 takes the api's default).
// The api pages only down to result 10000.
func (a *App) Search(ctx context.Context, chat int64, q string, page, perPage int) (MessageList, error) {
	query := pageQuery(page, perPage)
	query.Set("q", q)
	var w wireMessageList
	err := a.c.do(ctx, &call{op: "GET " + routeSearch, method: http.MethodGet, path: a.path("chats", num(chat), "messages", "search"), query: query, out: &w})
	return MessageList{Messages: messages(w.Messages), Page: w.Page, PerPage: w.PerPage, Total: w.Total}, err
}

// MaxSearchResults is how deep the api pages search results.
const MaxSearchResults = 10000

// SearchAll yields every result of Search, best first, page after page; it
// stops at result MaxSearchResults, the deepest the api serves.
func (a *App) SearchAll(ctx context.Context, chat int64, q string) iter.Seq2[Message, error] {
	return func(yield func(Message, error) bool) {
		const per = MaxLimit
		for page := 1; (page-1)*per < MaxSearchResults; page++ {
			l, err := a.Search(ctx, chat, q, page, per)
			if err != nil {
				yield(Message{}, err)
				return
			}
			for _, m := range l.Messages {
				if !yield(m, nil) {
					return
				}
			}
			if len(l.Messages) < per || int64(page*per) >= l.Total {
				return
			}
		}
	}
}

func pageQuery(page, perPage int) url.Values {
	q := url.Values{}
	if page > 0 {
		q.Set("page", strconv.Itoa(page))
	}
	if perPage > 0 {
		q.Set("per_page", strconv.Itoa(perPage))
	}
	return q
}

// walk follows cursors from from: fetch returns a page's items and its next
// cursor (nil at the end). A page that makes no progress (empty, with the
// same cursor next) is asked for again after a backoff rather than at once:
// the api ends a walk at its live edge with has_more false, but a server
// that answered so instead must not be hammered.
func walk[T any](ctx context.Context, p RetryPolicy, from Cursor, fetch func(context.Context, Cursor) ([]T, *Cursor, error)) iter.Seq2[T, error] {
	return func(yield func(T, error) bool) {
		var zero T
		cur, stalled := from, 0
		for {
			items, next, err := fetch(ctx, cur)
			if err != nil {
				yield(zero, err)
				return
			}
			for _, it := range items {
				if !yield(it, nil) {
					return
				}
			}
			if next == nil {
				return
			}
			if len(items) == 0 && *next == cur {
				stalled++
				if err := sleep(ctx, p.backoff(stalled, time.Duration(0))); err != nil {
					yield(zero, fmt.Errorf("instachat: waiting for the newest page: %w", err))
					return
				}
			} else {
				stalled = 0
			}
			cur = *next
		}
	}
}
