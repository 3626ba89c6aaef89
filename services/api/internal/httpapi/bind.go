package httpapi

import (
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strconv"

	"github.com/gin-gonic/gin"

	"github.com/instachat/instachat/pkg/chat"
	"github.com/instachat/instachat/services/api/internal/request"
)

// maxRequestBytes bounds a request body. A message body may be at most
// chat.MaxBodyBytes once decoded; JSON escaping can make it larger on the wire.
const maxRequestBytes = 8 * chat.MaxBodyBytes

// ApplicationRequest and MessageRequest are the bodies the handlers accept
// (flat or wrapped as Rails clients send them); the request package decodes
// them. The names are the ones the Swagger spec shows.
type (
	ApplicationRequest = request.Application // @name ApplicationRequest
	MessageRequest     = request.Message     // @name MessageRequest
)

// bindJSON decodes a client's JSON request body of at most maxRequestBytes
// into v, answering the client itself (and returning false) when it is not
// acceptable. request.Decode refuses, before decoding, what encoding/json
// would quietly accept: invalid UTF-8 and keys that differ only in case.
func bindJSON(c *gin.Context, v any) bool {
	if !jsonContent(c) {
		return false
	}
	data, err := io.ReadAll(http.MaxBytesReader(c.Writer, c.Request.Body, maxRequestBytes))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			fail(c, http.StatusRequestEntityTooLarge, fmt.Sprintf("request body must be at most %d bytes", maxRequestBytes))
			return false
		}
		fail(c, http.StatusBadRequest, "the request body could not be read")
		return false
	}
	if rerr := request.Decode(data, v); rerr != nil {
		fail(c, rerr.Status, rerr.Msg)
		return false
	}
	return true
}

// bindJSONLimit decodes a trusted JSON body of at most limit bytes into v as
// it streams in, without request.Check: the internal endpoints use it for
// bodies the writer built from MySQL rows, which can be far larger than a
// client's.
func bindJSONLimit(c *gin.Context, v any, limit int64) bool {
	if !jsonContent(c) {
		return false
	}
	if rerr := request.DecodeStream(http.MaxBytesReader(c.Writer, c.Request.Body, limit), v, limit); rerr != nil {
		fail(c, rerr.Status, rerr.Msg)
		return false
	}
	return true
}

// jsonContent refuses a request whose Content-Type is not JSON.
func jsonContent(c *gin.Context) bool {
	ct := c.GetHeader("Content-Type")
	mt, _, err := mime.ParseMediaType(ct)
	if ct == "" || err != nil || mt != "application/json" {
		fail(c, http.StatusUnsupportedMediaType, "Content-Type must be application/json")
		return false
	}
	return true
}

// pathNumber reads a chat or message number from the path parameter param,
// in its one canonical spelling (chat.ParseNumber): "01" and "+1" are not 1.
func pathNumber(c *gin.Context, param, what string) (int64, bool) {
	n, err := chat.ParseNumber(fmt.Sprintf("%s number (path parameter %q)", what, param), c.Param(param))
	if err != nil {
		fail(c, http.StatusBadRequest, chat.ClientMessage(err, "invalid "+what+" number"))
		return 0, false
	}
	return n, true
}

// listQuery is how a list request pages: by cursor (before, after, limit),
// or by page number (page, per_page) as old clients do.
type listQuery struct {
	cursor bool
	list   chat.List // when cursor
	page   chat.Page // otherwise
}

// listParams reads a list's paging. Any of before, after and limit selects
// cursor mode (limit alone: the newest page); none of them is page mode,
// whose pages may start at most chat.MaxListOffset items deep.
func listParams(c *gin.Context) (listQuery, bool) {
	_, before := c.GetQuery("before")
	_, after := c.GetQuery("after")
	_, limit := c.GetQuery("limit")
	_, page := c.GetQuery("page")
	_, perPage := c.GetQuery("per_page")
	switch {
	case !before && !after && !limit:
		p, ok := pageParams(c)
		if !ok {
			return listQuery{}, false
		}
		if err := p.CheckListOffset(); err != nil {
			fail(c, http.StatusBadRequest, chat.ClientMessage(err, "page too deep"))
			return listQuery{}, false
		}
		return listQuery{page: p}, true
	case before && after:
		fail(c, http.StatusBadRequest, "before and after cannot be used together: before pages toward older items, after toward newer ones")
		return listQuery{}, false
	case page || perPage:
		fail(c, http.StatusBadRequest, "page and per_page cannot be mixed with before, after or limit: use the cursors (before=, after=, limit=) or the page numbers, not both")
		return listQuery{}, false
	}
	l, ok := cursorParams(c, before, after)
	if !ok {
		return listQuery{}, false
	}
	return listQuery{cursor: true, list: l}, true
}

// cursorParams reads before or after (the one present) and limit.
func cursorParams(c *gin.Context, before, after bool) (chat.List, bool) {
	n, ok := queryInt(c, "limit")
	if !ok {
		return chat.List{}, false
	}
	l := chat.Newest(n)
	switch {
	case before:
		b, err := chat.ParseNumber("before (query parameter)", c.Query("before"))
		if err != nil {
			fail(c, http.StatusBadRequest, chat.ClientMessage(err, "invalid before"))
			return chat.List{}, false
		}
		l = chat.Before(b, n)
	case after:
		a := int64(0)
		if raw := c.Query("after"); raw != "0" {
			var err error
			if a, err = chat.ParseNumber("after (query parameter)", raw); err != nil {
				fail(c, http.StatusBadRequest, "after must be 0 (from the oldest) or a positive integer written without sign, spaces or leading zeros")
				return chat.List{}, false
			}
		}
		l = chat.After(a, n)
	}
	l, err := l.Check()
	if err != nil {
		fail(c, http.StatusBadRequest, chat.ClientMessage(err, "invalid limit"))
		return chat.List{}, false
	}
	return l, true
}

// pageParams reads page and per_page.
func pageParams(c *gin.Context) (chat.Page, bool) {
	page, ok := queryInt(c, "page")
	if !ok {
		return chat.Page{}, false
	}
	perPage, ok := queryInt(c, "per_page")
	if !ok {
		return chat.Page{}, false
	}
	p, err := chat.NewPage(page, perPage)
	if err != nil {
		fail(c, http.StatusBadRequest, chat.ClientMessage(err, "invalid page"))
		return chat.Page{}, false
	}
	return p, true
}

func queryInt(c *gin.Context, name string) (int, bool) {
	raw, present := c.GetQuery(name)
	if !present {
		return 0, true
	}
	n, err := strconv.Atoi(raw)
	if err != nil || n < 1 {
		fail(c, http.StatusBadRequest, name+" must be a positive integer")
		return 0, false
	}
	return n, true
}
