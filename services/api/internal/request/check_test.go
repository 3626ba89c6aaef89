package request

import (
	"strings"
	"testing"
)

func TestCheck(t *testing.T) {
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
		{"too deep", strings.Repeat("[", MaxDepth+1) + strings.Repeat("]", MaxDepth+1), "nests deeper"},
		{"deep enough", strings.Repeat("[", MaxDepth) + strings.Repeat("]", MaxDepth), ""},
		{"big number", `{"n": 1.7e308, "m": -12345678901234567890}`, ""},
		{"number out of range", `{"n": 1e309}`, "out of range"},
		{"long number out of range", `{"n": ` + strings.Repeat("8", 400) + `}`, "out of range"},
		{"unterminated", `{"name": "a"`, "malformed JSON"},
		{"not JSON", `{name: "a"}`, "malformed JSON"},
		{"trailing backslash", `{"body": "a\`, "malformed JSON"},
	}
	for _, tt := range tests {
		err := Check([]byte(tt.in))
		switch {
		case tt.refuse == "" && err != nil:
			t.Errorf("%s: Check(%q): got %v, want accepted", tt.name, tt.in, err)
		case tt.refuse != "" && (err == nil || !strings.Contains(err.Error(), tt.refuse)):
			t.Errorf("%s: Check(%q): got %v, want an error with %q", tt.name, tt.in, err, tt.refuse)
		}
	}
}
