package chat

import (
	"math"
	"strconv"
)

// ParseNumber reads a chat or message number as clients write it in paths:
// digits only, no sign, no leading zero, at most 9223372036854775807. Only
// the canonical form is accepted, so every number has exactly one spelling
// ("/chats/1", never "/chats/01" or "/chats/+1") and caches, logs and access
// rules keyed on paths cannot be sidestepped by an alias. name says what the
// number is ("chat number") in the error.
func ParseNumber(name, raw string) (int64, error) {
	if !canonicalNumber(raw) {
		return 0, Invalidf("%s must be a positive integer written without sign, spaces or leading zeros (1 to %d)", name, int64(math.MaxInt64))
	}
	n, err := strconv.ParseInt(raw, 10, 64)
	if err != nil {
		return 0, Invalidf("%s must be at most %d", name, int64(math.MaxInt64))
	}
	return n, nil
}

// canonicalNumber reports whether s matches ^[1-9][0-9]{0,18}$.
func canonicalNumber(s string) bool {
	if len(s) == 0 || len(s) > 19 || s[0] < '1' || s[0] > '9' {
		return false
	}
	for i := 1; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
