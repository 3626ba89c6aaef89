// Package reindex is the wire format of POST /internal/reindex, the call by
// which a writer hands the api the messages it just committed. The writer
// encodes these types and the api decodes them, so the two sides cannot
// disagree on a field.
package reindex

import "github.com/instachat/instachat/pkg/search"

// Path is the api's route for reindex calls.
const Path = "/internal/reindex"

// Request is the body of a reindex call. Empty lists are left out.
type Request struct {
	Docs    []Doc `json:"docs,omitempty"`
	Deleted []Key `json:"deleted,omitempty"`
}

// Response is the api's answer to a call it took.
type Response struct {
	Indexed int `json:"indexed"`
	Deleted int `json:"deleted"`
}

// Doc is one committed message, with what the api needs to follow it besides
// indexing it: the trace of the request that changed it and when the api
// accepted that change.
type Doc struct {
	AppID   int64  `json:"app_id"`  // internal application id, never shown to clients
	Chat    int64  `json:"chat"`    // chat number within the application
	Number  int64  `json:"number"`  // message number within the chat
	Body    string `json:"body"`    // message text
	Version int64  `json:"version"` // the row's lock_version: a lower one never replaces a higher one
	// Trace is the trace id of the request that last changed the message,
	// so the api's logs can follow it.
	Trace string `json:"trace,omitempty"`
	// Accepted is when the api accepted the change (Unix microseconds), for
	// the searchable-lag metric.
	Accepted int64 `json:"accepted,omitempty"`
}

// Key returns the document's key.
func (d Doc) Key() Key { return Key{AppID: d.AppID, Chat: d.Chat, Number: d.Number} }

// Search returns the document as the index stores it.
func (d Doc) Search() search.Doc {
	return search.Doc{AppID: d.AppID, Chat: d.Chat, Number: d.Number, Body: d.Body, Version: d.Version}
}

// Key names a deleted message.
type Key struct {
	AppID  int64 `json:"app_id"`
	Chat   int64 `json:"chat"`
	Number int64 `json:"number"`
}

// Search returns the key as the index names it.
func (k Key) Search() search.Key { return search.Key{AppID: k.AppID, Chat: k.Chat, Number: k.Number} }

// Index returns the request's documents and deleted keys as the index takes
// them.
func (r Request) Index() ([]search.Doc, []search.Key) {
	docs := make([]search.Doc, len(r.Docs))
	for i, d := range r.Docs {
		docs[i] = d.Search()
	}
	keys := make([]search.Key, len(r.Deleted))
	for i, k := range r.Deleted {
		keys[i] = k.Search()
	}
	return docs, keys
}
