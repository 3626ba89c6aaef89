// Package live is the api's live-event fan-out: one Hub per process reads
// every partition's event stream (package events) once and hands each event,
// encoded once, to the streams open on its chat or application, over
// Server-Sent Events or WebSocket. A stream that resumes from a position gets
// exactly the events it missed (from the hub's memory, Redis or MySQL's
// event journal) or an explicit reset, never a gap or a repeat (DESIGN
// invariant 10). It speaks net/http only: the HTTP layer resolves tokens and
// chats, then calls Serve.
package live

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/instachat/instachat/pkg/events"
	"github.com/instachat/instachat/pkg/queue"
)

// Config tunes the hub; zero fields take the defaults.
type Config struct {
	// Buffer is how many frames a stream may have queued (EVENTS_BUFFER,
	// 256); beyond, it is closed with an overflow frame.
	Buffer int
	// Ring is how many recent events the hub keeps per partition for
	// resumes (EVENTS_RING, 4096).
	Ring int
	// Heartbeat is how long a stream may stay silent (EVENTS_HEARTBEAT, 15 s).
	Heartbeat time.Duration
	// WriteTimeout bounds one batch of writes to a client (EVENTS_WRITE_TIMEOUT, 10 s).
	WriteTimeout time.Duration
	// MaxSubscribers caps open streams per process (EVENTS_MAX_SUBSCRIBERS, 20000).
	MaxSubscribers int
	// MaxPerApp caps open streams per application and process (EVENTS_MAX_PER_APP, 2000).
	MaxPerApp int
	// ReplayMax bounds the positions one resume replays from the journal
	// (EVENTS_REPLAY_MAX, 100000); a longer gap is reset.
	ReplayMax int
	// ReplayWait is how long a resume waits for the writer to journal a gap
	// Redis no longer retains before it resets (EVENTS_REPLAY_WAIT, 5 s).
	ReplayWait time.Duration
	// Settle is how long a position missing from the journal may hold back
	// the Event-Position of lists (HISTORY_SETTLE, 1 m).
	Settle time.Duration
}

// Defaults of Config.
const (
	DefaultBuffer         = 256
	DefaultRing           = 4096
	DefaultHeartbeat      = 15 * time.Second
	DefaultWriteTimeout   = 10 * time.Second
	DefaultMaxSubscribers = 20000
	DefaultMaxPerApp      = 2000
	DefaultReplayMax      = 100000
	DefaultReplayWait     = 5 * time.Second
	DefaultSettle         = time.Minute
)

func (c Config) withDefaults() Config {
	set := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	set(&c.Buffer, DefaultBuffer)
	set(&c.Ring, DefaultRing)
	set(&c.MaxSubscribers, DefaultMaxSubscribers)
	set(&c.MaxPerApp, DefaultMaxPerApp)
	set(&c.ReplayMax, DefaultReplayMax)
	for _, d := range []struct {
		v   *time.Duration
		def time.Duration
	}{{&c.Heartbeat, DefaultHeartbeat}, {&c.WriteTimeout, DefaultWriteTimeout}, {&c.ReplayWait, DefaultReplayWait}, {&c.Settle, DefaultSettle}} {
		if *d.v <= 0 {
			*d.v = d.def
		}
	}
	return c
}

// Filter chooses a stream's events: one application's (Chat 0) or one chat's.
type Filter struct {
	App  string // the application's digest (chat.TokenDigest)
	Chat int64
}

func (f Filter) scope() string {
	if f.Chat == 0 {
		return "app"
	}
	return "chat"
}

// Hub fans the partitions' events out to the open streams.
type Hub struct {
	cfg     Config
	rdb     redis.UniversalClient
	reader  *events.Reader
	keys    queue.Keys
	metrics *Metrics
	log     *slog.Logger
	shards  []*shard
	block   time.Duration // of one XREAD (readBlock; tests shorten it)
	journal *journal      // nil: gaps beyond Redis are reset (UseJournal)

	streams sync.WaitGroup // streams that outlive their handler (Serve)
	hangups hangups        // their connections, probed by beat

	mu      sync.Mutex // guards the counts below
	total   int
	perApp  map[string]int
	closing bool
}

// New returns a hub over the event streams in rdb; Run starts it.
func New(cfg Config, rdb redis.UniversalClient, keys queue.Keys, m *Metrics, log *slog.Logger) *Hub {
	cfg = cfg.withDefaults()
	h := &Hub{cfg: cfg, rdb: rdb, reader: events.NewReader(rdb, keys), keys: keys, metrics: m, log: log, perApp: map[string]int{},
		block: readBlock}
	for range keys.Partitions() {
		h.shards = append(h.shards, newShard(cfg.Ring))
	}
	return h
}

// Run reads every partition's stream and sends heartbeats until ctx ends,
// then closes every stream.
func (h *Hub) Run(ctx context.Context) {
	var wg sync.WaitGroup
	for p := range h.shards {
		wg.Go(func() { h.read(ctx, p) })
	}
	wg.Go(func() { h.beat(ctx) })
	if h.journal != nil {
		wg.Go(func() { h.journal.track(ctx, h.generation) })
	}
	wg.Wait()
	h.CloseAll()
	h.streams.Wait() // each ends within its write timeout
}

// CloseAll ends every open stream and refuses new ones (server shutdown):
// SSE streams end, WebSocket ones close with 1012 "service restart".
func (h *Hub) CloseAll() {
	h.mu.Lock()
	h.closing = true
	h.mu.Unlock()
	for _, sh := range h.shards {
		sh.each(func(s *sub) { s.close() })
	}
}

// shuttingDown reports whether CloseAll ran.
func (h *Hub) shuttingDown() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.closing
}

// detach runs a stream that outlives its handler, unless the hub is
// shutting down: Run waits for those, and none may start once it waits.
func (h *Hub) detach(stream func()) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closing {
		return false
	}
	h.streams.Go(stream)
	return true
}

// errBusy and errClosing refuse a stream before it starts.
var (
	errLimitProcess = errors.New("too many event streams open on this server")
	errLimitApp     = errors.New("too many event streams open for this application")
	errClosing      = errors.New("the server is shutting down")
)

// acquire takes a stream slot for app.
func (h *Hub) acquire(app string) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	switch {
	case h.closing:
		return errClosing
	case h.total >= h.cfg.MaxSubscribers:
		h.metrics.drop("limit_process")
		return errLimitProcess
	case h.perApp[app] >= h.cfg.MaxPerApp:
		h.metrics.drop("limit_app")
		return errLimitApp
	}
	h.total++
	h.perApp[app]++
	return nil
}

func (h *Hub) release(app string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.total--
	if h.perApp[app]--; h.perApp[app] <= 0 {
		delete(h.perApp, app)
	}
}

// shardOf is the shard of an application's partition.
func (h *Hub) shardOf(app string) (int, *shard) {
	p := h.keys.Partition(app)
	return p, h.shards[p]
}

// beat asks idle streams for a heartbeat and ends the streams whose clients
// hung up: one ticker for the whole process, no timer per stream.
func (h *Hub) beat(ctx context.Context) {
	tick := min(max(h.cfg.Heartbeat/4, 10*time.Millisecond), time.Second)
	t := time.NewTicker(tick)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			idle := now.Add(-h.cfg.Heartbeat)
			for _, sh := range h.shards {
				sh.each(func(s *sub) { s.idleSince(idle) })
			}
			h.hangups.sweep()
		}
	}
}
