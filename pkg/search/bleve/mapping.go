package bleve

import (
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/blevesearch/bleve/v2/analysis"
	"github.com/blevesearch/bleve/v2/analysis/analyzer/custom"
	"github.com/blevesearch/bleve/v2/analysis/analyzer/keyword"
	"github.com/blevesearch/bleve/v2/analysis/char/asciifolding"
	"github.com/blevesearch/bleve/v2/analysis/token/edgengram"
	"github.com/blevesearch/bleve/v2/analysis/token/lowercase"
	"github.com/blevesearch/bleve/v2/analysis/tokenizer/unicode"
	"github.com/blevesearch/bleve/v2/mapping"
)

// MappingVersion identifies the index layout: the fields and analyzers
// NewMapping builds, and the shards and term partitions of partition.go. Bump
// it whenever one of them changes: Open then builds a new, empty index in
// Path/v<MappingVersion>, removes the other versions and reports Fresh so the
// caller reindexes from MySQL.
//
// 4: partitioned by chat over shards and term groups. 3 (reverted, never to
// be reused): chat-scoped terms. 2: zero-padded ids break score ties.
const MappingVersion = 4

// maxGram is the longest word prefix that is indexed; longer query words are
// cut to this length so that they still find the word.
const maxGram = 20

// Field, analyzer and metadata names. They are part of the mapping: changing
// one requires bumping MappingVersion.
const (
	fieldScope   = "scope"   // "<app>:<chat>", keyword, the scope filter
	fieldVersion = "version" // decimal string, stored only (exact for any int64)
	fieldBody    = "body"    // "<partition>\x1f<n-gram>": edge n-grams of the body's words

	filterEdgeNgram = "edge_ngram_1_20"
	analyzerIndex   = "body_index" // fold, tokenize, lowercase, edge n-grams
	analyzerQuery   = "body_query" // the same without n-grams
)

// indexDoc is a message as bleve stores it; the json tags name the fields.
type indexDoc struct {
	Scope   string `json:"scope"`
	Version string `json:"version"`
	Body    string `json:"body"`
}

// NewMapping builds the index mapping: only the fields above are indexed, and
// nothing is dynamic, so a stray field can never change the layout. The
// benchmark's reference pipeline indexes with it too, so that the two
// pipelines pay for the same analysis. The engine analyzes the body with the
// mapping's analyzerIndex and then puts the chat's partition in front of
// every term (see prefixedAnalyzer), which a mapping cannot express.
func NewMapping() (*mapping.IndexMappingImpl, error) {
	im := mapping.NewIndexMapping()
	im.DefaultAnalyzer = keyword.Name
	im.IndexDynamic = false
	im.StoreDynamic = false
	im.DocValuesDynamic = false
	if err := addBodyAnalyzers(im); err != nil {
		return nil, err
	}
	im.DefaultMapping = documentMapping()
	if err := im.Validate(); err != nil {
		return nil, fmt.Errorf("validate mapping: %w", err)
	}
	return im, nil
}

// addBodyAnalyzers registers the body's analyzers in im: analyzerIndex
// indexes the edge n-grams of each word, analyzerQuery reads query words.
func addBodyAnalyzers(im *mapping.IndexMappingImpl) error {
	err := im.AddCustomTokenFilter(filterEdgeNgram, map[string]any{
		"type": edgengram.Name,
		"min":  1.0,
		"max":  float64(maxGram),
	})
	if err != nil {
		return fmt.Errorf("add edge n-gram filter: %w", err)
	}
	// Accents are folded at both ends ("cafe" finds "café" and back), which
	// chat users expect; an Elasticsearch backend should use asciifolding too.
	err = im.AddCustomAnalyzer(analyzerIndex, map[string]any{
		"type":          custom.Name,
		"char_filters":  []string{asciifolding.Name},
		"tokenizer":     unicode.Name,
		"token_filters": []string{lowercase.Name, filterEdgeNgram},
	})
	if err != nil {
		return fmt.Errorf("add index analyzer: %w", err)
	}
	err = im.AddCustomAnalyzer(analyzerQuery, map[string]any{
		"type":          custom.Name,
		"char_filters":  []string{asciifolding.Name},
		"tokenizer":     unicode.Name,
		"token_filters": []string{lowercase.Name},
	})
	if err != nil {
		return fmt.Errorf("add query analyzer: %w", err)
	}
	return nil
}

// documentMapping maps a message's three fields, each with only what
// searching needs: the scope indexed as a keyword, the version stored, the
// body indexed through analyzerIndex.
func documentMapping() *mapping.DocumentMapping {
	scope := mapping.NewKeywordFieldMapping()
	scope.Store = false
	scope.IncludeInAll = false
	scope.IncludeTermVectors = false
	scope.DocValues = false

	version := mapping.NewKeywordFieldMapping()
	version.Index = false
	version.Store = true
	version.IncludeInAll = false
	version.IncludeTermVectors = false
	version.DocValues = false

	body := mapping.NewTextFieldMapping()
	body.Analyzer = analyzerIndex
	body.Store = false
	body.IncludeInAll = false
	body.IncludeTermVectors = false
	body.DocValues = false

	doc := mapping.NewDocumentStaticMapping()
	doc.AddFieldMappingsAt(fieldScope, scope)
	doc.AddFieldMappingsAt(fieldVersion, version)
	doc.AddFieldMappingsAt(fieldBody, body)
	return doc
}

// scopeOf names the chat a document belongs to; the separator keeps app 1
// chat 12 apart from app 11 chat 2.
func scopeOf(appID, chat int64) string {
	return strconv.FormatInt(appID, 10) + ":" + strconv.FormatInt(chat, 10)
}

// docID names a message in the index: "<app>:<chat>:<number>", the number
// zero-padded to 19 digits so the ids of one chat sort as their numbers do.
// Searches break score ties on the id, which bleve reads per hit from the
// hit's own small stored record; a numeric sort field would instead decode,
// per hit, a compressed doc-value chunk shared with a thousand other messages
// (most of a search's time over a million messages).
func docID(appID, chat, number int64) string {
	return fmt.Sprintf("%s:%019d", scopeOf(appID, chat), number)
}

// numberOf reads the message number back from a document id.
func numberOf(id string) (int64, error) {
	i := strings.LastIndexByte(id, ':')
	n, err := strconv.ParseInt(id[i+1:], 10, 64)
	if err != nil {
		return 0, fmt.Errorf("parse document id %q: %w", id, err)
	}
	return n, nil
}

// queryTerms turns the query text into the body terms it requires, all of
// them, each word once and behind prefix (see termPrefix); none when nothing
// searchable is left. Words are analyzed like the body minus the n-grams and
// cut to maxGram runes because longer prefixes were never indexed.
func queryTerms(a analysis.Analyzer, prefix, text string) []string {
	tokens := a.Analyze([]byte(text))
	seen := make(map[string]bool, len(tokens))
	terms := make([]string, 0, len(tokens))
	for _, tok := range tokens {
		word := truncateRunes(string(tok.Term), maxGram)
		if word == "" || seen[word] {
			continue
		}
		seen[word] = true
		terms = append(terms, prefix+word)
	}
	return terms
}

// truncateRunes cuts s to at most n runes.
func truncateRunes(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	i := 0
	for count := 0; count < n; count++ {
		_, size := utf8.DecodeRuneInString(s[i:])
		i += size
	}
	return s[:i]
}
