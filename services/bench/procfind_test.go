package main

import (
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestFindServer finds this test process by the port it listens on, the
// way the harness finds the MariaDB of its DSN among several.
func TestFindServer(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	comm, err := os.ReadFile("/proc/self/comm")
	if err != nil {
		t.Skip("no /proc")
	}
	self := strings.TrimSpace(string(comm))
	_, port, _ := net.SplitHostPort(l.Addr().String())
	if got := findServer("127.0.0.1:"+port, self); got != os.Getpid() {
		t.Errorf("findServer(port %s, %q): got pid %d, want %d", port, self, got, os.Getpid())
	}
	if got := findServer("127.0.0.1:"+port, "no-such-server"); got != 0 {
		t.Errorf("findServer(port %s, a name nothing has): got pid %d, want 0", port, got)
	}
	if !hasComm(os.Getpid(), []string{"x", self}) || hasComm(os.Getpid(), []string{filepath.Base(t.TempDir())}) {
		t.Errorf("hasComm: want true for %q only", self)
	}
}
