package live

import (
	"sync"

	"github.com/instachat/instachat/pkg/events"
)

type chatKey struct {
	app  string
	chat int64
}

// shard is one partition's state: the position its reader reached, a ring of
// the recent frames (contiguous positions of one generation) and the streams
// open on its applications. The reader advances pos and dispatches under the
// same lock that register takes to read it, which is what makes a join
// gapless (design §2.4).
type shard struct {
	ready chan struct{} // closed once pos is known

	mu      sync.Mutex
	pos     events.Position
	ring    []*frame // circular
	head, n int
	byChat  map[chatKey]map[*sub]struct{}
	byApp   map[string]map[*sub]struct{}
}

func newShard(ring int) *shard {
	return &shard{ready: make(chan struct{}), ring: make([]*frame, ring),
		byChat: map[chatKey]map[*sub]struct{}{}, byApp: map[string]map[*sub]struct{}{}}
}

// start sets the reader's first position and lets streams register.
func (sh *shard) start(pos events.Position) {
	sh.mu.Lock()
	sh.pos = pos
	sh.mu.Unlock()
	close(sh.ready)
}

// position is where the reader stands.
func (sh *shard) position() events.Position {
	sh.mu.Lock()
	defer sh.mu.Unlock()
	return sh.pos
}

// register adds s and returns P0: every frame after P0 that matches s's
// filter goes to s from now on.
func (sh *shard) register(s *sub) events.Position {
	sh.mu.Lock()
	defer sh.mu.Unlock()
	set := sh.setOf(s.filter)
	if set == nil {
		set = map[*sub]struct{}{}
		if s.filter.Chat == 0 {
			sh.byApp[s.filter.App] = set
		} else {
			sh.byChat[chatKey{s.filter.App, s.filter.Chat}] = set
		}
	}
	set[s] = struct{}{}
	return sh.pos
}

func (sh *shard) unregister(s *sub) {
	sh.mu.Lock()
	defer sh.mu.Unlock()
	sh.removeLocked(s)
}

func (sh *shard) setOf(f Filter) map[*sub]struct{} {
	if f.Chat == 0 {
		return sh.byApp[f.App]
	}
	return sh.byChat[chatKey{f.App, f.Chat}]
}

func (sh *shard) removeLocked(s *sub) {
	set := sh.setOf(s.filter)
	delete(set, s)
	if len(set) == 0 && set != nil {
		if s.filter.Chat == 0 {
			delete(sh.byApp, s.filter.App)
		} else {
			delete(sh.byChat, chatKey{s.filter.App, s.filter.Chat})
		}
	}
}

// dispatch appends event frames, in position order and contiguous with pos,
// to the ring and hands each to the streams of its chat and application:
// O(those streams), never a scan of all.
func (sh *shard) dispatch(frames []*frame) {
	sh.mu.Lock()
	defer sh.mu.Unlock()
	for _, f := range frames {
		sh.appendLocked(f)
		sh.pos = f.pos
		sh.sendLocked(sh.byChat[chatKey{f.app, f.chat}], f)
		sh.sendLocked(sh.byApp[f.app], f)
	}
}

func (sh *shard) sendLocked(set map[*sub]struct{}, f *frame) {
	for s := range set {
		if !s.push(f) {
			sh.removeLocked(s) // overflowed: its write loop closes it
		}
	}
}

// reset moves the reader to pos after Redis went back in time or the reader
// fell behind the retention: the ring no longer continues, and every stream
// of the partition is told that what it has not seen up to pos is lost.
func (sh *shard) reset(pos events.Position) {
	sh.mu.Lock()
	defer sh.mu.Unlock()
	clear(sh.ring)
	sh.head, sh.n = 0, 0
	sh.pos = pos
	f := controlFrame(kindReset, pos)
	sh.eachLocked(func(s *sub) {
		if !s.push(f) {
			sh.removeLocked(s)
		}
	})
}

func (sh *shard) appendLocked(f *frame) {
	if len(sh.ring) == 0 {
		return
	}
	if sh.n == len(sh.ring) {
		sh.ring[sh.head] = f
		sh.head = (sh.head + 1) % len(sh.ring)
		return
	}
	sh.ring[(sh.head+sh.n)%len(sh.ring)] = f
	sh.n++
}

// since returns the ring's frames in (c, upTo] if the ring holds c's
// successor and upTo (and so, being contiguous, everything between).
func (sh *shard) since(c, upTo events.Position) ([]*frame, bool) {
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if sh.n == 0 {
		return nil, false
	}
	first, last := sh.ring[sh.head].pos, sh.ring[(sh.head+sh.n-1)%len(sh.ring)].pos
	if first.Gen != c.Gen || first.Seq > c.Seq+1 || last.Less(upTo) {
		return nil, false
	}
	var out []*frame
	for i := range sh.n {
		f := sh.ring[(sh.head+i)%len(sh.ring)]
		if c.Less(f.pos) && !upTo.Less(f.pos) {
			out = append(out, f)
		}
	}
	return out, true
}

// each calls fn for every stream of the shard, under its lock.
func (sh *shard) each(fn func(*sub)) {
	sh.mu.Lock()
	defer sh.mu.Unlock()
	sh.eachLocked(fn)
}

func (sh *shard) eachLocked(fn func(*sub)) {
	for _, set := range sh.byChat {
		for s := range set {
			fn(s)
		}
	}
	for _, set := range sh.byApp {
		for s := range set {
			fn(s)
		}
	}
}
