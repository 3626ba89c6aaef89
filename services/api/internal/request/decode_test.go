package request

import (
	"net/http"
	"strings"
	"testing"
)

func TestDecode(t *testing.T) {
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
		var req Message
		rerr := Decode([]byte(tt.in), &req)
		body, _ := req.BodyGiven()
		switch {
		case tt.ok && (rerr != nil || body != tt.want):
			t.Errorf("Decode(%q): got %q, %+v; want %q", tt.in, body, rerr, tt.want)
		case !tt.ok && (rerr == nil || rerr.Status != http.StatusBadRequest || !strings.Contains(rerr.Msg, tt.refuse)):
			t.Errorf("Decode(%q): got %+v, want 400 with %q", tt.in, rerr, tt.refuse)
		}
	}
}
