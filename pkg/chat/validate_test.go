package chat_test

import (
	"errors"
	"testing"

	"github.com/instachat/instachat/pkg/chat"
)

// invisibleOnly are strings that look empty wherever they are shown.
var invisibleOnly = []string{
	"\u200b",                   // zero-width space
	"\u200c\u200d",             // zero-width non-joiner and joiner
	"\u2060",                   // word joiner
	"\ufeff",                   // byte-order mark
	" \u200b\t\u00a0\u3000 ",   // with ASCII, no-break and ideographic spaces
	"\u202e\u2066",             // bidi controls
	"\x07\x1b",                 // C0 controls
	"\u0085\u2028\u2029",       // next line, line and paragraph separators
	"\u3164\u115f\uffa0",       // Hangul fillers
	"\ufe0f\u034f",             // a variation selector, the combining grapheme joiner
	"\U000e0001\U000e0020",     // tag characters
	"\u180e",                   // Mongolian vowel separator
	"\u00ad",                   // soft hyphen
	"\u200b\u200b\u200b\u200b", // several
}

func TestBlankNamesAndBodies(t *testing.T) {
	for _, s := range invisibleOnly {
		if err := chat.CheckBody(s); !errors.Is(err, chat.ErrInvalid) {
			t.Errorf("CheckBody(%+q): got %v, want ErrInvalid", s, err)
		}
		if _, err := chat.NormalizeName(s); !errors.Is(err, chat.ErrInvalid) {
			t.Errorf("NormalizeName(%+q): got %v, want ErrInvalid", s, err)
		}
	}
	// One visible character is enough, and invisible ones around it stay.
	for _, s := range []string{"\u200bx", "a\u200d", "👍🏽", "\u0301", "٠", "\u2800x", "👨\u200d👩\u200d👧"} {
		if err := chat.CheckBody(s); err != nil {
			t.Errorf("CheckBody(%+q): got %v, want accepted", s, err)
		}
		if got, err := chat.NormalizeName(s); err != nil || got != s {
			t.Errorf("NormalizeName(%+q): got %+q, %v; want it unchanged", s, got, err)
		}
	}
}
