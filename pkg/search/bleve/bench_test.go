package bleve

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/instachat/instachat/pkg/search"
)

// benchVocabulary is the vocabulary of generated message bodies.
const benchVocabulary = `hello world help yellow message chat search
	index bleve meeting tomorrow lunch coffee café über naïve 東京 タワー привет
	deploy release weekend project update review merge question answer thanks
	supercalifragilisticexpialidocious`

// benchDocs generates n messages of chat 1 of application 1, numbered from
// first, with bodies of 5 to 20 words.
func benchDocs(rng *rand.Rand, first, n, version int64) []search.Doc {
	vocabulary := strings.Fields(benchVocabulary)
	docs := make([]search.Doc, n)
	for i := range docs {
		words := make([]string, 5+rng.IntN(16))
		for j := range words {
			words[j] = vocabulary[rng.IntN(len(vocabulary))]
		}
		docs[i] = search.Doc{AppID: 1, Chat: 1, Number: first + int64(i), Version: version, Body: strings.Join(words, " ")}
	}
	return docs
}

func openBench(b *testing.B) *Engine {
	b.Helper()
	e, err := Open(Config{Path: b.TempDir()})
	if err != nil {
		b.Fatalf("Open: %v", err)
	}
	b.Cleanup(func() { _ = e.Close() })
	return e
}

// BenchmarkIndexBatch indexes batches of 500 messages: new ones (version
// look-ups miss) and updates of existing ones (look-ups hit).
func BenchmarkIndexBatch(b *testing.B) {
	const size = 500
	ctx := context.Background()
	b.Run("new", func(b *testing.B) {
		e := openBench(b)
		rng := rand.New(rand.NewPCG(1, 2))
		var next int64 = 1
		for b.Loop() {
			if err := e.Index(ctx, benchDocs(rng, next, size, 1)); err != nil {
				b.Fatalf("Index: %v", err)
			}
			next += size
		}
	})
	b.Run("update", func(b *testing.B) {
		e := openBench(b)
		rng := rand.New(rand.NewPCG(1, 2))
		var version int64 = 1
		for b.Loop() {
			if err := e.Index(ctx, benchDocs(rng, 1, size, version)); err != nil {
				b.Fatalf("Index: %v", err)
			}
			version++
		}
	})
}

// BenchmarkSearch searches one chat of 10,000 messages, next to another chat
// of the same size.
func BenchmarkSearch(b *testing.B) {
	ctx := context.Background()
	e := openBench(b)
	rng := rand.New(rand.NewPCG(3, 4))
	for first := int64(1); first <= 10_000; first += 500 {
		other := benchDocs(rng, first, 500, 1)
		for i := range other {
			other[i].Chat = 2
		}
		if err := e.Index(ctx, append(benchDocs(rng, first, 500, 1), other...)); err != nil {
			b.Fatalf("Index: %v", err)
		}
	}
	for _, text := range []string{"h", "hel", "hello world", "meeting tomorrow lunch", "supercalifragilisticexpialidocious", "zzz"} {
		b.Run(fmt.Sprintf("%q", text), func(b *testing.B) {
			q := search.Query{AppID: 1, Chat: 1, Text: text, Limit: 20}
			for b.Loop() {
				if _, err := e.Search(ctx, q); err != nil {
					b.Fatalf("Search: %v", err)
				}
			}
		})
	}
}
