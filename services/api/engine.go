package main

import (
	"fmt"

	"github.com/instachat/instachat/pkg/config"
	"github.com/instachat/instachat/pkg/search"
	"github.com/instachat/instachat/pkg/search/bleve"
)

// engineConfig is the search backend switch: bleve unless an Elasticsearch
// URL is configured or the backend is named.
type engineConfig struct {
	Backend   string
	BlevePath string
}

func readEngineConfig(env *config.Env) engineConfig {
	return engineConfig{
		Backend:   env.String("SEARCH_BACKEND", "bleve"),
		BlevePath: env.String("BLEVE_PATH", "data/bleve"),
	}
}

// openEngine opens the configured search backend.
func openEngine(cfg engineConfig) (search.Engine, error) {
	switch cfg.Backend {
	case "bleve":
		return bleve.Open(bleve.Config{Path: cfg.BlevePath})
	}
	return nil, fmt.Errorf("SEARCH_BACKEND %q is not supported (use bleve)", cfg.Backend)
}
