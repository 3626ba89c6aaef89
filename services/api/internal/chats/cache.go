package chats

import (
	"sync"
	"time"

	"github.com/instachat/instachat/pkg/store"
)

// appCache remembers token → application lookups for a short time. The id
// never changes; the name and count may be a few seconds old, so reads of the
// application itself go to MySQL.
type appCache struct {
	mu      sync.Mutex
	ttl     time.Duration
	max     int
	entries map[string]cacheEntry
}

type cacheEntry struct {
	ref     store.AppRef
	expires time.Time
}

func newAppCache(ttl time.Duration, max int) *appCache {
	return &appCache{ttl: ttl, max: max, entries: make(map[string]cacheEntry)}
}

func (c *appCache) get(token string, now time.Time) (store.AppRef, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[token]
	if !ok || now.After(e.expires) {
		return store.AppRef{}, false
	}
	return e.ref, true
}

func (c *appCache) put(token string, ref store.AppRef, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.entries) >= c.max {
		// Drop expired entries, then arbitrary ones: a miss costs one indexed query.
		for k, e := range c.entries {
			if now.After(e.expires) || len(c.entries) >= c.max {
				delete(c.entries, k)
			}
		}
	}
	c.entries[token] = cacheEntry{ref: ref, expires: now.Add(c.ttl)}
}
