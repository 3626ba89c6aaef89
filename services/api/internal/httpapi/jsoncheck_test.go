package httpapi

import (
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gin-gonic/gin"

	"github.com/instachat/instachat/pkg/chat"
	"github.com/instachat/instachat/pkg/search"
)

func TestCheckJSON(t *testing.T) {
	tests := []struct {
		name, in string
		refuse   string // part of the error; "" when accepted
	}{
		{"flat", `{"name": "a"}`, ""},
		{"wrapped", `{"message": {"body": "a", "text": "b"}}`, ""},
		{"same key in sibling objects", `{"a": {"k": 1}, "b": {"k": 2}, "k": 3}`, ""},
		{"same key in array elements", `[{"k": 1}, {"k": 2}]`, ""},
		{"escaped backslash before u", `{"body": "\\ud800"}`, ""},
		{"surrogate pair", `{"body": "\ud83d\ude00 \uD83D\uDE00"}`, ""},
		{"replacement character written out", "{\"body\": \"\ufffd \\ufffd\"}", ""},
		{"empty", ``, ""},
		{"null", `null`, ""},
		{"invalid UTF-8 in a value", "{\"body\": \"\xff\"}", "valid UTF-8"},
		{"invalid UTF-8 in a key", "{\"b\xffody\": \"x\"}", "valid UTF-8"},
		{"UTF-8 of a surrogate", "{\"body\": \"\xed\xa0\x80\"}", "valid UTF-8"},
		{"high surrogate alone", `{"body": "\ud800"}`, "unpaired surrogate"},
		{"high surrogate then text", `{"body": "\ud800abcdef"}`, "unpaired surrogate"},
		{"two high surrogates", `{"body": "\ud800\ud800"}`, "unpaired surrogate"},
		{"low surrogate alone", `{"body": "\uDC00"}`, "unpaired surrogate"},
		{"duplicate", `{"name": "a", "name": "b"}`, `duplicate key "name"`},
		{"case variant", `{"name": "a", "NAME": "b"}`, `duplicate key "NAME"`},
		{"escaped variant", `{"name": "a", "n\u0041ME": "b"}`, `duplicate key "nAME"`},
		{"long s", `{"s": 1, "ſ": 2}`, "duplicate key"},
		{"nested", `{"message": {"body": "a", "Body": "b"}}`, `duplicate key "Body"`},
		{"in an array", `[{}, {"k": 1, "k": 2}]`, "duplicate key"},
		{"after a nested object", `{"a": {"b": 1}, "A": 2}`, "duplicate key"},
		{"too deep", strings.Repeat("[", maxJSONDepth+1) + strings.Repeat("]", maxJSONDepth+1), "nests deeper"},
		{"deep enough", strings.Repeat("[", maxJSONDepth) + strings.Repeat("]", maxJSONDepth), ""},
		{"unterminated", `{"name": "a"`, "malformed JSON"},
		{"not JSON", `{name: "a"}`, "malformed JSON"},
		{"trailing backslash", `{"body": "a\`, "malformed JSON"},
	}
	for _, tt := range tests {
		err := checkJSON([]byte(tt.in))
		switch {
		case tt.refuse == "" && err != nil:
			t.Errorf("%s: checkJSON(%q): got %v, want accepted", tt.name, tt.in, err)
		case tt.refuse != "" && (err == nil || !strings.Contains(err.Error(), tt.refuse)):
			t.Errorf("%s: checkJSON(%q): got %v, want an error with %q", tt.name, tt.in, err, tt.refuse)
		}
	}
}

func TestDecodeRequest(t *testing.T) {
	tests := []struct {
		in, want string
		ok       bool
		refuse   string
	}{
		{`{"body": "a"}`, "a", true, ""},
		{`{"message": {"text": "t"}}`, "t", true, ""},
		{`{"Body": "a"}`, "a", true, ""}, // one key in another case is still the field
		{`{"body": "a", "BODY": "b"}`, "", false, "duplicate key"},
		{`{"body": "a"} {}`, "", false, "unexpected data after the object"},
		{`["a"]`, "", false, "must be a JSON object"},
		{`{"body": 1}`, "", false, `field "body" must be a string`},
		{``, "", false, "must be a JSON object"},
	}
	for _, tt := range tests {
		var req MessageRequest
		rerr := decodeRequest([]byte(tt.in), &req)
		body, _ := req.body()
		switch {
		case tt.ok && (rerr != nil || body != tt.want):
			t.Errorf("decodeRequest(%q): got %q, %+v; want %q", tt.in, body, rerr, tt.want)
		case !tt.ok && (rerr == nil || rerr.status != http.StatusBadRequest || !strings.Contains(rerr.msg, tt.refuse)):
			t.Errorf("decodeRequest(%q): got %+v, want 400 with %q", tt.in, rerr, tt.refuse)
		}
	}
}

// TestBeyondWindowIsAClientError: an engine's ErrBeyondWindow comes back
// wrapped in the service's "search unavailable"; it is still a 400 without
// Retry-After, so clients do not retry it forever.
func TestBeyondWindowIsAClientError(t *testing.T) {
	h := &handlers{log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	engineErr := fmt.Errorf("elasticsearch search: %w", search.ErrBeyondWindow)
	for _, err := range []error{
		search.Query{Offset: search.MaxWindow, Limit: 1}.CheckWindow(),
		fmt.Errorf("search: %w: %w", chat.Unavailable("search"), engineErr),
	} {
		rec := httptest.NewRecorder()
		c, _ := gin.CreateTestContext(rec)
		c.Request = httptest.NewRequest(http.MethodGet, "/", nil)
		h.respondErr(c, err)
		if rec.Code != http.StatusBadRequest || rec.Header().Get("Retry-After") != "" || !strings.Contains(rec.Body.String(), "at most 10000") {
			t.Errorf("respondErr(%v): got %d (Retry-After %q) %s, want 400 naming the window", err, rec.Code, rec.Header().Get("Retry-After"), rec.Body.String())
		}
	}
}
