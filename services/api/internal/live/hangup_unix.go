//go:build unix

package live

import (
	"errors"
	"net"
	"syscall"
)

// probeOf returns a probe of c's socket, or nil when c is not one (TLS): a
// non-blocking read that reports whether the client hung up (end of stream
// or an error). Bytes a client sends are discarded; clients send none once
// the request is made.
func probeOf(c net.Conn) func(buf []byte) bool {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return nil
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return nil
	}
	return func(buf []byte) bool {
		gone := false
		err := rc.Read(func(fd uintptr) bool {
			n, _, err := syscall.Recvfrom(int(fd), buf, syscall.MSG_DONTWAIT)
			switch {
			case errors.Is(err, syscall.EAGAIN), errors.Is(err, syscall.EINTR):
			case err != nil, n == 0:
				gone = true
			}
			return true // never wait for the socket to be readable
		})
		return gone || err != nil
	}
}
