package main

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/instachat/instachat/pkg/queue"
	"github.com/instachat/instachat/pkg/testenv"
)

// deadQueue returns a two-partition queue on a fresh key prefix, its
// inspector and an application key of each partition.
func deadQueue(t *testing.T) (*queue.Queue, *queue.Inspector, *redis.Client, [2]string) {
	t.Helper()
	rdb, prefix := testenv.Redis(t)
	q := queue.New(rdb, queue.NewKeys(prefix, 2), queue.DefaultConfig())
	var apps [2]string
	for i := 0; apps[0] == "" || apps[1] == ""; i++ {
		// Jobs written before token digests carried the token itself: a
		// listing must not show an application key at all.
		app := fmt.Sprintf("secret-token-%04d", i)
		if apps[q.Keys().Partition(app)] == "" {
			apps[q.Keys().Partition(app)] = app
		}
	}
	return q, queue.NewInspector(rdb, q.Keys()), rdb, apps
}

// buryJob buries a message job with id and message number n, accepted at.
func buryJob(t *testing.T, q *queue.Queue, app, id string, n int64, at time.Time) {
	t.Helper()
	e := queue.Envelope{ID: id, Type: queue.TypeMessageCreate, App: app, Body: "hello", Time: at.UnixMicro(), Chat: 3, Message: n, Attempt: 24}
	if err := q.Bury(t.Context(), e, errors.New("chat 3 is\nmissing")); err != nil {
		t.Fatalf("Bury(%s): %v", id, err)
	}
}

// dead runs `cron dead args…` and returns its output.
func dead(t *testing.T, in *queue.Inspector, now time.Time, args ...string) (string, error) {
	t.Helper()
	var out bytes.Buffer
	err := runDead(t.Context(), in, args, &out, now)
	return out.String(), err
}

func TestDeadList(t *testing.T) {
	q, in, _, apps := deadQueue(t)
	now := time.Now()
	buryJob(t, q, apps[0], "ev-old", 1, now.Add(-50*time.Hour))
	buryJob(t, q, apps[1], "ev-new", 2, now.Add(-90*time.Second))
	const garbage = `{"token": "another-secret"`
	if err := q.BuryRaw(t.Context(), 0, garbage); err != nil {
		t.Fatal(err)
	}

	out, err := dead(t, in, now, "list")
	if err != nil {
		t.Fatalf("dead list: %v", err)
	}
	for _, want := range []string{"PARTITION", "LAST ERROR", "ev-old", "ev-new", "message.create", "25", "2d02h", "1m", "chat 3 is missing", "(undecodable)", "raw-", "1–3 of 3 dead jobs"} {
		if !strings.Contains(out, want) {
			t.Errorf("dead list: output lacks %q:\n%s", want, out)
		}
	}
	for _, secret := range []string{apps[0], apps[1], "another-secret"} {
		if strings.Contains(out, secret) {
			t.Errorf("dead list: output shows %q:\n%s", secret, out)
		}
	}

	out, err = dead(t, in, now, "list", "-partition", "1")
	if err != nil || !strings.Contains(out, "ev-new") || strings.Contains(out, "ev-old") {
		t.Errorf("dead list -partition 1: got %v:\n%s\nwant ev-new only", err, out)
	}
	out, err = dead(t, in, now, "list", "-partition", "0", "-limit", "1")
	if err != nil || !strings.Contains(out, "(undecodable)") || strings.Contains(out, "ev-old") || !strings.Contains(out, "1–1 of 2") {
		t.Errorf("dead list -partition 0 -limit 1: got %v:\n%s\nwant the newest job of partition 0 only", err, out)
	}
	out, err = dead(t, in, now, "list", "-offset", "10")
	if err != nil || !strings.Contains(out, "no dead jobs to show (3 in total)") {
		t.Errorf("dead list -offset 10: got %v:\n%s", err, out)
	}
}

func TestDeadBadArguments(t *testing.T) {
	_, in, _, _ := deadQueue(t)
	tests := []struct {
		args []string
		want string
	}{
		{nil, "usage: cron dead"},
		{[]string{"bury"}, `unknown dead command "bury"`},
		{[]string{"list", "-partition", "2"}, "from 0 to 1 (or -1 for all)"},
		{[]string{"list", "-partition", "-2"}, "from 0 to 1 (or -1 for all)"},
		{[]string{"list", "-limit", "0"}, "-limit at least 1"},
		{[]string{"list", "-limit", "many"}, "invalid value"},
		{[]string{"list", "extra"}, `unexpected argument "extra"`},
		{[]string{"list", "-colour"}, "flag provided but not defined"},
		{[]string{"replay"}, "give one job ID"},
		{[]string{"replay", "a", "b"}, "give one job ID"},
		{[]string{"replay", "-all", "a"}, "not both"},
		{[]string{"replay", "-partition", "1", "a"}, "-partition goes with -all only"},
		{[]string{"discard", "-all", "-partition", "5"}, "from 0 to 1 (or -1 for all)"},
		{[]string{"replay", "nope"}, "no dead job has this id"},
		{[]string{"discard", "nope"}, "no dead job has this id"},
	}
	for _, tt := range tests {
		out, err := dead(t, in, time.Now(), tt.args...)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("dead %v: got error %v (output %q), want one containing %q", tt.args, err, out, tt.want)
		}
	}
	if out, err := dead(t, in, time.Now(), "help"); err != nil || !strings.Contains(out, "usage: cron dead") {
		t.Errorf("dead help: got %v, %q; want the usage", err, out)
	}
}

func TestDeadReplayAndDiscard(t *testing.T) {
	q, in, rdb, apps := deadQueue(t)
	now := time.Now()
	buryJob(t, q, apps[0], "ev-1", 1, now)
	buryJob(t, q, apps[0], "ev-2", 2, now)
	buryJob(t, q, apps[1], "ev-3", 3, now)
	buryJob(t, q, apps[1], "ev-4", 4, now)
	if err := q.BuryRaw(t.Context(), 1, "garbage"); err != nil {
		t.Fatal(err)
	}
	jobs, _, err := in.Dead(t.Context(), 1, 0, 1)
	if err != nil || len(jobs) != 1 {
		t.Fatalf("Dead: %v", err)
	}
	garbageID := jobs[0].ID

	out, err := dead(t, in, now, "replay", "ev-1")
	if err != nil || !strings.Contains(out, "replayed ev-1") {
		t.Fatalf("dead replay ev-1: got %v, %q", err, out)
	}
	raw, err := rdb.RPop(t.Context(), q.Keys().Pending(0)).Result()
	if err != nil {
		t.Fatalf("pending of partition 0 after replay: %v", err)
	}
	if e, err := queue.Decode(raw); err != nil || e.ID != "ev-1" || e.Attempt != 0 || e.Error != "" {
		t.Errorf("replayed job: got %+v, %v; want ev-1 with attempts reset", e, err)
	}
	if _, err := dead(t, in, now, "replay", garbageID); err == nil || !strings.Contains(err.Error(), "cannot be replayed") {
		t.Errorf("dead replay of an undecodable job: got %v, want an error saying it cannot be replayed", err)
	}

	out, err = dead(t, in, now, "discard", "ev-2")
	if err != nil || !strings.Contains(out, "discarded ev-2") {
		t.Errorf("dead discard ev-2: got %v, %q", err, out)
	}

	out, err = dead(t, in, now, "replay", "-all")
	if err != nil || !strings.Contains(out, "replayed 2 dead jobs") || !strings.Contains(out, "1 dead jobs remain") {
		t.Errorf("dead replay -all: got %v, %q; want 2 replayed and 1 left", err, out)
	}
	if n := rdb.LLen(t.Context(), q.Keys().Pending(1)).Val(); n != 2 {
		t.Errorf("pending of partition 1: got %d jobs, want 2", n)
	}

	out, err = dead(t, in, now, "discard", "-all", "-partition", "1")
	if err != nil || !strings.Contains(out, "discarded 1 dead jobs") {
		t.Errorf("dead discard -all -partition 1: got %v, %q", err, out)
	}
	if _, total, _ := in.Dead(t.Context(), -1, 0, 1); total != 0 {
		t.Errorf("dead jobs left: got %d, want 0", total)
	}
}

func TestAge(t *testing.T) {
	tests := []struct {
		d    time.Duration
		want string
	}{
		{-time.Second, "0s"},
		{42 * time.Second, "42s"},
		{7*time.Minute + 30*time.Second, "7m"},
		{3*time.Hour + 5*time.Minute, "3h05m"},
		{52 * time.Hour, "2d04h"},
	}
	for _, tt := range tests {
		if got := age(tt.d); got != tt.want {
			t.Errorf("age(%v): got %q, want %q", tt.d, got, tt.want)
		}
	}
}

func TestParseLane(t *testing.T) {
	tests := []struct {
		args     []string
		lane     string
		rest     []string
		errorHas string
	}{
		{[]string{"list"}, "jobs", []string{"list"}, ""},
		{[]string{"-lane", "jobs", "list"}, "jobs", []string{"list"}, ""},
		{[]string{"-lane", "hooks", "replay", "-all"}, "hooks", []string{"replay", "-all"}, ""},
		{[]string{"-lane=hooks", "discard", "x.wh_a"}, "hooks", []string{"discard", "x.wh_a"}, ""},
		{[]string{"-h"}, "jobs", []string{"help"}, ""},
		{nil, "jobs", []string{}, ""},
		{[]string{"-lane", "webhooks", "list"}, "", nil, `-lane "webhooks": want jobs`},
		{[]string{"-lane"}, "", nil, "flag needs an argument"},
		{[]string{"-partition", "1", "list"}, "", nil, "flag provided but not defined: -partition"},
	}
	for _, tt := range tests {
		lane, rest, err := parseLane(tt.args)
		if tt.errorHas != "" {
			if err == nil || !strings.Contains(err.Error(), tt.errorHas) || !strings.Contains(err.Error(), "usage: cron dead [-lane jobs|hooks]") {
				t.Errorf("parseLane(%q): got error %v, want one containing %q and the usage", tt.args, err, tt.errorHas)
			}
			continue
		}
		if err != nil || lane != tt.lane || strings.Join(rest, " ") != strings.Join(tt.rest, " ") {
			t.Errorf("parseLane(%q): got %q, %q, %v; want %q, %q", tt.args, lane, rest, err, tt.lane, tt.rest)
		}
	}
}

// buryDelivery buries a webhook delivery of event id to endpoint hook on
// the hooks lane hq and returns its dead job id.
func buryDelivery(t *testing.T, hq *queue.Queue, app, id, hook string, at time.Time) string {
	t.Helper()
	e := queue.Envelope{ID: id, Type: queue.TypeMessageCreate, App: app, Body: "hello", Time: at.UnixMicro(), Chat: 3, Message: 9,
		Attempt: 7, Ev: "1764324000123-5", Hook: hook}
	if err := hq.Bury(t.Context(), e, errors.New("HTTP 503")); err != nil {
		t.Fatalf("Bury(%s): %v", e.Ref(), err)
	}
	return e.Ref()
}

func TestDeadHooksLane(t *testing.T) {
	q, jobs, rdb, apps := deadQueue(t)
	hq := queue.New(rdb, q.Keys().Hooks(), queue.DefaultConfig())
	hooks := queue.NewInspector(rdb, hq.Keys())
	now := time.Now()
	buryJob(t, q, apps[0], "ev-job", 1, now)
	refA := buryDelivery(t, hq, apps[0], "ev-1", "wh_alpha", now.Add(-3*time.Hour))
	refB := buryDelivery(t, hq, apps[0], "ev-1", "wh_beta", now.Add(-3*time.Hour))

	out, err := dead(t, hooks, now, "list")
	if err != nil {
		t.Fatalf("dead -lane hooks list: %v", err)
	}
	for _, want := range []string{"ENDPOINT", "POSITION", refA, refB, "wh_alpha", "1764324000123-5", "HTTP 503", "3h00m", "1–2 of 2 dead deliveries"} {
		if !strings.Contains(out, want) {
			t.Errorf("dead -lane hooks list: output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "ev-job") || strings.Contains(out, apps[0]) {
		t.Errorf("dead -lane hooks list: shows the jobs lane or an application key:\n%s", out)
	}
	if out, _ := dead(t, jobs, now, "list"); strings.Contains(out, "ENDPOINT") || strings.Contains(out, refA) {
		t.Errorf("dead list (jobs lane): shows deliveries:\n%s", out)
	}
	if _, err := dead(t, jobs, now, "replay", refA); err == nil || !strings.Contains(err.Error(), "no dead job has this id") {
		t.Errorf("dead replay of a delivery on the jobs lane: got %v, want no such dead job", err)
	}

	out, err = dead(t, hooks, now, "replay", refA)
	if err != nil || !strings.Contains(out, "replayed "+refA) {
		t.Fatalf("dead -lane hooks replay %s: got %v, %q", refA, err, out)
	}
	p := q.Keys().Partition(apps[0])
	raw, err := rdb.RPop(t.Context(), hq.Keys().Pending(p)).Result()
	if err != nil {
		t.Fatalf("hooks lane's pending after replay: %v", err)
	}
	if e, err := queue.Decode(raw); err != nil || e.Ref() != refA || e.Attempt != 0 {
		t.Errorf("replayed delivery: got %+v, %v; want %s with its attempts reset", e, err, refA)
	}
	out, err = dead(t, hooks, now, "discard", "-all")
	if err != nil || !strings.Contains(out, "discarded 1 dead jobs") {
		t.Errorf("dead -lane hooks discard -all: got %v, %q", err, out)
	}
	if _, total, _ := jobs.Dead(t.Context(), -1, 0, 1); total != 1 {
		t.Errorf("jobs lane after the hooks lane's discard -all: got %d dead, want 1", total)
	}
}

// TestDeadMainLane runs `cron dead -lane hooks` the way the binary does,
// from the environment: it reaches the hooks lane of the configured prefix,
// with no MySQL.
func TestDeadMainLane(t *testing.T) {
	rdb, prefix := testenv.Redis(t)
	keys := queue.NewKeys(prefix, 2)
	ref := buryDelivery(t, queue.New(rdb, keys.Hooks(), queue.DefaultConfig()), "app-digest", "ev-1", "wh_alpha", time.Now())
	env := map[string]string{"REDIS_ADDR": testenv.RedisAddr(), "REDIS_KEY_PREFIX": prefix, "QUEUE_PARTITIONS": "2",
		"MYSQL_DSN": "nobody:@tcp(127.0.0.1:1)/nowhere"}
	getenv := func(k string) string { return env[k] }
	var out, errOut bytes.Buffer
	if err := deadMain(t.Context(), []string{"-lane", "hooks", "list"}, getenv, &out, &errOut); err != nil || !strings.Contains(out.String(), ref) {
		t.Errorf("cron dead -lane hooks list: got %v:\n%s", err, out.String())
	}
	if strings.Contains(out.String(), "MySQL is unavailable") {
		t.Errorf("cron dead -lane hooks: it tried MySQL, which the hooks lane does not need:\n%s", out.String())
	}
	out.Reset()
	if err := deadMain(t.Context(), []string{"-lane", "hooks", "discard", ref}, getenv, &out, &errOut); err != nil || !strings.Contains(out.String(), "discarded "+ref) {
		t.Errorf("cron dead -lane hooks discard: got %v:\n%s", err, out.String())
	}
	if err := deadMain(t.Context(), []string{"-lane", "all", "list"}, getenv, &out, &errOut); err == nil || !strings.Contains(err.Error(), "want jobs") {
		t.Errorf("cron dead -lane all: got %v, want the lanes named", err)
	}
}
