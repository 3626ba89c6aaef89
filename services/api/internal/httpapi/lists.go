package httpapi

import (
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/instachat/instachat/pkg/chat"
)

// listChats godoc
//
//	@Summary		List chats
//	@Description	Persisted chats, in one of two modes. Cursor mode (any of before, after, limit): before=N lists chats numbered below N, newest first; after=N those above N, oldest first (after=0 from the first chat); limit alone the newest. Each answer carries has_more and the next and previous cursors (also as a Link header), and size, the kept chats_count as of the last counter sync (hourly by default). A page costs the same at any depth. Page mode (page, per_page, or no parameter at all: page 1) lists in ascending number order with an exact total, up to item 10000 ((page-1) × per_page ≤ 10000); deeper pages answer 400: use the cursors. The modes cannot be mixed.
//	@Tags			chats
//	@Produce		json
//	@Param			token		path		string	true	"application token"
//	@Param			before		query		int		false	"cursor mode: chats numbered below this, newest first"	minimum(1)
//	@Param			after		query		int		false	"cursor mode: chats numbered above this, oldest first (0: from the first)"	minimum(0)
//	@Param			limit		query		int		false	"cursor mode: items per page"	default(50)	minimum(1)	maximum(100)
//	@Param			page		query		int		false	"page mode: page, from 1"	default(1)	minimum(1)	maximum(100000)
//	@Param			per_page	query		int		false	"page mode: items per page"	default(20)	minimum(1)	maximum(100)
//	@Success		200			{object}	ChatList
//	@Header			200			{string}	Link	"cursor mode: the next and previous pages as links (RFC 8288), rel next and rel prev"
//	@Header			200			{string}	Event-Position	"the live-event position to follow this list from (?after= on the events routes): every event after it is not reflected here yet, or re-applies harmlessly; absent while the application's partition has no event yet"
//	@Failure		400			{object}	ErrorResponse	"bad pagination: a mode's parameters out of range, modes mixed, before with after, or a page beyond item 10000"
//	@Failure		404			{object}	ErrorResponse	"unknown token"
//	@Router			/api/v1/applications/{token}/chats [get]
func (h *handlers) listChats(c *gin.Context) {
	q, ok := listParams(c)
	if !ok {
		return
	}
	ctx, token := c.Request.Context(), c.Param("token")
	pos := h.eventPosition(token)
	if q.cursor {
		page, err := h.svc.ChatHistory(ctx, token, q.list, h.cfg.HistorySettle)
		if err != nil {
			h.respondErr(c, err)
			return
		}
		linkCursors(c, q.list, page.Cursors)
		pos.set(c)
		c.JSON(http.StatusOK, ChatList{Chats: chatResponses(page.Chats), listMeta: cursorMeta(q.list, page.Cursors, page.Size)})
		return
	}
	list, total, err := h.svc.Chats(ctx, token, q.page)
	if err != nil {
		h.respondErr(c, err)
		return
	}
	pos.set(c)
	c.JSON(http.StatusOK, ChatList{Chats: chatResponses(list), listMeta: pageMeta(q.page, total)})
}

// listMessages godoc
//
//	@Summary		List or search messages
//	@Description	Persisted messages, in cursor mode or page mode as chats are listed (see List chats): before=N pages toward older messages (newest first), after=N toward newer ones (oldest first; after=0 from the first), limit alone gives the newest; size is the kept messages_count as of the last counter sync. At the live edge an after= page stops before a number that is still being written (has_more is false until it lands, or for at most HISTORY_SETTLE), so a client polling with after= never skips a message. With keyword= (as the original InstaChat clients send it) this is a search, like /search?q=, paged by page number only.
//	@Tags			messages
//	@Produce		json
//	@Param			token		path		string	true	"application token"
//	@Param			number		path		int		true	"chat number"
//	@Param			keyword		query		string	false	"search words instead of listing"
//	@Param			before		query		int		false	"cursor mode: messages numbered below this, newest first"	minimum(1)
//	@Param			after		query		int		false	"cursor mode: messages numbered above this, oldest first (0: from the first)"	minimum(0)
//	@Param			limit		query		int		false	"cursor mode: items per page"	default(50)	minimum(1)	maximum(100)
//	@Param			page		query		int		false	"page mode: page, from 1"	default(1)	minimum(1)	maximum(100000)
//	@Param			per_page	query		int		false	"page mode: items per page"	default(20)	minimum(1)	maximum(100)
//	@Success		200			{object}	MessageList
//	@Header			200			{string}	Link	"cursor mode: the next and previous pages as links (RFC 8288), rel next and rel prev"
//	@Header			200			{string}	Event-Position	"lists (not keyword= searches): the live-event position to follow this list from (?after= on the events routes): every event after it is not reflected here yet, or re-applies harmlessly; absent while the application's partition has no event yet"
//	@Failure		400			{object}	ErrorResponse	"bad pagination or number: a mode's parameters out of range, modes mixed, before with after, or a page beyond item 10000 (with keyword=, beyond result 10000)"
//	@Failure		404			{object}	ErrorResponse	"unknown token or chat"
//	@Router			/api/v1/applications/{token}/chats/{number}/messages [get]
func (h *handlers) listMessages(c *gin.Context) {
	if kw, ok := c.GetQuery("keyword"); ok {
		h.search(c, kw)
		return
	}
	chatN, ok := pathNumber(c, "number", "chat")
	if !ok {
		return
	}
	q, ok := listParams(c)
	if !ok {
		return
	}
	ctx, token := c.Request.Context(), c.Param("token")
	pos := h.eventPosition(token)
	if q.cursor {
		page, err := h.svc.MessageHistory(ctx, token, chatN, q.list, h.cfg.HistorySettle)
		if err != nil {
			h.respondErr(c, err)
			return
		}
		linkCursors(c, q.list, page.Cursors)
		pos.set(c)
		c.JSON(http.StatusOK, MessageList{Messages: messageResponses(page.Messages), listMeta: cursorMeta(q.list, page.Cursors, page.Size)})
		return
	}
	msgs, total, err := h.svc.Messages(ctx, token, chatN, q.page)
	if err != nil {
		h.respondErr(c, err)
		return
	}
	pos.set(c)
	c.JSON(http.StatusOK, messageList(msgs, q.page, total))
}

// linkCursors sets a Link header (RFC 8288) with the next and previous
// pages, for clients that follow links rather than read the body.
func linkCursors(c *gin.Context, l chat.List, cur chat.Cursors) {
	var links []string
	for _, x := range []struct {
		rel string
		l   *chat.List
	}{{"next", cur.Next}, {"prev", cur.Previous}} {
		if x.l == nil {
			continue
		}
		v := url.Values{}
		name := "before"
		if x.l.Order == chat.OldestFirst {
			name = "after"
		}
		v.Set(name, strconv.FormatInt(x.l.Bound, 10))
		v.Set("limit", strconv.Itoa(l.Limit))
		links = append(links, fmt.Sprintf("<%s?%s>; rel=%q", c.Request.URL.Path, v.Encode(), x.rel))
	}
	if len(links) > 0 {
		c.Header("Link", strings.Join(links, ", "))
	}
}

// eventPosition is where a client that reads a list of token's chats or
// messages now follows its events from (live.Hub.Position). It must be read
// before the list's MySQL query: every event up to it is in MySQL by then,
// so the list plus the events after it are the current state.
func (h *handlers) eventPosition(token string) listPosition {
	if h.cfg.Live == nil {
		return ""
	}
	p, ok := h.cfg.Live.Position(chat.TokenDigest(token))
	if !ok {
		return ""
	}
	return listPosition(p.String())
}

// listPosition is a list's Event-Position, "" when none is known yet.
type listPosition string

// set sets the Event-Position header of a successful list.
func (p listPosition) set(c *gin.Context) {
	if p != "" {
		c.Header("Event-Position", string(p))
	}
}
