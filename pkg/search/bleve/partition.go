package bleve

import (
	"hash/fnv"
	"strconv"

	"github.com/blevesearch/bleve/v2/analysis"
	"github.com/blevesearch/bleve/v2/document"
	index "github.com/blevesearch/bleve_index_api"
)

// The index is partitioned by chat, as Elasticsearch routes documents by a
// key: every message of a chat lives in one of partitions partitions, chosen
// by a hash of its scope. A partition is one of groupsPerShard term groups of
// one of shardCount shards (bleve indexes); its body terms carry its number,
// "<p>\x1f<n-gram>", so a common word's postings in one partition hold a
// quarter of the index. A search reads one partition's postings, intersected
// with the chat's scope term.
//
// Why: bleve's postings iterator steps through every posting of a term that
// it skips over, so a search costs what the term's postings hold in the
// index searched, not what the chat holds. But every partition a batch
// touches adds terms to the batch's segment and to every merge, so more
// partitions cost indexing CPU: these 4 cost 28 % more than one (140 → 179
// µs per message in TestIndexCost), one per chat about twice as much. Each
// shard merges its own segments in the background, so the merges of one
// are small; shards beyond two cost more, each writing and merging its own
// small segments. Index writes the shards one after another. See
// docs/adr/0017.
const (
	groupsPerShard = 2
	partitions     = shardCount * groupsPerShard

	// termSeparator ends a term's partition number; it cannot occur in the
	// number, so the number ends at its first occurrence.
	termSeparator = '\x1f'
)

// partitionOf is the partition of a chat, named by its scope. It is part of
// the layout: changing it, or the number of partitions, requires bumping
// MappingVersion.
func partitionOf(scope string) int {
	h := fnv.New32a()
	_, _ = h.Write([]byte(scope)) // never fails
	return int(h.Sum32() % partitions)
}

// shardOfPartition is the shard that holds partition p.
func shardOfPartition(p int) int { return p % shardCount }

// termPrefix is what the body terms of partition p begin with.
func termPrefix(p int) string { return strconv.Itoa(p) + string(termSeparator) }

// prefixedAnalyzer analyzes a body with the mapping's analyzerIndex and puts
// the partition's prefix in front of every term. Token positions and counts
// are unchanged, so a match scores as it would unprefixed: the field length
// (the norm) and the term frequencies are the same.
type prefixedAnalyzer struct {
	base   analysis.Analyzer
	prefix string
}

// Analyze implements analysis.Analyzer.
func (a prefixedAnalyzer) Analyze(text []byte) analysis.TokenStream {
	tokens := a.base.Analyze(text)
	n := 0
	for _, t := range tokens {
		n += len(a.prefix) + len(t.Term)
	}
	buf := make([]byte, 0, n) // one allocation for every term of the body
	for _, t := range tokens {
		start := len(buf)
		buf = append(buf, a.prefix...)
		buf = append(buf, t.Term...)
		t.Term = buf[start:len(buf):len(buf)]
	}
	return tokens
}

// newDocument builds the index document of a message of partition p: the
// fields of documentMapping, with the body analyzed by a prefixedAnalyzer.
func newDocument(id string, d indexDoc, p int, body analysis.Analyzer) *document.Document {
	doc := document.NewDocument(id)
	// A nil analyzer indexes the whole value as one term: a keyword.
	doc.AddField(document.NewTextFieldCustom(fieldScope, nil, []byte(d.Scope), index.IndexField, nil))
	doc.AddField(document.NewTextFieldCustom(fieldVersion, nil, []byte(d.Version), index.StoreField, nil))
	doc.AddField(document.NewTextFieldCustom(fieldBody, nil, []byte(d.Body), index.IndexField,
		prefixedAnalyzer{base: body, prefix: termPrefix(p)}))
	return doc
}
