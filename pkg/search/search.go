// Package search defines the message search contract that every backend
// (bleve embedded, Elasticsearch) implements. MySQL stays the source of truth:
// an engine returns message numbers and a total, never message bodies.
package search

import (
	"context"
	"errors"
	"fmt"
)

// ErrUnavailable is returned (wrapped) when the engine cannot serve a request;
// the api answers 503 and the index catches up later.
var ErrUnavailable = errors.New("search engine unavailable")

// MaxWindow is how deep a search may page: Offset+Limit of a Query is at most
// this many results. It is Elasticsearch's default index.max_result_window;
// every engine refuses beyond it, so clients meet the same limit whatever the
// backend, and the api refuses such pages before asking an engine.
const MaxWindow = 10000

// ErrBeyondWindow is returned (wrapped) for a query whose page ends beyond
// MaxWindow (or the engine's own, smaller window). It is the client's
// mistake, not an outage: retrying cannot help, so the api answers 400.
var ErrBeyondWindow = errors.New("search page beyond the result window")

// Doc is one message as the index sees it: its key, body and version.
type Doc struct {
	AppID   int64  // internal application id: the scope filter, never shown to clients
	Chat    int64  // chat number within the application
	Number  int64  // message number within the chat
	Body    string // message text
	Version int64  // grows with every change; a lower version never replaces a higher one
}

// Key names one message in the index.
type Key struct {
	AppID  int64
	Chat   int64
	Number int64
}

// Key returns the key of the document.
func (d Doc) Key() Key { return Key{AppID: d.AppID, Chat: d.Chat, Number: d.Number} }

// Query is a search for messages of one chat. Text is split into words; every
// word must match the beginning of a word of the body, case-insensitively.
type Query struct {
	AppID  int64
	Chat   int64
	Text   string
	Offset int
	Limit  int
}

// CheckWindow returns an error wrapping ErrBeyondWindow when the query's page
// ends beyond MaxWindow.
func (q Query) CheckWindow() error {
	if q.Offset > MaxWindow-q.Limit {
		return fmt.Errorf("results %d to %d: %w of %d", q.Offset+1, q.Offset+q.Limit, ErrBeyondWindow, MaxWindow)
	}
	return nil
}

// Result lists matching message numbers, best match first (ties by ascending
// number), and the total number of matches.
type Result struct {
	Numbers []int64
	Total   int64
}

// Info describes an opened engine.
type Info struct {
	// Backend names the implementation: "bleve" or "elasticsearch".
	Backend string
	// Index names the versioned index the engine writes; a rebuild's resume
	// position belongs to it, so a new mapping starts a new rebuild.
	Index string
	// Fresh is true when opening created a new, empty index that must be
	// rebuilt from MySQL.
	Fresh bool
}

// Engine is a message search backend.
type Engine interface {
	// Info describes the engine as it was opened.
	Info() Info
	// Index adds or replaces documents. A document whose Version is lower than
	// the indexed one is ignored (it is stale), not an error.
	Index(ctx context.Context, docs []Doc) error
	// Delete removes documents; unknown keys are ignored.
	Delete(ctx context.Context, keys []Key) error
	// Search runs a query scoped to one chat.
	Search(ctx context.Context, q Query) (Result, error)
	// SwitchOver moves searches to the index a rebuild has just filled. An
	// engine that builds a new index beside the searched one (Elasticsearch
	// after a mapping change) switches then; the others have nothing to do.
	SwitchOver(ctx context.Context) error
	// Ping reports whether the engine can serve requests now, with an error
	// wrapping ErrUnavailable when it cannot; readiness checks call it.
	Ping(ctx context.Context) error
	// Close releases the engine's resources.
	Close() error
}
