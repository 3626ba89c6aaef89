package main

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/instachat/instachat/pkg/search/bleve"
	"github.com/instachat/instachat/pkg/store"
	"github.com/instachat/instachat/pkg/testenv"
)

// envOf returns a getenv that sees only vars, so the developer's environment
// (ELASTICSEARCH_URL, MYSQL_DSN) cannot leak into the test.
func envOf(vars map[string]string) func(string) string {
	return func(k string) string { return vars[k] }
}

func TestRebuildCommand(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dsn := testenv.MySQLDSN(t)
	st, err := store.Open(ctx, store.Config{DSN: dsn})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	app, err := st.CreateApplication(ctx, "rebuild command", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC()
	var ws []store.MessageWrite
	for n := int64(1); n <= 50; n++ {
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
	getenv := envOf(map[string]string{"MYSQL_DSN": dsn, "BLEVE_PATH": t.TempDir(), "LOG_LEVEL": "warn"})

	var stdout, stderr bytes.Buffer
	if err := run(ctx, []string{"rebuild", "-batch", "7"}, getenv, &stdout, &stderr); err != nil {
		t.Fatalf("api rebuild: %v\nstderr: %s", err, stderr.String())
	}
	if !strings.Contains(stdout.String(), "50 messages sent") {
		t.Errorf("stdout: got %q, want the number of messages sent", stdout.String())
	}
	if !strings.Contains(stderr.String(), "100.0%  50/50") || !strings.HasSuffix(stderr.String(), "\n") {
		t.Errorf("stderr: got %q, want a finished progress bar ending its line", stderr.String())
	}
	state, ok, err := st.RebuildState(ctx, fmt.Sprintf("bleve-v%d", bleve.MappingVersion))
	if err != nil || !ok || !state.Finished() || state.Total != 50 {
		t.Errorf("saved state: got %+v, %v, %v; want a finished rebuild of 50 messages", state, ok, err)
	}
}

func TestRebuildCommandWhileTheApiHoldsTheBleveIndex(t *testing.T) {
	t.Parallel()
	path := t.TempDir()
	held, err := bleve.Open(bleve.Config{Path: path})
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	getenv := envOf(map[string]string{"MYSQL_DSN": testenv.MySQLDSN(t), "BLEVE_PATH": path, "LOG_LEVEL": "warn"})
	var stdout, stderr bytes.Buffer
	err = run(context.Background(), []string{"rebuild"}, getenv, &stdout, &stderr)
	if err == nil || !strings.Contains(err.Error(), "stop the api first (it holds the bleve index) or use Elasticsearch") {
		t.Errorf("rebuild of a locked index: got %v, want advice to stop the api", err)
	}
}

func TestCommandLine(t *testing.T) {
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"rebiuld"}, `unknown command "rebiuld"`},
		{[]string{"rebuild", "-batch", "0"}, "-batch must be at least 1"},
		{[]string{"rebuild", "now"}, `unexpected argument "now"`},
		{[]string{"rebuild", "-fast"}, "flag provided but not defined"},
	}
	for _, c := range cases {
		var stdout, stderr bytes.Buffer
		err := run(context.Background(), c.args, envOf(nil), &stdout, &stderr)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("api %s: got %v, want an error containing %q", strings.Join(c.args, " "), err, c.want)
		}
	}
	var stdout bytes.Buffer
	if err := run(context.Background(), []string{"help"}, envOf(nil), &stdout, &stdout); err != nil || !strings.Contains(stdout.String(), "api rebuild [-restart] [-batch N]") {
		t.Errorf("api help: got %q, %v; want the usage", stdout.String(), err)
	}
}
