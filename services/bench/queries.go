package main

import (
	"math/rand/v2"
	"strings"
)

// queryKind is one way users search, with its share of the queries.
type queryKind struct {
	name   string
	weight int
	about  string // for the report
}

// queryKinds is the query mix. Partial words are word-start prefixes because
// that is what the index matches (edge n-grams of each word, pkg/search/bleve);
// infixes are asked too, as users type them, and find the words that begin
// with the infix.
var queryKinds = []queryKind{
	{"word", 35, "one whole word drawn by its frequency in the bodies (common words dominate)"},
	{"rare word", 15, "one whole word drawn uniformly from the less frequent 80 % of the vocabulary"},
	{"prefix", 25, "the first 3–5 letters of a word drawn by frequency (always shorter than the word)"},
	{"infix", 5, "3–5 letters from inside a word drawn by frequency (never its start)"},
	{"two words", 20, "two different words drawn by frequency, both required"},
}

// largeQueryShare is the share of queries aimed at the large chat: more than
// its share of the messages, so its percentiles rest on enough samples.
const largeQueryShare = 0.2

// searchQuery is one request of the search load.
type searchQuery struct {
	large bool   // aimed at the large chat
	chat  int    // index of the typical chat when not large
	kind  string // a queryKinds name
	text  string
}

// class names the chat class of a query, as the report groups them.
func (q searchQuery) class() string {
	if q.large {
		return "large"
	}
	return "typical"
}

// name is the query's row in the recorder: class and kind.
func (q searchQuery) name() string { return q.class() + " " + q.kind }

// queryGen draws queries over the vocabulary of the message bodies.
type queryGen struct {
	vocab []string
	zipf  *rand.Zipf
	r     *rand.Rand
}

// newQueryGen draws over text's vocabulary with the same Zipf law but its
// own random stream (seed), so the queries do not replay the bodies.
func newQueryGen(text *textGen, seed uint64) *queryGen {
	r := rand.New(rand.NewPCG(seed, seed^0x5851f42d4c957f2d))
	return &queryGen{vocab: text.vocab, zipf: rand.NewZipf(r, 1.1, 1, uint64(len(text.vocab)-1)), r: r}
}

func (g *queryGen) frequent() string { return g.vocab[g.zipf.Uint64()] }

// longer draws a word by frequency with at least n letters.
func (g *queryGen) longer(n int) string {
	for {
		if w := g.frequent(); len(w) >= n {
			return w
		}
	}
}

// text returns the query text of kind.
func (g *queryGen) text(kind string) string {
	switch kind {
	case "rare word":
		tail := len(g.vocab) / 5
		return g.vocab[tail+g.r.IntN(len(g.vocab)-tail)]
	case "prefix":
		w := g.longer(4)
		return w[:min(3+g.r.IntN(3), len(w)-1)]
	case "infix":
		w := g.longer(5)
		start := 1 + g.r.IntN(len(w)-3)       // at least 3 letters remain
		n := min(3+g.r.IntN(3), len(w)-start) // 3–5 letters
		return w[start : start+n]
	case "two words":
		a := g.frequent()
		for {
			if b := g.frequent(); b != a {
				return a + " " + b
			}
		}
	}
	return g.frequent()
}

// kind picks a query kind by weight.
func (g *queryGen) kind() string {
	total := 0
	for _, k := range queryKinds {
		total += k.weight
	}
	x := g.r.IntN(total)
	for _, k := range queryKinds {
		if x < k.weight {
			return k.name
		}
		x -= k.weight
	}
	return queryKinds[len(queryKinds)-1].name
}

// queries returns n queries, each aimed at the large chat with probability
// largeQueryShare when hasLarge, otherwise at one of typical chats uniformly.
func (g *queryGen) queries(n, typical int, hasLarge bool) []searchQuery {
	out := make([]searchQuery, n)
	for i := range out {
		q := searchQuery{kind: g.kind()}
		if hasLarge && g.r.Float64() < largeQueryShare {
			q.large = true
		} else {
			q.chat = g.r.IntN(typical)
		}
		q.text = g.text(q.kind)
		out[i] = q
	}
	return out
}

// matches reports whether body answers query as the index does: every query
// word begins some word of the body (case-insensitive).
func matches(query, body string) bool {
	words := strings.Fields(strings.ToLower(body))
	for _, q := range strings.Fields(strings.ToLower(query)) {
		found := false
		for _, w := range words {
			if strings.HasPrefix(w, q) {
				found = true
				break
			}
		}
		if !found {
			return false
		}
	}
	return true
}
