package testenv

import (
	"net"
	"sync"
	"testing"
)

// Proxy is a TCP proxy a test controls, to cut a service off (a network
// outage) without stopping it. Cut closes every open connection and refuses
// new ones until Restore.
type Proxy struct {
	ln       net.Listener
	upstream string

	mu    sync.Mutex
	cond  *sync.Cond // signalled when stall ends
	cut   bool
	mute  bool
	stall bool
	conns map[net.Conn]struct{}
	wg    sync.WaitGroup
}

// NewProxy listens on a free loopback port and forwards to upstream
// (host:port). It stops when the test ends.
func NewProxy(t testing.TB, upstream string) *Proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("proxy listen: %v", err)
	}
	p := &Proxy{ln: ln, upstream: upstream, conns: map[net.Conn]struct{}{}}
	p.cond = sync.NewCond(&p.mu)
	p.wg.Go(p.accept)
	t.Cleanup(p.close)
	return p
}

// Addr is the proxy's host:port.
func (p *Proxy) Addr() string { return p.ln.Addr().String() }

// Cut drops every connection and refuses new ones.
func (p *Proxy) Cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cut = true
	for c := range p.conns {
		c.Close()
	}
	p.cond.Broadcast()
}

// Restore lets connections through again, replies included, and ends a stall.
func (p *Proxy) Restore() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cut, p.mute, p.stall = false, false, false
	p.cond.Broadcast()
}

// Stall holds every byte in both directions while keeping connections open
// (and accepting new ones), as a server that hangs without refusing does
// (SIGSTOP). Restore lets the held bytes through.
func (p *Proxy) Stall() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.stall = true
}

// waitFlowing blocks while the proxy stalls; it reports whether the bytes
// may be forwarded (false: muted replies to drop).
func (p *Proxy) waitFlowing(replies bool) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	for p.stall && !p.cut {
		p.cond.Wait()
	}
	return !(replies && p.mute)
}

// MuteReplies keeps connections open and requests flowing but drops every
// reply from upstream: the server does the work and the client never hears
// of it, as when a reply is lost.
func (p *Proxy) MuteReplies() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.mute = true
}

// SetUpstream sends new connections to addr and drops the open ones, as a
// virtual address moving to another server does.
func (p *Proxy) SetUpstream(addr string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.upstream = addr
	for c := range p.conns {
		c.Close()
	}
}

func (p *Proxy) accept() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		if p.cut {
			p.mu.Unlock()
			c.Close()
			continue
		}
		upstream := p.upstream
		p.mu.Unlock()
		up, err := net.Dial("tcp", upstream)
		if err != nil {
			c.Close()
			continue
		}
		p.mu.Lock()
		p.conns[c], p.conns[up] = struct{}{}, struct{}{}
		p.mu.Unlock()
		p.wg.Go(func() { p.pipe(c, up, true) })
		p.wg.Go(func() { p.pipe(up, c, false) })
	}
}

// pipe copies src to dst, holding bytes while stalled; replies (upstream to
// client) are dropped while muted.
func (p *Proxy) pipe(dst, src net.Conn, replies bool) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 && p.waitFlowing(replies) {
			if _, werr := dst.Write(buf[:n]); werr != nil {
				break
			}
		}
		if err != nil {
			break
		}
	}
	dst.Close()
	src.Close()
	p.mu.Lock()
	delete(p.conns, dst)
	delete(p.conns, src)
	p.mu.Unlock()
}

func (p *Proxy) close() {
	p.ln.Close()
	p.Cut()
	p.wg.Wait()
}
