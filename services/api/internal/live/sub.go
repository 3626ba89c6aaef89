package live

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/instachat/instachat/pkg/events"
)

// sub is one open stream: a bounded ring of frames its shard's reader fills
// and its handler drains. An application lives in one partition, so a sub has
// one producer; the mutex is enough.
type sub struct {
	filter    Filter
	transport string
	notify    chan struct{} // cap 1: "there is something to take"

	mu       sync.Mutex
	ring     []*frame // circular; grows up to max
	max      int      // EVENTS_BUFFER
	head, n  int
	overflow bool // the ring was full: drain, say so, close
	closed   bool // the hub is shutting down
	beat     bool // idle too long: send a heartbeat

	lastWrite atomic.Int64 // unix nanoseconds of the last flush
}

// firstRing is a stream's ring until it needs more: most streams are drained
// long before a handful of frames queue up.
const firstRing = 8

func newSub(f Filter, transport string, size int) *sub {
	s := &sub{filter: f, transport: transport, notify: make(chan struct{}, 1), ring: make([]*frame, min(size, firstRing)), max: size}
	s.lastWrite.Store(time.Now().UnixNano())
	return s
}

// wake tells the write loop to look, without blocking.
func (s *sub) wake() {
	select {
	case s.notify <- struct{}{}:
	default:
	}
}

// push appends f; it reports false when the ring was full (the sub is then
// in overflow and must be unregistered).
func (s *sub) push(f *frame) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.overflow || s.closed {
		return !s.overflow
	}
	if s.n == len(s.ring) && !s.grow() {
		s.overflow = true
		s.wake()
		return false
	}
	s.ring[(s.head+s.n)%len(s.ring)] = f
	s.n++
	s.wake()
	return true
}

// grow doubles the ring, up to max; false when it is at max.
func (s *sub) grow() bool {
	if len(s.ring) >= s.max {
		return false
	}
	ring := make([]*frame, min(2*len(s.ring), s.max))
	for i := range s.n {
		ring[i] = s.ring[(s.head+i)%len(s.ring)]
	}
	s.ring, s.head = ring, 0
	return true
}

// flags is what a write loop learns besides frames.
type flags struct{ overflow, closed, beat bool }

// take moves every queued frame into buf and returns it with the flags.
func (s *sub) take(buf []*frame) ([]*frame, flags) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for ; s.n > 0; s.n-- {
		buf = append(buf, s.ring[s.head])
		s.ring[s.head] = nil
		s.head = (s.head + 1) % len(s.ring)
	}
	fl := flags{overflow: s.overflow, closed: s.closed, beat: s.beat}
	s.beat = false
	return buf, fl
}

// close ends the stream (hub shutdown).
func (s *sub) close() {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	s.wake()
}

// idleSince asks for a heartbeat if nothing was flushed since t.
func (s *sub) idleSince(t time.Time) {
	if s.lastWrite.Load() > t.UnixNano() {
		return
	}
	s.mu.Lock()
	s.beat = true
	s.mu.Unlock()
	s.wake()
}

// after reports whether an event frame comes after pos (and must be written).
func after(f *frame, pos events.Position) bool { return pos.Less(f.pos) }
