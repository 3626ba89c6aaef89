package elasticsearch

// MappingVersion is part of the concrete index name. Bump it whenever the
// settings or mappings below change: the engine then builds a new index
// beside the old one and moves the alias when the rebuild is done.
const MappingVersion = 1

// maxGram matches the bleve backend: word prefixes of 1–20 characters are
// indexed, and query words are cut to 20.
const maxGram = 20

// indexBody returns the settings and mappings of a message index. Bodies are
// analysed into lowercased (and, with foldAccents, ASCII-folded) word
// prefixes at index time; query words get the same analysis without the
// prefixes, so a match on "hel" is a term lookup, not a wildcard.
func indexBody(shards, replicas int, foldAccents bool) map[string]any {
	filters := []string{"lowercase"}
	if foldAccents {
		filters = append(filters, "asciifolding")
	}
	indexFilters := append(append([]string{}, filters...), "prefixes")
	searchFilters := append(append([]string{}, filters...), "max_gram")
	return map[string]any{
		"settings": map[string]any{
			"number_of_shards":   shards,
			"number_of_replicas": replicas,
			"analysis": map[string]any{
				"filter": map[string]any{
					"prefixes": map[string]any{"type": "edge_ngram", "min_gram": 1, "max_gram": maxGram},
					"max_gram": map[string]any{"type": "truncate", "length": maxGram},
				},
				"analyzer": map[string]any{
					"body_index":  map[string]any{"type": "custom", "tokenizer": "standard", "filter": indexFilters},
					"body_search": map[string]any{"type": "custom", "tokenizer": "standard", "filter": searchFilters},
				},
			},
		},
		"mappings": map[string]any{
			"dynamic": "strict",
			"properties": map[string]any{
				"scope":  map[string]any{"type": "keyword"},
				"number": map[string]any{"type": "long"},
				"body":   map[string]any{"type": "text", "analyzer": "body_index", "search_analyzer": "body_search"},
			},
		},
	}
}

// doc is what the index stores for a message. The body is indexed, not
// needed back: MySQL stays the source of truth.
type doc struct {
	Scope  string `json:"scope"`
	Number int64  `json:"number"`
	Body   string `json:"body"`
}
