package live

import "sync"

// hangups holds the streams whose connections the heartbeat ticker probes
// for a client that hung up: one non-blocking read a stream a tick instead of
// a goroutine each blocked in Read (10,000 goroutines fewer to keep and for
// the garbage collector to scan at 10,000 subscribers).
type hangups struct {
	mu    sync.Mutex
	conns map[*connSSE]struct{}
	buf   []byte // the sweep's scratch: it runs on one goroutine
}

// follow starts noticing c's client hanging up: by probing, or by a
// goroutine of its own when c cannot be probed. It runs once c's stream is
// live; until then a write that fails ends it.
func (hs *hangups) follow(c *connSSE) {
	if c.probe == nil {
		go c.watch()
		return
	}
	hs.mu.Lock()
	defer hs.mu.Unlock()
	if hs.conns == nil {
		hs.conns = map[*connSSE]struct{}{}
	}
	hs.conns[c] = struct{}{}
}

// forget stops probing c (its stream ended).
func (hs *hangups) forget(c *connSSE) {
	hs.mu.Lock()
	defer hs.mu.Unlock()
	delete(hs.conns, c)
}

// sweep probes every followed connection once and ends the streams whose
// clients hung up. The probes run outside the lock.
func (hs *hangups) sweep() {
	hs.mu.Lock()
	conns := make([]*connSSE, 0, len(hs.conns))
	for c := range hs.conns {
		conns = append(conns, c)
	}
	hs.mu.Unlock()
	if hs.buf == nil {
		hs.buf = make([]byte, 64)
	}
	for _, c := range conns {
		if c.probe(hs.buf) {
			hs.forget(c)
			c.hangUp()
		}
	}
}
