package index

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/instachat/instachat/pkg/search"
	"github.com/instachat/instachat/pkg/search/bleve"
	"github.com/instachat/instachat/pkg/search/elasticsearch"
)

// Config is the search backend switch: "bleve" (embedded, at BlevePath) or
// "elasticsearch" (Elastic).
type Config struct {
	Backend   string
	BlevePath string
	// BleveLockTimeout is how long opening bleve waits for another process
	// to let go of it; zero is bleve's default (10 s).
	BleveLockTimeout time.Duration
	Elastic          elasticsearch.Config
}

// Open opens the configured search backend. Elasticsearch may be down when
// the api starts: the api must still accept creates and serve reads, so the
// engine is then opened in the background until ctx ends (see lazyEngine),
// and every call, Ping included, fails with search.ErrUnavailable until it is
// reachable. ready closes once the engine is open. Close the engine after ctx
// ended.
func Open(ctx context.Context, cfg Config, log *slog.Logger) (engine search.Engine, ready <-chan struct{}, err error) {
	opened := make(chan struct{})
	onReady := func() { close(opened) }
	engine, err = open(ctx, cfg, log, onReady)
	return engine, opened, err
}

func open(ctx context.Context, cfg Config, log *slog.Logger, onReady func()) (search.Engine, error) {
	switch cfg.Backend {
	case "bleve":
		e, err := bleve.Open(bleve.Config{Path: cfg.BlevePath, LockTimeout: cfg.BleveLockTimeout})
		if err != nil {
			return nil, err
		}
		onReady()
		return e, nil
	case "elasticsearch":
		if cfg.Elastic.URL == "" {
			return nil, errors.New("SEARCH_BACKEND=elasticsearch needs ELASTICSEARCH_URL")
		}
		l := &lazyEngine{info: search.Info{Backend: "elasticsearch"}}
		open := func() (search.Engine, error) { return elasticsearch.Open(ctx, cfg.Elastic) }
		e, err := open()
		if err == nil {
			l.set(e)
			onReady()
			return l, nil
		}
		if !errors.Is(err, search.ErrUnavailable) {
			return nil, err
		}
		log.Warn("elasticsearch unreachable at start-up; searches answer 503 until it is back", "err", err)
		l.wg.Go(func() {
			for {
				select {
				case <-ctx.Done():
					return
				case <-time.After(5 * time.Second):
				}
				e, err := open()
				if err != nil {
					continue
				}
				log.Info("elasticsearch reachable: search is back")
				l.set(e)
				onReady()
				return
			}
		})
		return l, nil
	}
	return nil, fmt.Errorf("SEARCH_BACKEND %q is not supported (use bleve or elasticsearch)", cfg.Backend)
}

// lazyEngine stands in for an engine that could not be opened yet: every call
// fails with search.ErrUnavailable until the real one is set.
type lazyEngine struct {
	mu   sync.RWMutex
	e    search.Engine
	info search.Info
	wg   sync.WaitGroup // the opener goroutine
}

func (l *lazyEngine) set(e search.Engine) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.e = e
}

func (l *lazyEngine) get() (search.Engine, error) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if l.e == nil {
		return nil, fmt.Errorf("%s not reachable yet: %w", l.info.Backend, search.ErrUnavailable)
	}
	return l.e, nil
}

func (l *lazyEngine) Info() search.Info {
	if e, err := l.get(); err == nil {
		return e.Info()
	}
	return l.info
}

func (l *lazyEngine) Index(ctx context.Context, docs []search.Doc) error {
	e, err := l.get()
	if err != nil {
		return err
	}
	return e.Index(ctx, docs)
}

func (l *lazyEngine) Delete(ctx context.Context, keys []search.Key) error {
	e, err := l.get()
	if err != nil {
		return err
	}
	return e.Delete(ctx, keys)
}

func (l *lazyEngine) Search(ctx context.Context, q search.Query) (search.Result, error) {
	e, err := l.get()
	if err != nil {
		return search.Result{}, err
	}
	return e.Search(ctx, q)
}

// SwitchOver forwards to the engine once it is open.
func (l *lazyEngine) SwitchOver(ctx context.Context) error {
	e, err := l.get()
	if err != nil {
		return err
	}
	return e.SwitchOver(ctx)
}

// Ping forwards to the engine once it is open.
func (l *lazyEngine) Ping(ctx context.Context) error {
	e, err := l.get()
	if err != nil {
		return err
	}
	return e.Ping(ctx)
}

// Close waits for the opener to stop (its context must have ended) and closes
// the engine if it was opened.
func (l *lazyEngine) Close() error {
	l.wg.Wait()
	if e, err := l.get(); err == nil {
		return e.Close()
	}
	return nil
}
