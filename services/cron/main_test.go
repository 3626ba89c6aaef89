package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/instachat/instachat/pkg/config"
)

func TestDispatch(t *testing.T) {
	getenv := func(string) string { return "" }
	tests := []struct {
		name       string
		args       []string
		wantCode   int
		wantStdout string
		wantStderr string
	}{
		// Without a command cron used to start the service; now it explains itself.
		{"no command prints the usage and fails", nil, exitUsage, "", "usage: cron <command>"},
		{"help", []string{"help"}, exitOK, "usage: cron <command>", ""},
		{"-h", []string{"-h"}, exitOK, "usage: cron <command>", ""},
		{"unknown command", []string{"start"}, exitUsage, "", `unknown command "start"`},
		{"serve refuses arguments", []string{"serve", "now"}, exitError, "", "serve takes no arguments"},
		{"sync refuses arguments", []string{"sync", "-all"}, exitError, "", "sync takes no arguments"},
		{"purge refuses arguments", []string{"purge", "x"}, exitError, "", "purge takes no arguments"},
		{"requeue refuses arguments", []string{"requeue", "x"}, exitError, "", "requeue takes no arguments"},
		{"reconcile help", []string{"reconcile", "-h"}, exitOK, "usage: cron reconcile", ""},
		{"reconcile bad flag", []string{"reconcile", "-nope"}, reconcileFailed, "", "usage: cron reconcile"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := dispatch(t.Context(), tt.args, getenv, &stdout, &stderr)
			if code != tt.wantCode {
				t.Errorf("cron %q: got status %d, want %d (stderr %q)", tt.args, code, tt.wantCode, stderr.String())
			}
			if !strings.Contains(stdout.String(), tt.wantStdout) {
				t.Errorf("cron %q: got stdout %q, want it to contain %q", tt.args, stdout.String(), tt.wantStdout)
			}
			if !strings.Contains(stderr.String(), tt.wantStderr) {
				t.Errorf("cron %q: got stderr %q, want it to contain %q", tt.args, stderr.String(), tt.wantStderr)
			}
		})
	}
}

// TestUsageListsEveryCommand: the usage text comes from the command table,
// so help never misses a command dispatch knows.
func TestUsageListsEveryCommand(t *testing.T) {
	u := usage()
	for _, c := range commands() {
		if !strings.Contains(u, "\n  "+c.name) {
			t.Errorf("usage does not list %q:\n%s", c.name, u)
		}
		if c.summary == "" || c.run == nil {
			t.Errorf("command %q: got an empty summary or no function", c.name)
		}
	}
}

func TestPrintTargetHidesThePassword(t *testing.T) {
	vars := map[string]string{
		"MYSQL_DSN":        "app:s3cr3t-pass@tcp(db.internal:3307)/chat_prod",
		"REDIS_KEY_PREFIX": "prod:",
	}
	env := config.NewEnv(func(k string) string { return vars[k] })
	common := config.ReadCommon(env, "cron")
	var b bytes.Buffer
	printTarget(&b, common)
	if got, want := b.String(), "cron: database chat_prod on db.internal:3307, key prefix \"prod:\"\n"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	if strings.Contains(b.String(), "s3cr3t") {
		t.Errorf("the password leaked: %q", b.String())
	}
}
