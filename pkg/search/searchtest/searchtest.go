// Package searchtest is the conformance suite of the message search contract:
// every search.Engine backend runs searchtest.Run from its own tests.
package searchtest

import (
	"context"
	"errors"
	"testing"

	"github.com/instachat/instachat/pkg/search"
)

// Run checks an engine against the search contract, one subtest per case.
// newEngine must return a fresh, empty engine and close it with t.Cleanup.
// Writes and results may become visible with a delay of up to 10 s, so
// near-real-time backends pass as well as embedded ones.
//
// Options skip single cases a test server cannot pass (say why); the engine
// code itself must not be bent to a test server.
func Run(t *testing.T, newEngine func(t *testing.T) search.Engine, opts ...Option) {
	t.Helper()
	skip := map[string]string{}
	for _, o := range opts {
		o(skip)
	}
	cases := []struct {
		name string
		run  func(t *testing.T, h *harness)
	}{
		{"matching", testMatching},
		{"scope isolation", testScopes},
		{"ranking", testRanking},
		{"pagination", testPagination},
		{"update", testUpdate},
		{"stale version", testStale},
		{"delete", testDelete},
		{"duplicates", testDuplicates},
		{"blank query", testBlank},
		{"ping and switch-over", testPingSwitchOver},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if why, ok := skip[c.name]; ok {
				t.Skipf("skipped for this server: %s", why)
			}
			c.run(t, &harness{e: newEngine(t)})
		})
	}
}

// Option adjusts a Run.
type Option func(skip map[string]string)

// Skip skips the case named name ("ranking", "stale version", …) with a reason.
func Skip(name, reason string) Option {
	return func(skip map[string]string) { skip[name] = reason }
}

// query searches chat 1 of application 1 for text, first page of 100.
func query(text string) search.Query {
	return search.Query{AppID: 1, Chat: 1, Text: text, Limit: 100}
}

// doc is version 1 of message number of chat 1 of application 1.
func doc(number int64, body string) search.Doc {
	return search.Doc{AppID: 1, Chat: 1, Number: number, Body: body, Version: 1}
}

// testMatching covers word prefixes, whole words, required words, case and
// unicode folding, punctuation and long words against one corpus.
func testMatching(t *testing.T, h *harness) {
	h.index(t,
		doc(1, "Hello world"),
		doc(2, "Help is on the way"),
		doc(3, "yellow submarine"),
		doc(4, "HELLO MOON"),
		doc(5, "Café crème"),
		doc(6, "Ünïcode test"),
		doc(7, "東京タワーに行きました"),
		doc(8, `She said "hi 👋" — it's 🎉 done`),
		doc(9, "hello, (world)!"),
		doc(10, "Supercalifragilisticexpialidocious"),
		doc(11, "Привет мир"),
	)
	cases := []struct {
		name, text string
		want       []int64
	}{
		{"prefix", "hel", []int64{1, 2, 4, 9}},
		{"longer prefix", "hell", []int64{1, 4, 9}},
		{"whole word", "hello", []int64{1, 4, 9}},
		{"second word", "world", []int64{1, 9}},
		{"inside a word", "ello", nil},
		{"word ending", "orld", nil},
		{"no such word", "xylophone", nil},
		{"all words", "hello world", []int64{1, 9}},
		{"all words any order", "world hello", []int64{1, 9}},
		{"all word prefixes", "hel wor", []int64{1, 9}},
		{"one word missing", "hello mars", nil},
		{"other pair", "hello moon", []int64{4}},
		{"mixed case query", "HeLLo", []int64{1, 4, 9}},
		{"upper case query", "MOON", []int64{4}},
		{"lower case query", "moon", []int64{4}},
		{"accented word", "café", []int64{5}},
		{"accented second word", "crème", []int64{5}},
		{"diaeresis", "ünïcode", []int64{6}},
		{"diaeresis upper case prefix", "ÜNÏ", []int64{6}},
		{"japanese ideographs", "東京", []int64{7}},
		{"japanese katakana", "タワー", []int64{7}},
		{"cyrillic", "привет", []int64{11}},
		{"cyrillic upper case prefix", "ПРИ", []int64{11}},
		{"word among emoji", "said", []int64{8}},
		{"quoted word", `"hi"`, []int64{8}},
		{"apostrophe", "it's", []int64{8}},
		{"word after emoji", "done", []int64{8}},
		{"trailing comma", "hello,", []int64{1, 4, 9}},
		{"parentheses", "(world)", []int64{1, 9}},
		{"exclamation", "world!", []int64{1, 9}},
		{"long word whole", "supercalifragilisticexpialidocious", []int64{10}},
		{"long word prefix", "SUPERcalifragilistic", []int64{10}},
		{"long word short prefix", "supercal", []int64{10}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h.expectSet(t, query(c.text), c.want...)
		})
	}
}

// testScopes checks that other chats and other applications never leak,
// including scopes whose ids would collide if simply concatenated.
func testScopes(t *testing.T, h *harness) {
	at := func(app, chat, number int64) search.Doc {
		return search.Doc{AppID: app, Chat: chat, Number: number, Body: "hello scope", Version: 1}
	}
	h.index(t,
		at(1, 1, 1),
		at(1, 2, 1), at(1, 2, 2),
		at(2, 1, 1), at(2, 1, 2), at(2, 1, 3),
		at(1, 12, 1),
		at(11, 2, 1), at(11, 2, 2), at(11, 2, 4),
	)
	cases := []struct {
		app, chat int64
		want      []int64
	}{
		{1, 1, []int64{1}},
		{1, 2, []int64{1, 2}},
		{2, 1, []int64{1, 2, 3}},
		{1, 12, []int64{1}},
		{11, 2, []int64{1, 2, 4}},
		{2, 2, nil},
		{3, 1, nil},
	}
	for _, c := range cases {
		q := search.Query{AppID: c.app, Chat: c.chat, Text: "hello", Limit: 100}
		h.expectSet(t, q, c.want...)
	}
}

// testRanking checks best match first: a short message that is just the word
// beats a long one that merely contains it.
func testRanking(t *testing.T, h *harness) {
	h.index(t,
		doc(1, "hello there my dear friend, how are you doing on this fine day"),
		doc(2, "hello"),
	)
	h.expectPage(t, query("hello"), 2, 2, 1)
}

// testPagination checks that pages of equally scored matches follow
// ascending numbers, do not overlap, and all report the same total.
func testPagination(t *testing.T, h *harness) {
	for _, n := range []int64{5, 2, 7, 1, 3, 6, 4} {
		h.index(t, doc(n, "page test message"))
	}
	h.index(t, search.Doc{AppID: 1, Chat: 2, Number: 8, Body: "page test message", Version: 1})
	cases := []struct {
		offset, limit int
		want          []int64
	}{
		{0, 3, []int64{1, 2, 3}},
		{3, 3, []int64{4, 5, 6}},
		{6, 3, []int64{7}},
		{9, 3, nil},
		{0, 100, []int64{1, 2, 3, 4, 5, 6, 7}},
		{2, 1, []int64{3}},
	}
	for _, c := range cases {
		q := query("page")
		q.Offset, q.Limit = c.offset, c.limit
		h.expectPage(t, q, 7, c.want...)
	}
}

// testUpdate checks that a higher version replaces the indexed body.
func testUpdate(t *testing.T, h *harness) {
	h.index(t, doc(1, "original text"), doc(2, "original bystander"))
	h.expectSet(t, query("original"), 1, 2)

	edited := doc(1, "edited words")
	edited.Version = 2
	h.index(t, edited)
	h.expectSet(t, query("original"), 2)
	h.expectSet(t, query("edited"), 1)
	h.expectSet(t, query("text"))
}

// testStale checks that a lower version never replaces a higher one, across
// calls and within one call.
func testStale(t *testing.T, h *harness) {
	fresh := doc(1, "fresh content")
	fresh.Version = 5
	h.index(t, fresh)
	stale := doc(1, "stale content")
	stale.Version = 3
	h.index(t, stale)
	h.expectSet(t, query("stale"))
	h.expectSet(t, query("fresh"), 1)
	h.expectSet(t, query("content"), 1)

	alpha, gamma, beta := doc(2, "alpha"), doc(2, "gamma"), doc(2, "beta")
	alpha.Version, gamma.Version, beta.Version = 1, 3, 2
	h.index(t, alpha, gamma, beta)
	h.expectSet(t, query("alpha"))
	h.expectSet(t, query("beta"))
	h.expectSet(t, query("gamma"), 2)
}

// testDelete checks that deleted messages disappear, unknown keys are
// ignored and the same number in another chat survives.
func testDelete(t *testing.T, h *harness) {
	other := search.Doc{AppID: 1, Chat: 2, Number: 2, Body: "delete me", Version: 1}
	h.index(t, doc(1, "delete me"), doc(2, "delete me"), doc(3, "delete me"), other)
	h.expectSet(t, query("delete"), 1, 2, 3)

	h.remove(t, search.Key{AppID: 1, Chat: 1, Number: 2}, search.Key{AppID: 1, Chat: 1, Number: 99})
	h.expectSet(t, query("delete"), 1, 3)
	h.expectSet(t, search.Query{AppID: 1, Chat: 2, Text: "delete", Limit: 10}, 2)

	h.remove(t, search.Key{AppID: 1, Chat: 1, Number: 1}, search.Key{AppID: 1, Chat: 1, Number: 3})
	h.expectSet(t, query("delete"))
	h.expectSet(t, query("me"))
}

// testDuplicates checks that indexing the same message again, in one call or
// in several, keeps one match.
func testDuplicates(t *testing.T, h *harness) {
	d := doc(1, "twice told tale")
	h.index(t, d, d)
	h.index(t, d)
	h.expectPage(t, query("tale"), 1, 1)
	h.expectPage(t, query("twice told"), 1, 1)
}

// testBlank checks that queries without searchable words match nothing and
// are not errors.
func testBlank(t *testing.T, h *harness) {
	h.index(t, doc(1, "hello world"), doc(2, "... !!! ???"))
	for _, text := range []string{"", "   ", "\t\n", "!!! ???", "(...)", "— – -", `"" ''`} {
		h.expectPage(t, query(text), 0)
	}
}

// testPingSwitchOver: an open engine answers Ping; SwitchOver after a
// rebuild keeps every document searchable (engines that search the index
// they write have nothing to switch); a closed engine's Ping wraps
// search.ErrUnavailable.
func testPingSwitchOver(t *testing.T, h *harness) {
	ctx := context.Background()
	if err := h.e.Ping(ctx); err != nil {
		t.Fatalf("Ping of an open engine: got error %v, want nil", err)
	}
	h.index(t, doc(1, "rebuilt message"))
	if err := h.e.SwitchOver(ctx); err != nil {
		t.Fatalf("SwitchOver: got error %v, want nil", err)
	}
	if err := h.e.SwitchOver(ctx); err != nil {
		t.Fatalf("SwitchOver twice: got error %v, want nil", err)
	}
	h.expectSet(t, query("rebuilt"), 1)
	if err := h.e.Close(); err != nil {
		t.Fatalf("Close: got error %v, want nil", err)
	}
	if err := h.e.Ping(ctx); !errors.Is(err, search.ErrUnavailable) {
		t.Errorf("Ping of a closed engine: got error %v, want one wrapping search.ErrUnavailable", err)
	}
}
