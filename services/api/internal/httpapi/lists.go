package httpapi

import (
	"net/http"

	"github.com/gin-gonic/gin"
)

// listChats godoc
//
//	@Summary		List chats
//	@Description	Persisted chats in ascending number order.
//	@Tags			chats
//	@Produce		json
//	@Param			token		path		string	true	"application token"
//	@Param			page		query		int		false	"page, from 1"			default(1)	minimum(1)	maximum(100000)
//	@Param			per_page	query		int		false	"items per page"	default(20)	minimum(1)	maximum(100)
//	@Success		200			{object}	ChatList
//	@Failure		400			{object}	ErrorResponse	"bad pagination"
//	@Failure		404			{object}	ErrorResponse	"unknown token"
//	@Router			/api/v1/applications/{token}/chats [get]
func (h *handlers) listChats(c *gin.Context) {
	p, ok := pageParams(c)
	if !ok {
		return
	}
	list, total, err := h.svc.Chats(c.Request.Context(), c.Param("token"), p)
	if err != nil {
		h.respondErr(c, err)
		return
	}
	out := ChatList{Chats: make([]ChatResponse, len(list)), Page: p.Page, PerPage: p.PerPage, Total: total}
	for i, ch := range list {
		out.Chats[i] = chatResponse(ch)
	}
	c.JSON(http.StatusOK, out)
}

// listMessages godoc
//
//	@Summary		List or search messages
//	@Description	Persisted messages in ascending number order. With keyword= (as the original InstaChat clients send it) this is a search, like /search?q=.
//	@Tags			messages
//	@Produce		json
//	@Param			token		path		string	true	"application token"
//	@Param			number		path		int		true	"chat number"
//	@Param			keyword		query		string	false	"search words instead of listing"
//	@Param			page		query		int		false	"page, from 1"		default(1)	minimum(1)	maximum(100000)
//	@Param			per_page	query		int		false	"items per page"	default(20)	minimum(1)	maximum(100)
//	@Success		200			{object}	MessageList
//	@Failure		400			{object}	ErrorResponse	"bad pagination or number (with keyword=, a page beyond result 10000)"
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
	p, ok := pageParams(c)
	if !ok {
		return
	}
	msgs, total, err := h.svc.Messages(c.Request.Context(), c.Param("token"), chatN, p)
	if err != nil {
		h.respondErr(c, err)
		return
	}
	c.JSON(http.StatusOK, messageList(msgs, p, total))
}
