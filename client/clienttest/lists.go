package clienttest

import (
	"net/http"
	"slices"
	"strconv"
	"strings"
	"unicode"
)

type (
	cursorJSON struct {
		Before *int64 `json:"before,omitempty"`
		After  *int64 `json:"after,omitempty"`
	}
	// listMeta is the mode-specific part of a list: page fields in legacy
	// mode, cursor fields in cursor mode.
	listMeta struct {
		Page     *int        `json:"page,omitempty"`
		PerPage  *int        `json:"per_page,omitempty"`
		Total    *int64      `json:"total,omitempty"`
		Limit    *int        `json:"limit,omitempty"`
		HasMore  *bool       `json:"has_more,omitempty"`
		Next     *cursorJSON `json:"next,omitempty"`
		Previous *cursorJSON `json:"previous,omitempty"`
		Size     *int64      `json:"size,omitempty"`
	}
	chatListJSON struct {
		Chats []chatJSON `json:"chats"`
		listMeta
	}
	messageListJSON struct {
		Messages []messageJSON `json:"messages"`
		listMeta
	}
)

// listParams are a list's query parameters in one of the two modes.
type listParams struct {
	cursor        bool
	before, after int64 // before 0: from the newest
	forward       bool
	limit         int
	page, perPage int
}

func positiveParam(q map[string][]string, name string, zeroOK bool) (int64, bool, *reply) {
	vs, present := q[name]
	if !present {
		return 0, false, nil
	}
	raw := vs[0]
	n, err := strconv.ParseInt(raw, 10, 64)
	if err != nil || n < 0 || (n == 0 && !zeroOK) || raw != strconv.FormatInt(n, 10) {
		rep := fail(http.StatusBadRequest, "%s must be a positive integer written without sign, spaces or leading zeros", name)
		return 0, true, &rep
	}
	return n, true, nil
}

// parseList reads before/after/limit (cursor mode, when any is present) or
// page/per_page (legacy mode, capped at item 10000).
func parseList(r request) (listParams, *reply) {
	q := r.URL.Query()
	var p listParams
	before, hasBefore, bad := positiveParam(q, "before", false)
	if bad != nil {
		return p, bad
	}
	// after=0 starts at the oldest item: the only way to walk forward from
	// the beginning.
	after, hasAfter, bad := positiveParam(q, "after", true)
	if bad != nil {
		return p, bad
	}
	limit, hasLimit, bad := positiveParam(q, "limit", false)
	if bad != nil {
		return p, bad
	}
	page, hasPage, bad := positiveParam(q, "page", false)
	if bad != nil {
		return p, bad
	}
	perPage, hasPerPage, bad := positiveParam(q, "per_page", false)
	if bad != nil {
		return p, bad
	}
	p.cursor = hasBefore || hasAfter || hasLimit
	switch {
	case p.cursor && (hasPage || hasPerPage):
		return p, ptr(fail(http.StatusBadRequest, "before=, after= and limit= cannot be combined with page= or per_page="))
	case hasBefore && hasAfter:
		return p, ptr(fail(http.StatusBadRequest, "give before= or after=, not both"))
	case hasLimit && limit > maxLimit:
		return p, ptr(fail(http.StatusBadRequest, "limit must be between 1 and %d", maxLimit))
	case p.cursor:
		p.before, p.after, p.forward, p.limit = before, after, hasAfter, int(limit)
		if !hasLimit {
			p.limit = defaultLimit
		}
		return p, nil
	}
	p.page, p.perPage = 1, defaultPerPage
	if hasPage {
		p.page = int(page)
	}
	if hasPerPage {
		p.perPage = int(perPage)
	}
	switch {
	case p.page > maxPage:
		return p, ptr(fail(http.StatusBadRequest, "page must be between 1 and %d", maxPage))
	case p.perPage > maxPerPage:
		return p, ptr(fail(http.StatusBadRequest, "per_page must be between 1 and %d", maxPerPage))
	case (p.page-1)*p.perPage > maxListOffset:
		return p, ptr(fail(http.StatusBadRequest, "page × per_page reaches past item %d; page deeper with before= or after= and limit= (each answer carries the next cursor)", maxListOffset))
	}
	return p, nil
}

func ptr[T any](v T) *T { return &v }

// page picks the numbers (ascending, live) of one page and fills meta.
func (p listParams) pick(numbers []int64, size int64) ([]int64, listMeta) {
	if !p.cursor {
		total := int64(len(numbers))
		from := min((p.page-1)*p.perPage, len(numbers))
		to := min(from+p.perPage, len(numbers))
		return numbers[from:to], listMeta{Page: ptr(p.page), PerPage: ptr(p.perPage), Total: &total}
	}
	var sel []int64
	if p.forward {
		i, _ := slices.BinarySearch(numbers, p.after+1)
		sel = slices.Clone(numbers[i:])
	} else {
		end := len(numbers)
		if p.before > 0 {
			end, _ = slices.BinarySearch(numbers, p.before)
		}
		sel = slices.Clone(numbers[:end])
		slices.Reverse(sel)
	}
	hasMore := len(sel) > p.limit
	sel = sel[:min(len(sel), p.limit)]
	meta := listMeta{Limit: ptr(p.limit), HasMore: &hasMore, Size: &size}
	if len(sel) > 0 {
		first, last := sel[0], sel[len(sel)-1]
		if p.forward {
			meta.Previous = &cursorJSON{Before: &first}
			if hasMore {
				meta.Next = &cursorJSON{After: &last}
			}
		} else {
			meta.Previous = &cursorJSON{After: &first}
			if hasMore {
				meta.Next = &cursorJSON{Before: &last}
			}
		}
	}
	return sel, meta
}

func liveNumbers[T any](m map[int64]*T, deleted func(*T) bool) []int64 {
	var out []int64
	for n, v := range m {
		if !deleted(v) {
			out = append(out, n)
		}
	}
	slices.Sort(out)
	return out
}

func listChats(f *fake, r request) reply {
	a, _, _, bad := f.lookup(r)
	if bad != nil {
		return *bad
	}
	p, bad := parseList(r)
	if bad != nil {
		return *bad
	}
	sel, meta := p.pick(liveNumbers(a.chats, func(c *chat) bool { return c.deleted }), a.liveChats())
	out := chatListJSON{Chats: make([]chatJSON, len(sel)), listMeta: meta}
	for i, n := range sel {
		out.Chats[i] = a.chats[n].json()
	}
	return f.positioned(ok(http.StatusOK, out))
}

func listMessages(f *fake, r request) reply {
	if kw, isSearch := r.URL.Query()["keyword"]; isSearch {
		return search(f, r, kw[0])
	}
	_, c, _, bad := f.lookup(r)
	if bad != nil {
		return *bad
	}
	p, bad := parseList(r)
	if bad != nil {
		return *bad
	}
	sel, meta := p.pick(liveNumbers(c.messages, func(m *message) bool { return m.deleted }), c.liveMessages())
	out := messageListJSON{Messages: make([]messageJSON, len(sel)), listMeta: meta}
	for i, n := range sel {
		out.Messages[i] = c.messages[n].json(c.number)
	}
	return f.positioned(ok(http.StatusOK, out))
}

func searchMessages(f *fake, r request) reply {
	q := r.URL.Query()
	text, has := q["q"]
	if !has {
		text = q["query"]
	}
	if len(text) == 0 {
		return search(f, r, "")
	}
	return search(f, r, text[0])
}

// search matches every word of text as a prefix of a word of the body,
// case-insensitively; results in number order (the api ranks them).
func search(f *fake, r request, text string) reply {
	_, c, _, bad := f.lookup(r)
	if bad != nil {
		return *bad
	}
	terms := words(text)
	if len(terms) == 0 {
		return fail(http.StatusBadRequest, "q must have at least one word")
	}
	p, bad := parseList(r)
	if bad != nil {
		return *bad
	}
	if p.cursor {
		return fail(http.StatusBadRequest, "search pages with page= and per_page=")
	}
	if p.page*p.perPage > maxWindow {
		return fail(http.StatusBadRequest, "search results can be paged only to result %d: page × per_page must be at most %d", maxWindow, maxWindow)
	}
	var hits []int64
	for _, n := range liveNumbers(c.messages, func(m *message) bool { return m.deleted }) {
		if matches(words(c.messages[n].body), terms) {
			hits = append(hits, n)
		}
	}
	sel, meta := p.pick(hits, 0)
	out := messageListJSON{Messages: make([]messageJSON, len(sel)), listMeta: meta}
	for i, n := range sel {
		out.Messages[i] = c.messages[n].json(c.number)
	}
	return ok(http.StatusOK, out)
}

func words(s string) []string {
	return strings.FieldsFunc(strings.ToLower(s), func(c rune) bool { return !unicode.IsLetter(c) && !unicode.IsDigit(c) })
}

func matches(body, terms []string) bool {
	for _, t := range terms {
		if !slices.ContainsFunc(body, func(w string) bool { return strings.HasPrefix(w, t) }) {
			return false
		}
	}
	return true
}
