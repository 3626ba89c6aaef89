package main

import (
	"math/rand/v2"
	"strings"
)

// textGen writes synthetic message bodies whose word frequencies follow a
// Zipf law, as natural language does, so search sees realistic term skew.
type textGen struct {
	vocab []string
	zipf  *rand.Zipf
	r     *rand.Rand
}

var syllables = []string{"ka", "lo", "mi", "ter", "san", "vo", "ri", "del", "un", "pa", "sho", "gen", "ta", "ble", "or", "qui"}

// newTextGen builds a vocabulary of n distinct words and a Zipf sampler
// (s=1.1) over it, deterministic for a seed.
func newTextGen(seed uint64, n int) *textGen {
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	vocab := make([]string, 0, n)
	seen := make(map[string]bool, n)
	for len(vocab) < n {
		var b strings.Builder
		for k := 1 + r.IntN(4); k > 0; k-- {
			b.WriteString(syllables[r.IntN(len(syllables))])
		}
		w := b.String()
		if !seen[w] {
			seen[w] = true
			vocab = append(vocab, w)
		}
	}
	return &textGen{vocab: vocab, zipf: rand.NewZipf(r, 1.1, 1, uint64(n-1)), r: r}
}

// word returns one word drawn from the Zipf distribution.
func (g *textGen) word() string { return g.vocab[g.zipf.Uint64()] }

// message returns 5–30 words separated by spaces.
func (g *textGen) message() string {
	n := 5 + g.r.IntN(26)
	words := make([]string, n)
	for i := range words {
		words[i] = g.word()
	}
	return strings.Join(words, " ")
}
