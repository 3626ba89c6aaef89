package chat_test

import (
	"errors"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/instachat/instachat/pkg/chat"
)

func TestParseNumber(t *testing.T) {
	tests := []struct {
		in   string
		want int64
		ok   bool
	}{
		{"1", 1, true},
		{"42", 42, true},
		{"9223372036854775807", 9223372036854775807, true},
		{"9223372036854775808", 0, false}, // 19 digits, beyond int64
		{"99999999999999999999", 0, false},
		{"0", 0, false},
		{"01", 0, false},
		{"002", 0, false},
		{"+1", 0, false},
		{"-1", 0, false},
		{" 1", 0, false},
		{"1 ", 0, false},
		{"1e3", 0, false},
		{"0x10", 0, false},
		{"1_000", 0, false},
		{"١", 0, false}, // an Arabic-Indic digit
		{"１", 0, false}, // a fullwidth digit
		{"", 0, false},
	}
	for _, tt := range tests {
		got, err := chat.ParseNumber("chat number", tt.in)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("ParseNumber(%q): got %d, %v; want %d, ok=%v", tt.in, got, err, tt.want, tt.ok)
		}
		if err != nil && (!errors.Is(err, chat.ErrInvalid) || !strings.HasPrefix(err.Error(), "chat number ")) {
			t.Errorf("ParseNumber(%q): error %q should wrap ErrInvalid and name the parameter", tt.in, err)
		}
	}
}

var canonical = regexp.MustCompile(`^[1-9][0-9]{0,18}$`)

// FuzzParseNumber checks ParseNumber against its definition: accepted exactly
// when the input matches ^[1-9][0-9]{0,18}$ and fits an int64, and an
// accepted number formats back to the same string.
func FuzzParseNumber(f *testing.F) {
	for _, s := range []string{"1", "10", "9223372036854775807", "9223372036854775808", "0", "01", "+1", "-1", " 1", "1e3", "١"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := chat.ParseNumber("message number", s)
		_, overflow := strconv.ParseInt(s, 10, 64)
		want := canonical.MatchString(s) && overflow == nil
		if (err == nil) != want {
			t.Fatalf("ParseNumber(%q): got %d, %v; want accepted=%v", s, n, err, want)
		}
		if err != nil {
			if !errors.Is(err, chat.ErrInvalid) || n != 0 {
				t.Fatalf("ParseNumber(%q): got %d, %v; want 0 and an ErrInvalid", s, n, err)
			}
			if _, again := chat.ParseNumber("message number", s); again == nil || again.Error() != err.Error() {
				t.Fatalf("ParseNumber(%q) twice: got %v, then %v", s, err, again)
			}
			return
		}
		if n < 1 || strconv.FormatInt(n, 10) != s {
			t.Fatalf("ParseNumber(%q) = %d: does not format back to the input", s, n)
		}
	})
}
