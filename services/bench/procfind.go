package main

import (
	"bufio"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// findServer returns the pid of the process that listens on addr's port
// (any local address) when its command name is one of comms; failing that
// (no such listener, or it is not ours to read), the first process named
// one of comms; 0 when there is none.
func findServer(addr string, comms ...string) int {
	if _, port, err := net.SplitHostPort(addr); err == nil {
		if n, err := strconv.Atoi(port); err == nil {
			if pid := listenerPid(n); pid > 0 && hasComm(pid, comms) {
				return pid
			}
		}
	}
	return findProcess(comms...)
}

// listenerPid returns the pid of a process holding a TCP socket that
// listens on port, found through the socket's inode in /proc/net/tcp{,6}
// and the processes' descriptors; 0 when none is found.
func listenerPid(port int) int {
	inodes := map[string]bool{}
	for _, f := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		for _, ino := range listeningInodes(f, port) {
			inodes["socket:["+ino+"]"] = true
		}
	}
	if len(inodes) == 0 {
		return 0
	}
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		fds, err := os.ReadDir(filepath.Join("/proc", e.Name(), "fd"))
		if err != nil {
			continue
		}
		for _, fd := range fds {
			if link, err := os.Readlink(filepath.Join("/proc", e.Name(), "fd", fd.Name())); err == nil && inodes[link] {
				return pid
			}
		}
	}
	return 0
}

// listeningInodes reads a /proc/net/tcp table and returns the inodes of the
// sockets in state LISTEN (0A) on port.
func listeningInodes(path string, port int) []string {
	f, err := os.Open(path)
	if err != nil {
		return nil
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 10 || fields[3] != "0A" {
			continue
		}
		_, hexPort, ok := strings.Cut(fields[1], ":")
		if p, err := strconv.ParseInt(hexPort, 16, 32); ok && err == nil && int(p) == port {
			out = append(out, fields[9])
		}
	}
	return out
}

// hasComm reports whether process pid's command name is one of comms.
func hasComm(pid int, comms []string) bool {
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "comm"))
	if err != nil {
		return false
	}
	name := strings.TrimSpace(string(b))
	for _, c := range comms {
		if name == c {
			return true
		}
	}
	return false
}
