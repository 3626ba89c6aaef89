package main

import (
	"time"

	"github.com/instachat/instachat/pkg/config"
	"github.com/instachat/instachat/pkg/search/elasticsearch"
	"github.com/instachat/instachat/services/api/internal/index"
)

// readEngineConfig reads the search backend switch: bleve unless an
// Elasticsearch URL is configured or the backend is named.
func readEngineConfig(env *config.Env) index.Config {
	cfg := index.Config{
		BlevePath: env.String("BLEVE_PATH", "data/bleve"),
		Elastic: elasticsearch.Config{
			URL:         env.String("ELASTICSEARCH_URL", ""),
			Alias:       env.String("ELASTICSEARCH_INDEX", "instachat-messages"),
			Shards:      env.Int("ELASTICSEARCH_SHARDS", 1),
			Replicas:    env.Int("ELASTICSEARCH_REPLICAS", 0),
			KeepAccents: env.String("ELASTICSEARCH_ASCII_FOLDING", "true") == "false",
			Timeout:     env.Duration("ELASTICSEARCH_TIMEOUT", 10*time.Second),
		},
	}
	def := "bleve"
	if cfg.Elastic.URL != "" {
		def = "elasticsearch"
	}
	cfg.Backend = env.String("SEARCH_BACKEND", def)
	return cfg
}
