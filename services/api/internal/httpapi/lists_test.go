package httpapi

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"
)

// seedRows writes chats and messages of chat 1 straight into MySQL, as the
// writer would: each map takes a number to its age (how long ago the api
// accepted it); deleted lists message numbers written as deleted.
func (a *liveAPI) seedRows(t *testing.T, chats, messages map[int64]time.Duration, deleted ...int64) {
	t.Helper()
	ctx := t.Context()
	var appID int64
	if err := a.db.QueryRowContext(ctx, "SELECT id FROM applications").Scan(&appID); err != nil {
		t.Fatal(err)
	}
	ts := func(age time.Duration) string { return time.Now().UTC().Add(-age).Format("2006-01-02 15:04:05.000000") }
	for n, age := range chats {
		if _, err := a.db.ExecContext(ctx, `INSERT INTO chats (application_id, number, last_event_id, event_time, read_at, written_at, created_at, updated_at)
VALUES (?, ?, 'e', ?, ?, ?, ?, ?)`, appID, n, ts(age), ts(age), ts(age), ts(age), ts(age)); err != nil {
			t.Fatal(err)
		}
	}
	for n, age := range messages {
		var del any
		if slices.Contains(deleted, n) {
			del = ts(age)
		}
		if _, err := a.db.ExecContext(ctx, `INSERT INTO messages (chat_id, number, body, deleted_at, last_event_id, event_time, read_at, written_at, created_at, updated_at)
SELECT id, ?, ?, ?, 'e', ?, ?, ?, ?, ? FROM chats WHERE application_id = ? AND number = 1`,
			n, fmt.Sprint("m", n), del, ts(age), ts(age), ts(age), ts(age), ts(age), appID); err != nil {
			t.Fatal(err)
		}
	}
}

// hoursOld maps each number to an age of an hour.
func hoursOld(numbers ...int64) map[int64]time.Duration {
	m := map[int64]time.Duration{}
	for _, n := range numbers {
		m[n] = time.Hour
	}
	return m
}

// numbers returns the numbers of a list answer's items (messages or chats).
func numbers(t *testing.T, r answer, field string) []int64 {
	t.Helper()
	items, ok := r.body[field].([]any)
	if !ok {
		t.Fatalf("no %s list in %s", field, r.raw)
	}
	out := []int64{}
	for _, it := range items {
		out = append(out, int64(it.(map[string]any)["number"].(float64)))
	}
	return out
}

func TestListParams(t *testing.T) {
	a := newLiveAPI(t)
	a.seedRows(t, hoursOld(1), map[int64]time.Duration{1: time.Hour, 2: time.Hour})
	tests := []struct {
		query  string
		status int
		want   string // in the error message
	}{
		{"", 200, ""},
		{"?page=2&per_page=5", 200, ""},
		{"?page=101&per_page=100", 200, ""}, // offset 10,000: the last page mode reaches
		{"?page=102&per_page=100", 400, "before= or after= and limit="},
		{"?page=502", 400, "past item 10000"}, // per_page 20 by default: offset 10,020
		{"?limit=5", 200, ""},
		{"?before=2", 200, ""},
		{"?after=0", 200, ""},
		{"?after=1&limit=100", 200, ""},
		{"?before=2&after=1", 400, "cannot be used together"},
		{"?limit=5&page=1", 400, "cannot be mixed"},
		{"?after=0&per_page=5", 400, "cannot be mixed"},
		{"?limit=0", 400, "limit must be"},
		{"?limit=101", 400, "limit must be between 1 and 100"},
		{"?limit=x", 400, "limit must be"},
		{"?before=0", 400, "before (query parameter) must be a positive integer"},
		{"?before=-1", 400, "before (query parameter) must be"},
		{"?before=01", 400, "before (query parameter) must be"},
		{"?before=", 400, "before (query parameter) must be"},
		{"?after=-1", 400, "after must be 0"},
		{"?after=+1", 400, "after must be 0"},
		{"?after=00", 400, "after must be 0"},
		{"?after=99999999999999999999", 400, "after must be 0"},
	}
	for _, list := range []string{"/chats", "/chats/1/messages"} {
		for _, tt := range tests {
			r := a.do(t, "GET", a.app(list+tt.query), nil, "")
			if r.status != tt.status {
				t.Errorf("GET %s%s: got %d %s, want %d", list, tt.query, r.status, r.raw, tt.status)
				continue
			}
			if msg, _ := r.body["error"].(string); !strings.Contains(msg, tt.want) {
				t.Errorf("GET %s%s: got message %q, want it to contain %q", list, tt.query, msg, tt.want)
			}
		}
	}
}

// TestListModesShowTheirFields checks that page mode keeps its exact shape
// (old clients) and cursor mode shows only its own fields, with a Link header.
func TestListModesShowTheirFields(t *testing.T) {
	a := newLiveAPI(t)
	a.seedRows(t, hoursOld(1, 2, 3), map[int64]time.Duration{1: time.Hour, 2: time.Hour, 3: time.Hour, 4: time.Hour})
	pageFields := []string{"page", "per_page", "total"}
	cursorFields := []string{"limit", "has_more", "next", "previous", "size"}
	tests := []struct {
		path        string
		has, hasNot []string
		want        []int64
		link        string
	}{
		{"/chats/1/messages", pageFields, cursorFields, []int64{1, 2, 3, 4}, ""},
		{"/chats/1/messages?page=2&per_page=3", pageFields, cursorFields, []int64{4}, ""},
		{"/chats/1/messages?limit=2", cursorFields, pageFields, []int64{4, 3},
			`</api/v1/applications/TOKEN/chats/1/messages?before=3&limit=2>; rel="next", </api/v1/applications/TOKEN/chats/1/messages?after=4&limit=2>; rel="prev"`},
		{"/chats/1/messages?after=2&limit=2", []string{"limit", "has_more", "previous", "size"}, append(pageFields, "next"), []int64{3, 4},
			`</api/v1/applications/TOKEN/chats/1/messages?before=3&limit=2>; rel="prev"`},
		{"/chats?before=3", []string{"limit", "has_more", "previous", "size"}, append(pageFields, "next"), []int64{2, 1}, ""},
		{"/chats?page=1", pageFields, cursorFields, []int64{1, 2, 3}, ""},
	}
	for _, tt := range tests {
		r := a.do(t, "GET", a.app(tt.path), nil, "")
		if r.status != http.StatusOK {
			t.Fatalf("GET %s: got %d %s", tt.path, r.status, r.raw)
		}
		field := "messages"
		if strings.HasPrefix(tt.path, "/chats?") {
			field = "chats"
		}
		if got := numbers(t, r, field); !slices.Equal(got, tt.want) {
			t.Errorf("GET %s: got %v, want %v", tt.path, got, tt.want)
		}
		for _, f := range tt.has {
			if _, ok := r.body[f]; !ok {
				t.Errorf("GET %s: no %q in %s", tt.path, f, r.raw)
			}
		}
		for _, f := range tt.hasNot {
			if _, ok := r.body[f]; ok {
				t.Errorf("GET %s: %q in %s, want it only in the other mode", tt.path, f, r.raw)
			}
		}
		if tt.link != "" {
			if got, want := r.header.Get("Link"), strings.ReplaceAll(tt.link, "TOKEN", a.token); got != want {
				t.Errorf("GET %s: Link %q, want %q", tt.path, got, want)
			}
		}
	}
	r := a.do(t, "GET", a.app("/chats/1/messages?limit=2"), nil, "")
	if next := r.body["next"].(map[string]any); next["before"] != float64(3) || len(next) != 1 {
		t.Errorf("next cursor: got %v, want {before: 3}", next)
	}
	if r.body["size"] != float64(0) || r.body["has_more"] != true {
		t.Errorf("size and has_more: got %v, %v; want 0 (no counter sync ran) and true", r.body["size"], r.body["has_more"])
	}
	if r := a.do(t, "GET", a.app("/chats/7/messages?limit=2"), nil, ""); r.status != http.StatusNotFound {
		t.Errorf("cursor page of a chat never handed out: got %d %s, want 404", r.status, r.raw)
	}
}

// TestSettledHorizon checks the live edge: a number missing right before a
// recent item holds that item back until the number is written, while a
// deleted number or an old gap does not.
func TestSettledHorizon(t *testing.T) {
	a := newLiveAPI(t)
	old, recent := time.Hour, time.Second
	chats := hoursOld(1, 2, 4, 5) // 3 missing, but old: lost
	chats[7] = recent             // 6 missing and recent: queued
	a.seedRows(t, chats, map[int64]time.Duration{
		1: old, 2: old, 4: old, // 3 missing, but old: taken as lost
		5: recent, 6: recent, 8: recent, 9: recent, // 7 missing and recent: still queued
		10: recent, 11: recent, // 10 deleted: settled
	}, 10)
	get := func(query string) answer {
		t.Helper()
		r := a.do(t, "GET", a.app("/chats/1/messages"+query), nil, "")
		if r.status != http.StatusOK {
			t.Fatalf("GET %s: got %d %s", query, r.status, r.raw)
		}
		return r
	}
	if r := get("?after=0&limit=50"); !slices.Equal(numbers(t, r, "messages"), []int64{1, 2, 4, 5, 6}) || r.body["has_more"] != false || r.body["next"] != nil {
		t.Errorf("after=0 with 7 queued: got %v has_more=%v next=%v, want 1 2 4 5 6, has_more false, no next", numbers(t, r, "messages"), r.body["has_more"], r.body["next"])
	}
	if r := get("?after=6&limit=50"); len(numbers(t, r, "messages")) != 0 || r.body["has_more"] != false {
		t.Errorf("after=6 with 7 queued: got %v has_more=%v, want nothing yet", numbers(t, r, "messages"), r.body["has_more"])
	}
	if r := get("?after=0&limit=3"); !slices.Equal(numbers(t, r, "messages"), []int64{1, 2, 4}) || r.body["has_more"] != true {
		t.Errorf("after=0 limit 3: got %v has_more=%v, want 1 2 4 and more", numbers(t, r, "messages"), r.body["has_more"])
	}
	// The newest page stops below 7, so its previous cursor (after=6) is safe.
	if r := get("?limit=50"); !slices.Equal(numbers(t, r, "messages"), []int64{6, 5, 4, 2, 1}) || r.body["previous"].(map[string]any)["after"] != float64(6) {
		t.Errorf("newest with 7 queued: got %v previous=%v, want 6 5 4 2 1 and previous after=6", numbers(t, r, "messages"), r.body["previous"])
	}
	// A deeper before= page is whole: a walk toward older items is past 7 anyway.
	if r := get("?before=10&limit=50"); !slices.Equal(numbers(t, r, "messages"), []int64{9, 8, 6, 5, 4, 2, 1}) {
		t.Errorf("before=10: got %v, want 9 8 6 5 4 2 1", numbers(t, r, "messages"))
	}
	a.seedRows(t, nil, map[int64]time.Duration{7: recent}) // the writer catches up
	if r := get("?after=6&limit=50"); !slices.Equal(numbers(t, r, "messages"), []int64{7, 8, 9, 11}) || r.body["has_more"] != false {
		t.Errorf("after=6 once 7 is written: got %v has_more=%v, want 7 8 9 11 (10 deleted)", numbers(t, r, "messages"), r.body["has_more"])
	}
	if r := a.do(t, "GET", a.app("/chats?after=0"), nil, ""); !slices.Equal(numbers(t, r, "chats"), []int64{1, 2, 4, 5}) || r.body["has_more"] != false {
		t.Errorf("chats after=0: got %v has_more=%v, want 1 2 4 5 (3 lost, 6 queued holds 7 back)", numbers(t, r, "chats"), r.body["has_more"])
	}
	if r := a.do(t, "GET", a.app("/chats?limit=10"), nil, ""); !slices.Equal(numbers(t, r, "chats"), []int64{5, 4, 2, 1}) {
		t.Errorf("newest chats: got %v, want 5 4 2 1", numbers(t, r, "chats"))
	}
}
