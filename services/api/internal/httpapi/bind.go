package httpapi

import (
	"bytes"
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

// bindJSON decodes a client's JSON request body of at most maxRequestBytes
// into v, answering the client itself (and returning false) when it is not
// acceptable. Before decoding, checkJSON refuses what encoding/json would
// quietly accept: invalid UTF-8 and keys that differ only in case.
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
	if rerr := decodeRequest(data, v); rerr != nil {
		fail(c, rerr.status, rerr.msg)
		return false
	}
	return true
}

// decodeRequest is bindJSON's decoding, without HTTP: nil when data is one
// acceptable JSON object, decoded into v.
func decodeRequest(data []byte, v any) *requestError {
	if err := checkJSON(data); err != nil {
		return &requestError{status: http.StatusBadRequest, msg: err.Error()}
	}
	return decodeJSON(bytes.NewReader(data), v, int64(len(data)))
}

// bindJSONLimit decodes a trusted JSON body of at most limit bytes into v as
// it streams in, without checkJSON: the internal endpoints use it for bodies
// the writer built from MySQL rows, which can be far larger than a client's.
func bindJSONLimit(c *gin.Context, v any, limit int64) bool {
	if !jsonContent(c) {
		return false
	}
	if rerr := decodeJSON(http.MaxBytesReader(c.Writer, c.Request.Body, limit), v, limit); rerr != nil {
		fail(c, rerr.status, rerr.msg)
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

// requestError is a refused request body: the status and the message for
// the client.
type requestError struct {
	status int
	msg    string
}

// decodeJSON decodes exactly one JSON object from r into v; limit is the
// size r enforces, named in the 413 message.
func decodeJSON(r io.Reader, v any, limit int64) *requestError {
	dec := json.NewDecoder(r)
	if err := dec.Decode(v); err != nil {
		var tooBig *http.MaxBytesError
		var typeErr *json.UnmarshalTypeError
		switch {
		case errors.As(err, &tooBig):
			return &requestError{http.StatusRequestEntityTooLarge, fmt.Sprintf("request body must be at most %d bytes", limit)}
		case errors.Is(err, io.EOF):
			return &requestError{http.StatusBadRequest, "request body must be a JSON object"}
		case errors.As(err, &typeErr) && typeErr.Field == "":
			return &requestError{http.StatusBadRequest, "request body must be a JSON object"}
		case errors.As(err, &typeErr):
			return &requestError{http.StatusBadRequest, fmt.Sprintf("field %q must be a %s", typeErr.Field, jsonKind(typeErr.Type.Kind().String()))}
		default:
			return &requestError{http.StatusBadRequest, "malformed JSON: " + err.Error()}
		}
	}
	if _, err := dec.Token(); err != io.EOF {
		return &requestError{http.StatusBadRequest, "malformed JSON: unexpected data after the object"}
	}
	return nil
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
