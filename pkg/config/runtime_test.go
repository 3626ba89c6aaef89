package config_test

import (
	"bytes"
	"context"
	"testing"

	"github.com/instachat/instachat/pkg/config"
	"github.com/instachat/instachat/pkg/testenv"
)

// TestConnectOpensBoth checks the start-up every service shares: a logger
// writing where it is told, a migrated MySQL and a Redis client that answers.
func TestConnectOpensBoth(t *testing.T) {
	dsn := testenv.MySQLDSN(t)
	env := config.NewEnv(func(k string) string {
		return map[string]string{"MYSQL_DSN": dsn, "REDIS_ADDR": testenv.RedisAddr(), "LOG_FORMAT": "json"}[k]
	})
	common := config.ReadCommon(env, "test")
	var out bytes.Buffer
	log, err := common.Logger(context.Background(), &out)
	if err != nil {
		t.Fatal(err)
	}
	log.Info("hello")
	if !bytes.Contains(out.Bytes(), []byte(`"msg":"hello"`)) {
		t.Errorf("logger output: got %q, want a JSON line", out.String())
	}
	conns, err := common.Connect(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer conns.Close()
	if err := conns.Store.Ping(context.Background()); err != nil {
		t.Errorf("MySQL: %v", err)
	}
	if err := conns.Redis.Ping(context.Background()).Err(); err != nil {
		t.Errorf("Redis: %v", err)
	}
}
