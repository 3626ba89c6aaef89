package chat

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// Limits on client input. They are documented in README.md and the Swagger spec.
const (
	// MaxNameLength is the longest application name, in characters.
	MaxNameLength = 255
	// MaxBodyBytes is the largest message body, in bytes of UTF-8.
	MaxBodyBytes = 16 * 1024
	// DefaultPerPage is the page size when the client does not ask for one.
	DefaultPerPage = 20
	// MaxPerPage is the largest page size a client may ask for.
	MaxPerPage = 100
	// MaxPage bounds page numbers so offsets stay cheap and never overflow.
	MaxPage = 100000
	// MaxQueryLength is the longest search query, in bytes.
	MaxQueryLength = 256
)

// NormalizeName trims and checks an application name.
func NormalizeName(name string) (string, error) {
	name = strings.TrimSpace(name)
	switch {
	case !hasVisible(name):
		return "", Invalidf("name must not be blank (whitespace and invisible characters do not count)")
	case !utf8.ValidString(name):
		return "", Invalidf("name must be valid UTF-8")
	case utf8.RuneCountInString(name) > MaxNameLength:
		return "", Invalidf("name must be at most %d characters", MaxNameLength)
	case strings.ContainsRune(name, 0):
		return "", Invalidf("name must not contain NUL characters")
	}
	return name, nil
}

// CheckBody checks a message body. The body is kept exactly as sent; only a body
// without a visible character is refused as blank.
func CheckBody(body string) error {
	switch {
	case !hasVisible(body):
		return Invalidf("body must not be blank (whitespace and invisible characters do not count)")
	case !utf8.ValidString(body):
		return Invalidf("body must be valid UTF-8")
	case len(body) > MaxBodyBytes:
		return Invalidf("body must be at most %d bytes", MaxBodyBytes)
	case strings.ContainsRune(body, 0):
		return Invalidf("body must not contain NUL characters")
	}
	return nil
}

// CheckQuery trims and checks a search query.
func CheckQuery(q string) (string, error) {
	q = strings.TrimSpace(q)
	switch {
	case q == "":
		return "", Invalidf("query must not be blank: pass q=")
	case !utf8.ValidString(q):
		return "", Invalidf("query must be valid UTF-8")
	case len(q) > MaxQueryLength:
		return "", Invalidf("query must be at most %d bytes", MaxQueryLength)
	}
	return q, nil
}

// NewPage checks page and per-page values; zero means "use the default".
func NewPage(page, perPage int) (Page, error) {
	if page == 0 {
		page = 1
	}
	if perPage == 0 {
		perPage = DefaultPerPage
	}
	if page < 1 || page > MaxPage {
		return Page{}, Invalidf("page must be between 1 and %d", MaxPage)
	}
	if perPage < 1 || perPage > MaxPerPage {
		return Page{}, Invalidf("per_page must be between 1 and %d", MaxPerPage)
	}
	return Page{Page: page, PerPage: perPage}, nil
}

// hasVisible reports whether s holds a character that shows: one that is
// neither whitespace (Zs, tabs, line breaks) nor a control (Cc), a format
// character (Cf: zero-width space, joiners, word joiner, byte-order mark,
// bidi marks), a variation selector or another default-ignorable code point
// (Hangul fillers, combining grapheme joiner). A name or body made only of
// those looks empty wherever it is shown. Invalid UTF-8 counts as visible
// here: the callers refuse it with their own message.
func hasVisible(s string) bool {
	for _, r := range s {
		if !invisible(r) {
			return true
		}
	}
	return false
}

func invisible(r rune) bool {
	return unicode.IsSpace(r) || unicode.In(r, unicode.Zs, unicode.Cc, unicode.Cf,
		unicode.Variation_Selector, unicode.Other_Default_Ignorable_Code_Point)
}
