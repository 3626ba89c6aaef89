package chats

import (
	"time"

	"github.com/hashicorp/golang-lru/v2/expirable"

	"github.com/instachat/instachat/pkg/store"
)

// appCache remembers token → application lookups for a minute, and tokens
// that name no application for a few seconds, so a flood of made-up tokens
// costs MySQL one query per token at most every few seconds. The id never
// changes; the name and count may be a minute old, so reads of the
// application itself go to MySQL. Both sides are bounded LRUs.
type appCache struct {
	known   *expirable.LRU[string, store.AppRef]
	unknown *expirable.LRU[string, struct{}]
}

// Cache sizes and lifetimes.
const (
	appCacheSize     = 100_000
	appCacheTTL      = time.Minute
	unknownCacheSize = 100_000
	unknownCacheTTL  = 10 * time.Second
)

func newAppCache() *appCache {
	return &appCache{
		known:   expirable.NewLRU[string, store.AppRef](appCacheSize, nil, appCacheTTL),
		unknown: expirable.NewLRU[string, struct{}](unknownCacheSize, nil, unknownCacheTTL),
	}
}

func (c *appCache) get(token string) (store.AppRef, bool) { return c.known.Get(token) }

func (c *appCache) put(token string, ref store.AppRef) {
	c.unknown.Remove(token)
	c.known.Add(token, ref)
}

// isUnknown reports whether token was found to name no application lately.
func (c *appCache) isUnknown(token string) bool { return c.unknown.Contains(token) }

func (c *appCache) putUnknown(token string) { c.unknown.Add(token, struct{}{}) }
