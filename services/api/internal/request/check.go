package request

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode"
	"unicode/utf8"
)

// MaxDepth bounds how deeply a request body may nest; requests are two
// objects deep at most.
const MaxDepth = 32

// Check refuses what encoding/json would quietly accept in a request body:
// invalid UTF-8 and unpaired surrogate escapes (decoded to U+FFFD and
// stored), and an object with two keys that encoding/json would treat as one
// (it matches field names case-insensitively and lets the last one win, so
// {"name":"a","NAME":"b"} would become "b"). It reads data once, so its cost
// is linear in the body, whose size the caller bounds. Malformed JSON is
// left to the decoder unless the walk trips over it first; either way it is
// refused.
func Check(data []byte) error {
	if !utf8.Valid(data) {
		return errors.New("request body must be valid UTF-8")
	}
	if err := checkEscapes(data); err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	// One frame per open object or array; an object's frame collects its
	// keys, folded as encoding/json folds them.
	type frame struct {
		object  bool
		wantKey bool
		keys    map[string]struct{}
	}
	var stack []frame
	for {
		tok, err := dec.Token()
		if err == io.EOF && len(stack) == 0 {
			return nil
		}
		if err != nil {
			return malformed(err)
		}
		if n := len(stack); n > 0 && stack[n-1].object {
			top := &stack[n-1]
			if top.wantKey {
				if d, ok := tok.(json.Delim); ok && d == '}' {
					stack = stack[:n-1]
					continue
				}
				key, _ := tok.(string) // the decoder allows only strings here
				folded := foldKey(key)
				if _, dup := top.keys[folded]; dup {
					return fmt.Errorf("duplicate key %q in a JSON object (keys are matched without regard to case)", key)
				}
				if top.keys == nil {
					top.keys = map[string]struct{}{}
				}
				top.keys[folded] = struct{}{}
				top.wantKey = false
				continue
			}
			top.wantKey = true // tok is this key's value
		}
		if n, ok := tok.(json.Number); ok {
			if _, err := n.Float64(); err != nil { // beyond ±1.8e308: no decoder takes it
				return fmt.Errorf("number %.20s… is out of range", n)
			}
			continue
		}
		switch tok {
		case json.Delim('{'), json.Delim('['):
			if len(stack) == MaxDepth {
				return fmt.Errorf("request body nests deeper than %d levels", MaxDepth)
			}
			stack = append(stack, frame{object: tok == json.Delim('{'), wantKey: true})
		case json.Delim(']'):
			stack = stack[:len(stack)-1]
		}
	}
}

// malformed words a decoder error for the client.
func malformed(err error) error {
	if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
		return errors.New("malformed JSON: unexpected end of the body")
	}
	return fmt.Errorf("malformed JSON: %w", err)
}

// foldKey is a key as encoding/json compares it with a field name (its
// foldName, equivalent to strings.EqualFold): every rune replaced by the
// smallest rune of its case-folding orbit, so "NAME", "Name" and "name" fold
// alike, and so do "ſ" and "s" or "K" (Kelvin) and "k". Two keys that fold
// alike would fill one field.
func foldKey(key string) string {
	return strings.Map(func(r rune) rune {
		for {
			next := unicode.SimpleFold(r)
			if next <= r {
				return next
			}
			r = next
		}
	}, key)
}

// checkEscapes refuses \u escapes of surrogates that do not pair up: a high
// one (D800–DBFF) not followed by a low one (DC00–DFFF), or a low one alone.
// encoding/json turns each into U+FFFD. In valid JSON a backslash occurs only
// inside strings and always starts an escape, so reading escapes one after the
// other is exact; anything else is malformed, which the decoder reports.
func checkEscapes(data []byte) error {
	for i := 0; i < len(data); i++ {
		if data[i] != '\\' {
			continue
		}
		if i+1 == len(data) {
			return nil // malformed
		}
		if data[i+1] != 'u' {
			i++ // a one-character escape, \\ included
			continue
		}
		r, ok := hex4(data[i+2:])
		if !ok {
			continue // malformed
		}
		i += 5
		switch {
		case 0xDC00 <= r && r <= 0xDFFF:
			return errors.New("request body must be valid UTF-8: it escapes an unpaired surrogate")
		case 0xD800 <= r && r <= 0xDBFF:
			if i+2 < len(data) && data[i+1] == '\\' && data[i+2] == 'u' {
				if lo, ok := hex4(data[i+3:]); ok && 0xDC00 <= lo && lo <= 0xDFFF {
					i += 6
					continue
				}
			}
			return errors.New("request body must be valid UTF-8: it escapes an unpaired surrogate")
		}
	}
	return nil
}

// hex4 reads the four hex digits of a \u escape.
func hex4(b []byte) (rune, bool) {
	if len(b) < 4 {
		return 0, false
	}
	var r rune
	for _, c := range b[:4] {
		switch {
		case '0' <= c && c <= '9':
			c -= '0'
		case 'a' <= c && c <= 'f':
			c -= 'a' - 10
		case 'A' <= c && c <= 'F':
			c -= 'A' - 10
		default:
			return 0, false
		}
		r = r<<4 | rune(c)
	}
	return r, true
}
