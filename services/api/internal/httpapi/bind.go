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
