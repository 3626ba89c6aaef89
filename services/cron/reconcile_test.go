package main

import (
	"bytes"
	"database/sql"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/instachat/instachat/pkg/queue"
	"github.com/instachat/instachat/pkg/store"
	"github.com/instachat/instachat/pkg/testenv"
)

// reconcileCLI runs `cron reconcile args…` against dsn and returns the exit
// status and what it printed.
func reconcileCLI(t *testing.T, dsn string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	getenv := func(k string) string {
		if k == "MYSQL_DSN" {
			return dsn
		}
		return ""
	}
	code = reconcileMain(t.Context(), args, getenv, &out, &errOut)
	return code, out.String(), errOut.String()
}

func TestReconcileCommandExitStatus(t *testing.T) {
	dsn := testenv.MySQLDSN(t)
	st, err := store.Open(t.Context(), store.Config{DSN: dsn})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ctx := t.Context()
	at := time.Now().UTC().Add(-time.Minute).Truncate(time.Microsecond)
	prov := store.Provenance{EventID: "ev-chat", EventTime: at, ReadAt: at, WriteAt: at}
	err = st.InTx(ctx, func(tx *store.Tx) error {
		if _, err := tx.CreateChats(ctx, []store.ChatWrite{{AppID: 1, Number: 1, Prov: prov}}); err != nil {
			return err
		}
		return tx.Journal(ctx, []store.JournalEntry{{EventID: "ev-chat", Type: queue.TypeChatCreate, AppID: 1, Chat: 1,
			EventTime: at, ReadAt: at, WrittenAt: at, Outcome: store.OutcomeApplied}})
	})
	if err != nil {
		t.Fatal(err)
	}

	if code, out, errOut := reconcileCLI(t, dsn); code != 0 || !strings.Contains(out, "clean") {
		t.Fatalf("clean database: got status %d, %q %q; want 0 and a clean report", code, out, errOut)
	}
	db, err := sql.Open("mysql", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.ExecContext(ctx, "DELETE FROM chats"); err != nil {
		t.Fatal(err)
	}

	code, out, _ := reconcileCLI(t, dsn, "-json", "-app-id", "1")
	var rep struct {
		ChatsChecked int64            `json:"chats_checked"`
		Differences  map[string]int64 `json:"differences"`
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("-json: got %q: %v", out, err)
	}
	if code != 3 || rep.ChatsChecked != 1 || rep.Differences["missing_row"] != 1 {
		t.Errorf("missing chat row: got status %d, %+v; want 3 and one missing_row", code, rep)
	}
	if code, out, _ := reconcileCLI(t, dsn, "-repair", "-partitions", "2"); code != 3 || !strings.Contains(out, "fixed: 1") {
		t.Errorf("-repair: got status %d, %q; want 3 (differences were found) and one fixed", code, out)
	}
	if code, out, _ := reconcileCLI(t, dsn, "-app-id", "1", "-chat", "1"); code != 0 {
		t.Errorf("after the repair: got status %d, %q; want 0", code, out)
	}

	for _, args := range [][]string{
		{"-chat", "1"}, {"-partitions", "0"}, {"-partitions", "4", "-partition", "4"}, {"-nope"}, {"extra"},
	} {
		if code, _, errOut := reconcileCLI(t, dsn, args...); code != 1 || !strings.Contains(errOut, "usage: cron reconcile") {
			t.Errorf("args %q: got status %d, %q; want 1 with the usage", args, code, errOut)
		}
	}
	if code, out, _ := reconcileCLI(t, dsn, "-h"); code != 0 || !strings.Contains(out, "Exit status") {
		t.Errorf("-h: got status %d, %q; want 0 and the usage", code, out)
	}
	if code, _, errOut := reconcileCLI(t, "root:@tcp(127.0.0.1:1)/nowhere?timeout=1s"); code != 1 || errOut == "" {
		t.Errorf("unreachable database: got status %d, %q; want 1 with the error", code, errOut)
	}
}

func TestReconcileCommandTakesAnApplicationToken(t *testing.T) {
	dsn := testenv.MySQLDSN(t)
	st, err := store.Open(t.Context(), store.Config{DSN: dsn})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ref, err := st.CreateApplication(t.Context(), "reconcile by token", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name     string
		args     []string
		wantCode int
		want     string
	}{
		{"by token", []string{"-app", ref.App.Token, "-json"}, 0, `"chats_checked": 0`},
		{"by token and chat", []string{"-app", ref.App.Token, "-chat", "1"}, 0, "clean"},
		{"unknown token", []string{"-app", "no-such-token"}, 1, "-app:"},
		{"both -app and -app-id", []string{"-app", ref.App.Token, "-app-id", "1"}, 1, "give one"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			code, out, errOut := reconcileCLI(t, dsn, c.args...)
			if code != c.wantCode || !strings.Contains(out+errOut, c.want) {
				t.Errorf("got status %d, %q %q; want %d and %q", code, out, errOut, c.wantCode, c.want)
			}
		})
	}
}
