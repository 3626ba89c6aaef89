package chat

import (
	"strings"
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
	case name == "":
		return "", Invalidf("name must not be blank")
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
// that is blank once trimmed is refused.
func CheckBody(body string) error {
	switch {
	case strings.TrimSpace(body) == "":
		return Invalidf("body must not be blank")
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
