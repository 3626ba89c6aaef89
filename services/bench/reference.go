package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"syscall"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/redis/go-redis/v9"
)

// refScript is the only work the reference endpoint does against Redis: one
// round trip that hands out a number and queues the body (trimmed so a long
// run does not fill Redis).
var refScript = redis.NewScript(`
local n = redis.call('INCR', KEYS[1])
redis.call('LPUSH', KEYS[2], ARGV[1])
redis.call('LTRIM', KEYS[2], 0, 99999)
return n`)

// reference is the floor a create endpoint can reach on this machine: decode
// the JSON body and make one Redis round trip, nothing else. Our create
// throughput is reported as a ratio to it. It runs in a process of its own,
// as the api does, so neither shares a Go runtime with the load generator.
type reference struct {
	cmd  *exec.Cmd
	addr string
}

// startReference starts this program again as the reference server
// ("bench reference") and waits until it answers.
func startReference(redisAddr, prefix string) (*reference, error) {
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	cmd, err := selfCommand("reference", addr, redisAddr, prefix)
	if err != nil {
		return nil, err
	}
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start the reference: %w", err)
	}
	ref := &reference{cmd: cmd, addr: addr}
	if !awaitListen(addr, 30*time.Second, nil) {
		ref.close()
		return nil, errors.New("the reference did not start listening within 30 s")
	}
	return ref, nil
}

// selfCommand is this program run again with args: the references run in
// processes of their own, as the api does, so neither shares a Go runtime
// with the load generator.
func selfCommand(args ...string) (*exec.Cmd, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	return exec.Command(exe, args...), nil
}

// awaitListen reports whether addr accepts a connection within timeout; it
// gives up early when exited closes.
func awaitListen(addr string, timeout time.Duration, exited <-chan struct{}) bool {
	for deadline := time.Now().Add(timeout); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		select {
		case <-exited:
			return false
		default:
		}
		if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
			c.Close()
			return true
		}
	}
	return false
}

// serveReference is the reference process: it serves until SIGTERM.
func serveReference(ctx context.Context, addr, redisAddr, prefix string) error {
	rdb := redis.NewClient(&redis.Options{Addr: redisAddr, PoolSize: 256})
	defer rdb.Close()
	gin.SetMode(gin.ReleaseMode)
	r := gin.New()
	r.POST("/api/v1/applications/:token/chats/:number/messages", func(c *gin.Context) {
		var in struct {
			Body string `json:"body"`
		}
		if err := c.ShouldBindJSON(&in); err != nil || in.Body == "" {
			c.JSON(http.StatusBadRequest, gin.H{"error": "body is required"})
			return
		}
		key := prefix + "ref:{" + c.Param("token") + ":" + c.Param("number") + "}"
		n, err := refScript.Run(c.Request.Context(), rdb, []string{key + ":n", key + ":q"}, in.Body).Int64()
		if err != nil {
			c.JSON(http.StatusServiceUnavailable, gin.H{"error": "redis"})
			return
		}
		c.JSON(http.StatusCreated, gin.H{"number": n, "body": in.Body, "status": "pending"})
	})
	srv := &http.Server{Addr: addr, Handler: r, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	if err := srv.ListenAndServe(); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// url is the reference's base URL: it serves the api's message create
// route, so the Go client drives it as it drives the api.
func (r *reference) url() string { return "http://" + r.addr }

func (r *reference) close() {
	_ = r.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { _ = r.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		_ = r.cmd.Process.Kill()
		<-done
	}
}
