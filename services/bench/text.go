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
	spec  textSpec
}

// textSpec is the shape of the generated text: vocabulary size, Zipf
// exponent and the range of words per message.
type textSpec struct {
	vocabulary         int
	s                  float64 // Zipf exponent, > 1
	minWords, maxWords int
}

// pipelineText is issue 15's message text, which both pipelines of the
// whole-pipeline ramp get: 4–19 words, Zipf s = 1.07, 20,000 words.
var pipelineText = textSpec{vocabulary: 20000, s: 1.07, minWords: 4, maxWords: 19}

var syllables = []string{"ka", "lo", "mi", "ter", "san", "vo", "ri", "del", "un", "pa", "sho", "gen", "ta", "ble", "or", "qui"}

// newTextGen builds a vocabulary of n distinct words and a Zipf sampler
// (s=1.1) over it, writing 5–30 words a message, deterministic for a seed.
func newTextGen(seed uint64, n int) *textGen {
	return newTextGenSpec(seed, textSpec{vocabulary: n, s: 1.1, minWords: 5, maxWords: 30})
}

// newTextGenSpec builds a generator of text shaped by spec, deterministic
// for a seed.
func newTextGenSpec(seed uint64, spec textSpec) *textGen {
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	n := spec.vocabulary
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
	return &textGen{vocab: vocab, zipf: rand.NewZipf(r, spec.s, 1, uint64(n-1)), r: r, spec: spec}
}

// word returns one word drawn from the Zipf distribution.
func (g *textGen) word() string { return g.vocab[g.zipf.Uint64()] }

// message returns spec.minWords to spec.maxWords words separated by spaces.
func (g *textGen) message() string {
	n := g.spec.minWords + g.r.IntN(g.spec.maxWords-g.spec.minWords+1)
	words := make([]string, n)
	for i := range words {
		words[i] = g.word()
	}
	return strings.Join(words, " ")
}
