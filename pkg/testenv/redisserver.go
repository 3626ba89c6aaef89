package testenv

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// RedisServer is a redis-server a test started itself, on a spare port with
// its own directory, so the test may restart, stall, flush or fail it over
// without touching the shared Redis. It is stopped when the test ends.
type RedisServer struct {
	t    testing.TB
	Addr string
	Port string
	dir  string
	args []string
	cmd  *exec.Cmd
	done chan struct{}
}

// FreePort returns a loopback port nothing listens on right now.
func FreePort(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return fmt.Sprint(l.Addr().(*net.TCPAddr).Port)
}

// StartRedis starts redis-server with no persistence unless args say
// otherwise (e.g. "--appendonly", "yes") and waits until it answers.
func StartRedis(t testing.TB, args ...string) *RedisServer {
	t.Helper()
	if _, err := exec.LookPath("redis-server"); err != nil {
		t.Fatalf("redis-server is not installed (Debian package redis-server): %v", err)
	}
	port := FreePort(t)
	r := &RedisServer{t: t, Addr: "127.0.0.1:" + port, Port: port, dir: t.TempDir(),
		args: append([]string{"--save", "", "--appendonly", "no"}, args...)}
	r.Start()
	t.Cleanup(r.Kill)
	return r
}

// Start starts the server again with the same directory and arguments
// (a restart keeps what it persisted) and waits until it answers.
func (r *RedisServer) Start() {
	r.t.Helper()
	args := append([]string{"--port", r.Port, "--bind", "127.0.0.1", "--dir", r.dir,
		"--logfile", filepath.Join(r.dir, "redis.log")}, r.args...)
	r.cmd = exec.Command("redis-server", args...)
	if err := r.cmd.Start(); err != nil {
		r.t.Fatalf("start redis-server: %v", err)
	}
	r.done = make(chan struct{})
	cmd, done := r.cmd, r.done
	go func() { _ = cmd.Wait(); close(done) }()
	r.WaitReady()
}

// WaitReady waits until the server answers PING (a loading server does not).
func (r *RedisServer) WaitReady() {
	r.t.Helper()
	c := r.Client()
	defer c.Close()
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
		err := c.Ping(ctx).Err()
		cancel()
		if err == nil {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	r.t.Fatalf("redis-server on %s not ready after 15 s; its log:\n%s", r.Addr, r.Log())
}

// Client returns a new client of this server.
func (r *RedisServer) Client() *redis.Client {
	return redis.NewClient(&redis.Options{Addr: r.Addr, MaxRetries: -1, DialTimeout: time.Second})
}

// Do runs one command on the server and fails the test on an error.
func (r *RedisServer) Do(args ...any) any {
	r.t.Helper()
	c := r.Client()
	defer c.Close()
	v, err := c.Do(context.Background(), args...).Result()
	if err != nil && err != redis.Nil {
		r.t.Fatalf("redis %s %v: %v", r.Addr, args, err)
	}
	return v
}

// Kill ends the server with SIGKILL, as a crash would: what it had not
// written to disk is lost.
func (r *RedisServer) Kill() { r.signal(syscall.SIGKILL) }

// Stop ends the server with SIGTERM: it saves what its configuration says.
func (r *RedisServer) Stop() { r.signal(syscall.SIGTERM) }

func (r *RedisServer) signal(sig syscall.Signal) {
	if r.cmd == nil || r.cmd.Process == nil {
		return
	}
	select {
	case <-r.done:
		return
	default:
	}
	_ = r.cmd.Process.Signal(syscall.SIGCONT) // a paused server cannot handle SIGTERM
	_ = r.cmd.Process.Signal(sig)
	select {
	case <-r.done:
	case <-time.After(15 * time.Second):
		_ = r.cmd.Process.Kill()
		<-r.done
	}
}

// Pause stops the process (SIGSTOP): it keeps its connections and answers
// nothing, as a hung server does. Resume continues it.
func (r *RedisServer) Pause() { _ = r.cmd.Process.Signal(syscall.SIGSTOP) }

// Resume continues a paused server.
func (r *RedisServer) Resume() { _ = r.cmd.Process.Signal(syscall.SIGCONT) }

// Log returns what the server logged.
func (r *RedisServer) Log() string {
	b, _ := os.ReadFile(filepath.Join(r.dir, "redis.log"))
	return string(b)
}

// StartSentinel starts a Sentinel that watches primary under name with the
// given quorum and fast failure detection, and waits until it knows the
// primary.
func StartSentinel(t testing.TB, name string, primary *RedisServer, quorum int) *RedisServer {
	t.Helper()
	port := FreePort(t)
	dir := t.TempDir()
	conf := filepath.Join(dir, "sentinel.conf")
	host, pport, _ := net.SplitHostPort(primary.Addr)
	body := strings.Join([]string{
		"port " + port, "bind 127.0.0.1", "dir " + dir, "logfile " + filepath.Join(dir, "redis.log"),
		fmt.Sprintf("sentinel monitor %s %s %s %d", name, host, pport, quorum),
		fmt.Sprintf("sentinel down-after-milliseconds %s 1000", name),
		fmt.Sprintf("sentinel failover-timeout %s 5000", name),
		fmt.Sprintf("sentinel parallel-syncs %s 1", name),
	}, "\n") + "\n"
	if err := os.WriteFile(conf, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	s := &RedisServer{t: t, Addr: "127.0.0.1:" + port, Port: port, dir: dir}
	s.cmd = exec.Command("redis-server", conf, "--sentinel")
	if err := s.cmd.Start(); err != nil {
		t.Fatalf("start sentinel: %v", err)
	}
	s.done = make(chan struct{})
	cmd, done := s.cmd, s.done
	go func() { _ = cmd.Wait(); close(done) }()
	t.Cleanup(s.Kill)
	s.WaitReady()
	return s
}

// StartCluster starts n primaries with cluster mode on and joins them into
// one Redis Cluster (redis-cli --cluster create), waiting until every slot
// is served. It returns the nodes; any of their addresses seeds a client.
func StartCluster(t testing.TB, n int) []*RedisServer {
	t.Helper()
	nodes := make([]*RedisServer, n)
	addrs := make([]string, n)
	for i := range nodes {
		// The bus port is a free one of its own: by default it is the port
		// plus 10000, which something else may hold (it failed CI so).
		nodes[i] = StartRedis(t, "--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",
			"--cluster-node-timeout", "2000", "--cluster-port", FreePort(t))
		addrs[i] = nodes[i].Addr
	}
	args := append([]string{"--cluster", "create"}, addrs...)
	args = append(args, "--cluster-replicas", "0", "--cluster-yes")
	if out, err := exec.Command("redis-cli", args...).CombinedOutput(); err != nil {
		t.Fatalf("redis-cli --cluster create: %v\n%s", err, out)
	}
	// Every node, not just the first, must see the whole cluster before a
	// service connects: a client that loads its slot map from a node still
	// learning the topology routes some slots nowhere (a writer then never
	// consumes those partitions).
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if clusterFormed(nodes) {
			return nodes
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("cluster of %v not formed on every node after 30 s", addrs)
	return nil
}

// clusterFormed reports whether every node says the cluster is ok, with all
// 16384 slots assigned and every node known.
func clusterFormed(nodes []*RedisServer) bool {
	for _, n := range nodes {
		info, _ := n.Do("CLUSTER", "INFO").(string)
		if !strings.Contains(info, "cluster_state:ok") || !strings.Contains(info, "cluster_slots_ok:16384") ||
			!strings.Contains(info, fmt.Sprintf("cluster_known_nodes:%d", len(nodes))) {
			return false
		}
	}
	return true
}
