// Package reindex sends the messages a writer just committed to the api's
// POST /internal/reindex (the request of pkg/search/reindex), in the
// background, retrying with backoff, so a slow or restarting api never holds
// up the write path.
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

	wire "github.com/instachat/instachat/pkg/search/reindex"
	"github.com/instachat/instachat/pkg/store"
	"github.com/instachat/instachat/pkg/telemetry"
)

// Config says where the api is.
type Config struct {
	APIURL        string // e.g. http://127.0.0.1:8080
	InternalToken string
	Buffer        int // batches waiting to be sent; beyond it a batch is dropped and logged
	// Linger is how long a call waits for more batches to ride along (up
	// to maxCallDocs): every call becomes one index segment in the api's
	// bleve, and fewer, larger segments cost far less to write and merge.
	// Zero sends at once.
	Linger time.Duration
	// Forget, when set, is called with the outbox batches of every batch
	// the api took, so the search catch-up does not index them again.
	Forget func(ctx context.Context, batches []store.OutboxBatch) error
}

// Client posts reindex batches.
type Client struct {
	cfg  Config
	http *http.Client
	log  *slog.Logger
	ch   chan batch
}

// New returns a Client; Run must be running for batches to be sent.
func New(cfg Config, log *slog.Logger) *Client {
	if cfg.Buffer <= 0 {
		// Each batch is up to one writer transaction of documents (500
		// bodies by default); a deeper buffer only holds memory while the
		// api is behind, and what is dropped the outbox catches up.
		cfg.Buffer = 64
	}
	return &Client{cfg: cfg, http: &http.Client{Timeout: 30 * time.Second}, log: log, ch: make(chan batch, cfg.Buffer)}
}

// batch is what one commit asks to reindex.
type batch struct {
	docs    []wire.Doc
	deleted []wire.Key
	outbox  []store.OutboxBatch
}

// Enqueue hands a batch to the sender without blocking. It reports false when
// the buffer is full and the batch was dropped (the search outbox still has it).
func (c *Client) Enqueue(docs []wire.Doc, deleted []wire.Key, outbox []store.OutboxBatch) bool {
	if len(docs) == 0 && len(deleted) == 0 {
		c.forget(context.Background(), outbox) // nothing to index: the rows are done
		return true
	}
	select {
	case c.ch <- batch{docs: docs, deleted: deleted, outbox: outbox}:
		return true
	default:
		c.log.Warn("reindex buffer full: batch dropped; the search outbox catches up", "docs", len(docs), "deleted", len(deleted))
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
		var b batch
		select {
		case <-ctx.Done():
			c.drain(context.WithoutCancel(ctx))
			return
		case b = <-c.ch:
		}
		b = c.gather(ctx, b)
		sent := true
		for _, call := range calls(b) {
			sent = c.sendWithRetry(ctx, call) && sent
		}
		if sent {
			c.forget(ctx, b.outbox)
		}
	}
}

// gather adds to b the batches waiting behind it and those arriving within
// Linger, up to maxCallDocs documents.
func (c *Client) gather(ctx context.Context, b batch) batch {
	var linger <-chan time.Time
	if c.cfg.Linger > 0 {
		t := time.NewTimer(c.cfg.Linger)
		defer t.Stop()
		linger = t.C
	}
	for len(b.docs)+len(b.deleted) < maxCallDocs {
		var more batch
		if linger == nil {
			select {
			case more = <-c.ch:
			default:
				return b
			}
		} else {
			select {
			case more = <-c.ch:
			case <-linger:
				return b
			case <-ctx.Done():
				return b
			}
		}
		b.docs = append(b.docs, more.docs...)
		b.deleted = append(b.deleted, more.deleted...)
		b.outbox = append(b.outbox, more.outbox...)
	}
	return b
}

// forget removes the outbox rows of batches the api took. A failure only
// costs a second indexing by the catch-up.
func (c *Client) forget(ctx context.Context, outbox []store.OutboxBatch) {
	if c.cfg.Forget == nil || len(outbox) == 0 {
		return
	}
	if err := c.cfg.Forget(ctx, outbox); err != nil {
		c.log.Warn("forget indexed outbox rows; the search catch-up indexes them again", "batches", len(outbox), "err", err)
	}
}

func (c *Client) drain(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	for {
		select {
		case b := <-c.ch:
			sent := true
			for _, call := range calls(b) {
				if err := c.Send(ctx, call.docs, call.deleted); err != nil {
					sent = false
					c.log.Warn("reindex at shutdown failed; the search outbox catches up", "docs", len(call.docs), "err", err)
				}
			}
			if sent {
				c.forget(ctx, b.outbox)
			}
		default:
			return
		}
	}
}

// calls cuts a batch into calls within the limits; deletes ride on the first.
func calls(b batch) []batch {
	var out []batch
	for _, docs := range split(b.docs) {
		out = append(out, batch{docs: docs})
	}
	if len(out) == 0 {
		out = append(out, batch{})
	}
	out[0].deleted = b.deleted
	return out
}

// split cuts docs into calls within the limits.
func split(docs []wire.Doc) [][]wire.Doc {
	var calls [][]wire.Doc
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

// sendWithRetry sends one call until the api takes it and reports whether it
// did; false means refused or given up at shutdown.
func (c *Client) sendWithRetry(ctx context.Context, b batch) bool {
	docs := b.docs
	wait := 100 * time.Millisecond
	for attempt := 1; ; attempt++ {
		err := c.Send(ctx, b.docs, b.deleted)
		if err == nil {
			if c.log.Enabled(ctx, slog.LevelDebug) {
				for _, d := range b.docs {
					c.log.DebugContext(telemetry.WithTrace(ctx, d.Trace), "reindex sent", "chat", d.Chat, "message", d.Number, "version", d.Version)
				}
			}
			return true
		}
		var perm *permanentError
		if errors.As(err, &perm) {
			// Retrying cannot help (wrong secret, a batch the api refuses):
			// say so loudly and let the batches behind it through.
			c.log.Error("reindex refused; batch dropped", "docs", len(docs), "err", err)
			return false
		}
		if ctx.Err() != nil {
			return false
		}
		c.log.Warn("reindex failed; retrying", "attempt", attempt, "docs", len(docs), "err", err)
		select {
		case <-ctx.Done():
			return false
		case <-time.After(wait):
		}
		wait = min(wait*2, 10*time.Second)
	}
}

// Send posts one batch and waits for the answer.
func (c *Client) Send(ctx context.Context, docs []wire.Doc, deleted []wire.Key) error {
	body, err := json.Marshal(wire.Request{Docs: docs, Deleted: deleted})
	if err != nil {
		return fmt.Errorf("encode reindex batch: %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.cfg.APIURL+wire.Path, bytes.NewReader(body))
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
