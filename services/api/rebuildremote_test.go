package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/instachat/instachat/pkg/search/bleve"
	"github.com/instachat/instachat/pkg/store"
	"github.com/instachat/instachat/pkg/testenv"
	"github.com/instachat/instachat/services/api/internal/httpapi"
	"github.com/instachat/instachat/services/api/internal/index"
)

const testAdminToken = "9f2c4e7a1b3d5f60718293a4b5c6d7e8f9a0b1c2"

// closedURL returns the URL of a port nothing listens on.
func closedURL(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return "http://" + addr
}

func TestRebuildCommandAsksTheRunningApi(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	dsn := testenv.MySQLDSN(t)
	st, err := store.Open(ctx, store.Config{DSN: dsn})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	app, err := st.CreateApplication(ctx, "rebuild via the api", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC()
	var ws []store.MessageWrite
	for n := int64(1); n <= 30; n++ {
		ws = append(ws, store.MessageWrite{AppID: app.ID, Chat: 1, Number: n, Body: fmt.Sprint("message ", n),
			Prov: store.Provenance{EventID: fmt.Sprint("e", n), EventTime: now, ReadAt: now, WriteAt: now}})
	}
	if err := st.InTx(ctx, func(tx *store.Tx) error {
		if _, err := tx.CreateChats(ctx, []store.ChatWrite{{AppID: app.ID, Number: 1, Prov: ws[0].Prov}}); err != nil {
			return err
		}
		_, err := tx.CreateMessages(ctx, ws)
		return err
	}); err != nil {
		t.Fatal(err)
	}

	// The running api: it holds the bleve index and serves /admin.
	path := t.TempDir()
	engine, err := bleve.Open(bleve.Config{Path: path})
	if err != nil {
		t.Fatal(err)
	}
	defer engine.Close()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	idx := index.New(st, engine, log)
	ready := make(chan struct{})
	close(ready)
	done := make(chan struct{})
	go func() { idx.Run(ctx, ready, index.CatchUpConfig{Interval: time.Hour, Delay: time.Hour}); close(done) }()
	defer func() { cancel(); <-done }()
	srv := httptest.NewServer(httpapi.NewServer(httpapi.Config{Index: idx, AdminToken: testAdminToken}, nil, nil, log))
	defer srv.Close()

	getenv := envOf(map[string]string{"MYSQL_DSN": dsn, "BLEVE_PATH": path, "LOG_LEVEL": "warn",
		"API_URL": srv.URL, "ADMIN_TOKEN": testAdminToken})
	var stdout, stderr bytes.Buffer
	if err := run(ctx, []string{"rebuild", "-restart"}, getenv, &stdout, &stderr); err != nil {
		t.Fatalf("api rebuild: %v\nstderr: %s", err, stderr.String())
	}
	if !strings.Contains(stdout.String(), "rebuilt: 30 messages indexed by the api") {
		t.Errorf("stdout: got %q, want the api's rebuild of 30 messages", stdout.String())
	}
	if !strings.Contains(stderr.String(), "100.0%  30/30") {
		t.Errorf("stderr: got %q, want the finished progress", stderr.String())
	}
	state, ok, err := st.RebuildState(ctx, fmt.Sprintf("bleve-v%d", bleve.MappingVersion))
	if err != nil || !ok || !state.Finished() {
		t.Errorf("saved state: got %+v, %v, %v; want a finished rebuild", state, ok, err)
	}
}

func TestRebuildCommandFailsAtOnceWhenTheApiCannotBeAsked(t *testing.T) {
	t.Parallel()
	path := t.TempDir()
	held, err := bleve.Open(bleve.Config{Path: path})
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	dsn := testenv.MySQLDSN(t)
	cases := []struct {
		name string
		env  map[string]string
		want string
	}{
		{"no ADMIN_TOKEN", nil, "set ADMIN_TOKEN (and API_URL) as the api has them"},
		{"no api at API_URL", map[string]string{"ADMIN_TOKEN": testAdminToken, "API_URL": closedURL(t)},
			"set ADMIN_TOKEN (and API_URL) as the api has them"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			env := map[string]string{"MYSQL_DSN": dsn, "BLEVE_PATH": path, "LOG_LEVEL": "warn"}
			for k, v := range c.env {
				env[k] = v
			}
			var stdout, stderr bytes.Buffer
			start := time.Now()
			err := run(context.Background(), []string{"rebuild"}, envOf(env), &stdout, &stderr)
			// It used to wait 10 s for bleve's lock; now it waits 300 ms. The
			// bound leaves room for opening MySQL on a busy machine.
			if took := time.Since(start); took > 5*time.Second {
				t.Errorf("took %v, want it to fail at once, not after bleve's old 10 s wait", took)
			}
			if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), "stop the api first") {
				t.Errorf("got %v, want advice containing %q", err, c.want)
			}
		})
	}
}

func TestRebuildCommandReportsARefusingApi(t *testing.T) {
	t.Parallel()
	path := t.TempDir()
	held, err := bleve.Open(bleve.Config{Path: path})
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	srv := httptest.NewServer(httpapi.NewServer(httpapi.Config{AdminToken: testAdminToken}, nil, nil, log))
	defer srv.Close()
	env := map[string]string{"MYSQL_DSN": testenv.MySQLDSN(t), "BLEVE_PATH": path, "LOG_LEVEL": "warn",
		"API_URL": srv.URL, "ADMIN_TOKEN": strings.Repeat("a1b2c3d4", 5)}
	var stdout, stderr bytes.Buffer
	err = run(context.Background(), []string{"rebuild"}, envOf(env), &stdout, &stderr)
	if err == nil || !strings.Contains(err.Error(), "refused the rebuild request (401") {
		t.Errorf("got %v, want the api's refusal (a wrong token)", err)
	}
}
