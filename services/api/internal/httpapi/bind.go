package httpapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strconv"

	"github.com/gin-gonic/gin"

	"github.com/instachat/instachat/pkg/chat"
)

// maxRequestBytes bounds a request body. A message body may be at most
// chat.MaxBodyBytes once decoded; JSON escaping can make it larger on the wire.
const maxRequestBytes = 8 * chat.MaxBodyBytes

// ApplicationRequest is accepted flat or wrapped as Rails clients send it:
// {"name": "x"} or {"application": {"name": "x"}}.
type ApplicationRequest struct {
	Name        *string `json:"name" example:"Support desk"`
	Application *struct {
		Name *string `json:"name"`
	} `json:"application,omitempty"`
}

func (r ApplicationRequest) name() (string, bool) {
	if r.Name != nil {
		return *r.Name, true
	}
	if r.Application != nil && r.Application.Name != nil {
		return *r.Application.Name, true
	}
	return "", false
}

// MessageRequest is accepted flat or wrapped: {"body": "x"},
// {"message": {"body": "x"}} or {"message": {"text": "x"}}.
type MessageRequest struct {
	Body    *string `json:"body" example:"Hello, world"`
	Message *struct {
		Body *string `json:"body"`
		Text *string `json:"text"`
	} `json:"message,omitempty"`
}

func (r MessageRequest) body() (string, bool) {
	switch {
	case r.Body != nil:
		return *r.Body, true
	case r.Message != nil && r.Message.Body != nil:
		return *r.Message.Body, true
	case r.Message != nil && r.Message.Text != nil:
		return *r.Message.Text, true
	}
	return "", false
}

// bindJSON decodes a JSON request body of at most maxRequestBytes into v,
// answering the client itself (and returning false) when it is not acceptable.
func bindJSON(c *gin.Context, v any) bool {
	return bindJSONLimit(c, v, maxRequestBytes)
}

// bindJSONLimit is bindJSON with another size limit.
func bindJSONLimit(c *gin.Context, v any, limit int64) bool {
	ct := c.GetHeader("Content-Type")
	mt, _, err := mime.ParseMediaType(ct)
	if ct == "" || err != nil || mt != "application/json" {
		fail(c, http.StatusUnsupportedMediaType, "Content-Type must be application/json")
		return false
	}
	dec := json.NewDecoder(http.MaxBytesReader(c.Writer, c.Request.Body, limit))
	if err := dec.Decode(v); err != nil {
		var tooBig *http.MaxBytesError
		var typeErr *json.UnmarshalTypeError
		switch {
		case errors.As(err, &tooBig):
			fail(c, http.StatusRequestEntityTooLarge, fmt.Sprintf("request body must be at most %d bytes", limit))
		case errors.Is(err, io.EOF):
			fail(c, http.StatusBadRequest, "request body must be a JSON object")
		case errors.As(err, &typeErr) && typeErr.Field == "":
			fail(c, http.StatusBadRequest, "request body must be a JSON object")
		case errors.As(err, &typeErr):
			fail(c, http.StatusBadRequest, fmt.Sprintf("field %q must be a %s", typeErr.Field, jsonKind(typeErr.Type.Kind().String())))
		default:
			fail(c, http.StatusBadRequest, "malformed JSON: "+err.Error())
		}
		return false
	}
	if _, err := dec.Token(); err != io.EOF {
		fail(c, http.StatusBadRequest, "malformed JSON: unexpected data after the object")
		return false
	}
	return true
}

func jsonKind(goKind string) string {
	switch goKind {
	case "ptr", "string":
		return "string"
	case "struct", "map":
		return "JSON object"
	}
	return goKind
}

// pathNumber reads a positive integer path parameter.
func pathNumber(c *gin.Context, param, what string) (int64, bool) {
	raw := c.Param(param)
	n, err := strconv.ParseInt(raw, 10, 64)
	if err != nil || n < 1 {
		fail(c, http.StatusBadRequest, what+" number must be a positive integer")
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
