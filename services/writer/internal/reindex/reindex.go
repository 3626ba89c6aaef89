// Package reindex sends the messages a writer just committed to the api's
// POST /internal/reindex, in the background, retrying with backoff, so a slow
// or restarting api never holds up the write path.
package reindex

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/instachat/instachat/pkg/search"
)

// Config says where the api is.
type Config struct {
	APIURL        string // e.g. http://127.0.0.1:8080
	InternalToken string
	Buffer        int // batches waiting to be sent; beyond it a batch is dropped and logged
}

// Client posts reindex batches.
type Client struct {
	cfg  Config
	http *http.Client
	log  *slog.Logger
	ch   chan []search.Doc
}

// New returns a Client; Run must be running for batches to be sent.
func New(cfg Config, log *slog.Logger) *Client {
	if cfg.Buffer <= 0 {
		cfg.Buffer = 1024
	}
	return &Client{cfg: cfg, http: &http.Client{Timeout: 30 * time.Second}, log: log, ch: make(chan []search.Doc, cfg.Buffer)}
}

// Enqueue hands a batch to the sender without blocking. It reports false when
// the buffer is full and the batch was dropped.
func (c *Client) Enqueue(docs []search.Doc) bool {
	if len(docs) == 0 {
		return true
	}
	select {
	case c.ch <- docs:
		return true
	default:
		c.log.Warn("reindex buffer full: batch dropped", "docs", len(docs))
		return false
	}
}

// Limits of one reindex call, below the api's MaxReindexBytes even when every
// body needs JSON escaping.
const (
	maxCallDocs      = 1000
	maxCallBodyBytes = 4 << 20
)

// Run sends batches until ctx ends, merging what is waiting into calls of at
// most maxCallDocs documents and maxCallBodyBytes of bodies. When ctx ends it
// sends what is still buffered once more, for up to five seconds.
func (c *Client) Run(ctx context.Context) {
	for {
		var docs []search.Doc
		select {
		case <-ctx.Done():
			c.drain(context.WithoutCancel(ctx))
			return
		case docs = <-c.ch:
		}
	merge:
		for len(docs) < maxCallDocs {
			select {
			case more := <-c.ch:
				docs = append(docs, more...)
			default:
				break merge
			}
		}
		for _, call := range split(docs) {
			c.sendWithRetry(ctx, call)
		}
	}
}

func (c *Client) drain(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	for {
		select {
		case docs := <-c.ch:
			for _, call := range split(docs) {
				if err := c.Send(ctx, call); err != nil {
					c.log.Warn("reindex at shutdown failed; the batch is left to the index catch-up", "docs", len(call), "err", err)
				}
			}
		default:
			return
		}
	}
}

// split cuts docs into calls within the limits.
func split(docs []search.Doc) [][]search.Doc {
	var calls [][]search.Doc
	start, bytes := 0, 0
	for i, d := range docs {
		if i > start && (i-start == maxCallDocs || bytes+len(d.Body) > maxCallBodyBytes) {
			calls = append(calls, docs[start:i])
			start, bytes = i, 0
		}
		bytes += len(d.Body)
	}
	if start < len(docs) {
		calls = append(calls, docs[start:])
	}
	return calls
}

func (c *Client) sendWithRetry(ctx context.Context, docs []search.Doc) {
	wait := 100 * time.Millisecond
	for attempt := 1; ; attempt++ {
		err := c.Send(ctx, docs)
		if err == nil {
			return
		}
		var perm *permanentError
		if errors.As(err, &perm) {
			// Retrying cannot help (wrong secret, a batch the api refuses):
			// say so loudly and let the batches behind it through.
			c.log.Error("reindex refused; batch dropped", "docs", len(docs), "err", err)
			return
		}
		if ctx.Err() != nil {
			return
		}
		c.log.Warn("reindex failed; retrying", "attempt", attempt, "docs", len(docs), "err", err)
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
		wait = min(wait*2, 10*time.Second)
	}
}

// Send posts one batch and waits for the answer.
func (c *Client) Send(ctx context.Context, docs []search.Doc) error {
	body, err := json.Marshal(struct {
		Docs []search.Doc `json:"docs"`
	}{docs})
	if err != nil {
		return fmt.Errorf("encode reindex batch: %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.cfg.APIURL+"/internal/reindex", bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("reindex request: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+c.cfg.InternalToken)
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("reindex call: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 400 && resp.StatusCode < 500 {
		return &permanentError{status: resp.Status}
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("reindex call: api answered %s", resp.Status)
	}
	return nil
}

// permanentError is an answer that the same request will always get.
type permanentError struct{ status string }

func (e *permanentError) Error() string { return "reindex call: api refused it: " + e.status }
