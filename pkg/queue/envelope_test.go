package queue_test

import (
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/instachat/instachat/pkg/queue"
)

func sampleEnvelope(typ, body string) queue.Envelope {
	return queue.Envelope{
		ID:    "0190a1b2c3d4e5f60718293a4b5c6d7e",
		Type:  typ,
		App:   "tok_ABC-123_xyz",
		Body:  body,
		Time:  1_700_000_000_123_456,
		Trace: "4bf92f3577b34da6a3ce929d0e0e4736",
		Chat:  7,
	}
}

// fill builds the job a counter script would push: prefix + number + suffix.
func fill(t testing.TB, e queue.Envelope, field string, n int64) string {
	t.Helper()
	prefix, suffix, err := e.Template(field)
	if err != nil {
		t.Fatalf("Template(%q): %v", field, err)
	}
	return prefix + strconv.FormatInt(n, 10) + suffix
}

func TestTemplate(t *testing.T) {
	bodies := []struct {
		name string
		body string
	}{
		{"empty", ""},
		{"plain", "hello world"},
		{"quotes", `she said "hi" and left`},
		{"marker message", `"message":-4242424242`},
		{"marker chat", `"chat":-4242424242,"message":-4242424242`},
		{"escaped marker", `\"message\":-4242424242`},
		{"json object", `{"id":"x","chat":1,"message":2}`},
		{"backslashes", `C:\path\to\"file"\`},
		{"html", `<script>alert("x & y")</script>`},
		{"unicode", "héllo wörld — ñandú, 日本語のテキスト, Привет"},
		{"emoji", "ship it 🚀🔥👩‍👩‍👧‍👦 🇯🇵"},
		{"control", "line1\nline2\ttab\u0000nul\u2028sep"},
		{"only number", "-4242424242"},
	}
	fields := []struct {
		field string
		typ   string
	}{
		{"chat", queue.TypeChatCreate},
		{"message", queue.TypeMessageCreate},
	}
	numbers := []int64{1, 42, 9_999_999, 123_456_789_012_345}
	for _, f := range fields {
		for _, b := range bodies {
			t.Run(f.field+"/"+b.name, func(t *testing.T) {
				e := sampleEnvelope(f.typ, b.body)
				for _, n := range numbers {
					raw := fill(t, e, f.field, n)
					got, err := queue.Decode(raw)
					if err != nil {
						t.Fatalf("Decode(%s): %v", raw, err)
					}
					want := e
					if f.field == "chat" {
						want.Chat = n
					} else {
						want.Message = n
					}
					if got != want {
						t.Errorf("number %d: got %+v, want %+v", n, got, want)
					}
					if enc, _ := want.Encode(); raw != enc {
						t.Errorf("number %d: got job %s, want %s (same as Encode)", n, raw, enc)
					}
				}
			})
		}
	}
}

func TestTemplateUnknownField(t *testing.T) {
	for _, field := range []string{"", "body", "Chat", "id"} {
		if _, _, err := sampleEnvelope(queue.TypeChatCreate, "x").Template(field); err == nil {
			t.Errorf("Template(%q): got nil error, want one", field)
		}
	}
}

func FuzzTemplate(f *testing.F) {
	for _, s := range []string{"", "hi", `"message":-4242424242`, `"chat":-4242424242`, `\"`, "日本🚀", "\xff\xfe", "\u2028"} {
		f.Add(s, "trace", int64(1))
	}
	f.Add(`{"message":-4242424242}`, `"message":-4242424242`, int64(-4242424242))
	f.Fuzz(func(t *testing.T, body, trace string, n int64) {
		for _, field := range []string{"chat", "message"} {
			e := sampleEnvelope(queue.TypeMessageCreate, body)
			e.Trace = trace
			raw := fill(t, e, field, n)
			want := e
			if field == "chat" {
				want.Chat = n
			} else {
				want.Message = n
			}
			enc, err := want.Encode()
			if err != nil {
				t.Fatalf("Encode: %v", err)
			}
			if raw != enc {
				t.Fatalf("field %s: got job %q, want %q", field, raw, enc)
			}
			got, err := queue.Decode(raw)
			if err != nil {
				t.Fatalf("Decode(%q): %v", raw, err)
			}
			if field == "chat" && got.Chat != n || field == "message" && got.Message != n {
				t.Fatalf("field %s: got chat %d message %d, want %d", field, got.Chat, got.Message, n)
			}
			if utf8.ValidString(body) && got.Body != body {
				t.Fatalf("got body %q, want %q", got.Body, body)
			}
			if utf8.ValidString(trace) && got.Trace != trace {
				t.Fatalf("got trace %q, want %q", got.Trace, trace)
			}
		}
	})
}

func TestDecodeRejects(t *testing.T) {
	tests := []struct {
		name string
		raw  string
	}{
		{"not json", "nope"},
		{"empty object", "{}"},
		{"no id", `{"type":"chat.create","app":"a"}`},
		{"no type", `{"id":"x","app":"a"}`},
		{"no app", `{"id":"x","type":"chat.create"}`},
		{"float number", `{"id":"x","type":"chat.create","app":"a","chat":1.2345678901234e+14}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if e, err := queue.Decode(tt.raw); err == nil {
				t.Errorf("Decode(%s): got %+v, want an error", tt.raw, e)
			}
		})
	}
}

func TestEnvelopeRoundTrip(t *testing.T) {
	e := sampleEnvelope(queue.TypeMessageUpdate, "edited 🚀")
	e.Message, e.Attempt, e.Error = 3, 2, "db down"
	raw, err := e.Encode()
	if err != nil {
		t.Fatalf("Encode: %v", err)
	}
	got, err := queue.Decode(raw)
	if err != nil {
		t.Fatalf("Decode: %v", err)
	}
	if got != e {
		t.Errorf("got %+v, want %+v", got, e)
	}
	if want := time.UnixMicro(e.Time).UTC(); !got.AcceptedAt().Equal(want) {
		t.Errorf("AcceptedAt: got %v, want %v", got.AcceptedAt(), want)
	}
}

func TestNewEventID(t *testing.T) {
	t0 := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	seen := map[string]bool{}
	prev := ""
	for i := range 1000 {
		id := queue.NewEventID(t0.Add(time.Duration(i) * time.Millisecond))
		if len(id) != 32 || strings.Trim(id, "0123456789abcdef") != "" {
			t.Fatalf("got id %q, want 32 lowercase hex digits", id)
		}
		if seen[id] {
			t.Fatalf("got duplicate id %s", id)
		}
		seen[id] = true
		if id <= prev {
			t.Fatalf("got id %s after %s, want ids that sort by time", id, prev)
		}
		prev = id
	}
}
