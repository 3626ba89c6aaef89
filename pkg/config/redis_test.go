package config_test

import (
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/instachat/instachat/pkg/config"
	"github.com/instachat/instachat/pkg/counter"
)

func TestRedisTopology(t *testing.T) {
	tests := []struct {
		name string
		env  map[string]string
		want string // the client type
	}{
		{"one server by default", nil, "*redis.Client"},
		{"cluster from several addresses", map[string]string{"REDIS_ADDR": "127.0.0.1:7000, 127.0.0.1:7001"}, "*redis.ClusterClient"},
		{"cluster from one seed", map[string]string{"REDIS_ADDR": "redis-cluster:6379", "REDIS_CLUSTER": "true"}, "*redis.ClusterClient"},
		{"sentinel", map[string]string{"REDIS_ADDR": "s1:26379,s2:26379", "REDIS_SENTINEL_MASTER": "ic"}, "sentinel"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := config.NewEnv(func(k string) string { return tt.env[k] })
			common := config.ReadCommon(env, "test")
			if err := env.Err(); err != nil {
				t.Fatal(err)
			}
			c := common.RedisClient()
			defer c.Close()
			got := ""
			switch cl := c.(type) {
			case *redis.ClusterClient:
				got = "*redis.ClusterClient"
			case *redis.Client:
				got = "*redis.Client"
				if common.Redis.MasterName != "" {
					got = "sentinel"
				} else if cl.Options().Addr != "127.0.0.1:6379" {
					t.Errorf("address: got %q, want the default", cl.Options().Addr)
				}
			}
			if got != tt.want {
				t.Errorf("client: got %s (%T), want %s", got, c, tt.want)
			}
			r := common.Redis
			if r.ReadTimeout != time.Second || r.DialTimeout != time.Second || !r.ContextTimeoutEnabled || r.MaxRetries != -1 {
				t.Errorf("deadlines: got read %v, dial %v, context %v, retries %d; want 1 s, 1 s, true, none",
					r.ReadTimeout, r.DialTimeout, r.ContextTimeoutEnabled, r.MaxRetries)
			}
		})
	}
	env := config.NewEnv(func(k string) string {
		return map[string]string{"REDIS_WAIT_REPLICAS": "1", "REDIS_WAIT_TIMEOUT": "250ms"}[k]
	})
	if c := config.ReadCommon(env, "test").Counter; c.WaitReplicas != 1 || c.WaitTimeout != 250*time.Millisecond {
		t.Errorf("counter config: got %+v, want WAIT 1 within 250 ms", c)
	}
}

func TestIdempotencyTTL(t *testing.T) {
	for raw, want := range map[string]time.Duration{"": counter.DefaultIdempotencyTTL, "2h": 2 * time.Hour} {
		env := config.NewEnv(func(k string) string { return map[string]string{"IDEMPOTENCY_TTL": raw}[k] })
		if got := config.ReadCommon(env, "test").Counter.IdempotencyTTL; got != want || env.Err() != nil {
			t.Errorf("IDEMPOTENCY_TTL=%q: got %v, %v; want %v", raw, got, env.Err(), want)
		}
	}
	for _, bad := range []string{"10s", "800h", "soon"} {
		env := config.NewEnv(func(k string) string { return map[string]string{"IDEMPOTENCY_TTL": bad}[k] })
		config.ReadCommon(env, "test")
		if env.Err() == nil {
			t.Errorf("IDEMPOTENCY_TTL=%q: accepted, want an error", bad)
		}
	}
}

func TestEventsRetain(t *testing.T) {
	for raw, want := range map[string]int64{"": counter.DefaultEventsRetain, "1000": 1000, "500000": 500000} {
		env := config.NewEnv(func(k string) string { return map[string]string{"EVENTS_RETAIN_MAX": raw}[k] })
		if got := config.ReadCommon(env, "test").Counter.EventsRetain; got != want || env.Err() != nil {
			t.Errorf("EVENTS_RETAIN_MAX=%q: got %d, %v; want %d", raw, got, env.Err(), want)
		}
	}
	for _, bad := range []string{"999", "0", "-5", "20000000", "many"} {
		env := config.NewEnv(func(k string) string { return map[string]string{"EVENTS_RETAIN_MAX": bad}[k] })
		config.ReadCommon(env, "test")
		if env.Err() == nil {
			t.Errorf("EVENTS_RETAIN_MAX=%q: accepted, want an error", bad)
		}
	}
}
