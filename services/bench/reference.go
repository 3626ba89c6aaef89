package main

import (
	"context"
	"errors"
	"net"
	"net/http"
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
// throughput is reported as a ratio to it.
type reference struct {
	srv *http.Server
	ln  net.Listener
}

func startReference(rdb *redis.Client, prefix string) (*reference, error) {
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
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	ref := &reference{srv: &http.Server{Handler: r, ReadHeaderTimeout: 5 * time.Second}, ln: ln}
	go func() {
		if err := ref.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			_ = err // the load's errors show it
		}
	}()
	return ref, nil
}

func (r *reference) url() string { return "http://" + r.ln.Addr().String() + "/api/v1" }

func (r *reference) close() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = r.srv.Shutdown(ctx)
}
