package main

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestSeedColumnsCoverSchema reads the migrations and checks that the seed
// names every NOT NULL column of messages that has no default, so a new
// column makes the seed fail here rather than in a benchmark run.
func TestSeedColumnsCoverSchema(t *testing.T) {
	files, err := filepath.Glob("../../pkg/store/migrations/*.sql")
	if err != nil || len(files) == 0 {
		t.Fatalf("no migrations found: %v", err)
	}
	var ddl strings.Builder
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		ddl.Write(b)
	}
	create := regexp.MustCompile(`(?s)CREATE TABLE messages \((.*?)\n\)`).FindStringSubmatch(ddl.String())
	if create == nil {
		t.Fatal("CREATE TABLE messages not found in the migrations")
	}
	defs := strings.Split(create[1], "\n")
	for _, m := range regexp.MustCompile(`ALTER TABLE messages ADD COLUMN (.*?);`).FindAllStringSubmatch(ddl.String(), -1) {
		defs = append(defs, m[1])
	}
	cols := map[string]bool{}
	for _, c := range strings.Split(seedColumns, ",") {
		cols[strings.TrimSpace(c)] = true
	}
	checked := 0
	for _, d := range defs {
		f := strings.Fields(strings.TrimSpace(d))
		if len(f) < 2 || f[0] == "PRIMARY" || f[0] == "UNIQUE" || f[0] == "KEY" {
			continue
		}
		checked++
		required := strings.Contains(d, "NOT NULL") && !strings.Contains(d, "DEFAULT") && !strings.Contains(d, "AUTO_INCREMENT")
		if required && !cols[f[0]] {
			t.Errorf("column %s is NOT NULL without a default but the seed does not write it", f[0])
		}
		delete(cols, f[0])
	}
	if checked < 10 {
		t.Errorf("parsed %d column definitions of messages, want at least 10", checked)
	}
	for c := range cols {
		t.Errorf("the seed writes column %s, which the migrations do not define", c)
	}
}

func TestInsertMessagesSQL(t *testing.T) {
	at := time.Date(2026, 1, 2, 3, 4, 5, 6000, time.UTC)
	rows := []seedMessage{
		{chatID: 7, number: 1, body: "ka lo", eventID: "e1", eventTime: at, readAt: at.Add(time.Millisecond), writtenAt: at.Add(2 * time.Millisecond)},
		{chatID: 8, number: 1, body: "mi", eventID: "e2", eventTime: at.Add(time.Second), readAt: at, writtenAt: at},
		{chatID: 7, number: 2, body: "it's \"quoted\"", eventID: "e3", eventTime: at, readAt: at, writtenAt: at},
	}
	q, args := insertMessagesSQL(rows)
	if want := "INSERT INTO messages (" + seedColumns + ") VALUES (?,?,?,?,?,?,?,?,?,?,?),(?,?,?,?,?,?,?,?,?,?,?),(?,?,?,?,?,?,?,?,?,?,?)"; q != want {
		t.Errorf("got SQL\n%s\nwant\n%s", q, want)
	}
	if len(args) != 33 || strings.Count(q, "?") != len(args) {
		t.Fatalf("got %d args for %d placeholders, want 33", len(args), strings.Count(q, "?"))
	}
	r := args[:11] // the first row, in column order; the seeded event created the row and last wrote it
	want := []any{int64(7), int64(1), "ka lo", nil, "e1", "e1", at, at.Add(time.Millisecond), at.Add(2 * time.Millisecond), at, at}
	for i := range want {
		if r[i] != want[i] {
			t.Errorf("row 0 column %d (%s): got %v, want %v", i, strings.Split(seedColumns, ", ")[i], r[i], want[i])
		}
	}
	if args[24] != "it's \"quoted\"" {
		t.Errorf("row 2 body: got %v, want it passed as an argument, unescaped", args[24])
	}
}

func TestMessagePlan(t *testing.T) {
	typical := []*seedChat{{id: 1, number: 1}, {id: 2, number: 2}, {id: 3, number: 3}}
	large := &seedChat{id: 9, number: 1}
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	p := newMessagePlan(typical, large, 0.1, 1000, newTextGen(1, 500), start)
	var all []seedMessage
	sizes := []int{}
	for {
		b := p.batch(300)
		if b == nil {
			break
		}
		sizes = append(sizes, len(b))
		all = append(all, b...)
	}
	if len(all) != 1000 || len(sizes) != 4 || sizes[3] != 100 {
		t.Fatalf("got %d messages in batches %v, want 1000 in 300, 300, 300, 100", len(all), sizes)
	}
	if large.count != 100 {
		t.Errorf("large chat got %d messages, want 100 (10 %%)", large.count)
	}
	for _, c := range typical {
		if c.count != 300 {
			t.Errorf("typical chat %d got %d messages, want 300", c.number, c.count)
		}
	}
	// The large chat's messages are spread through time, not bunched.
	firstLarge, lastLarge := -1, -1
	next := map[int64]int64{}
	ids := map[string]bool{}
	for i, m := range all {
		if m.chatID == 9 {
			if firstLarge < 0 {
				firstLarge = i
			}
			lastLarge = i
		}
		next[m.chatID]++
		if m.number != next[m.chatID] {
			t.Fatalf("message %d of chat row %d has number %d, want %d: numbers must run 1, 2, 3… per chat", i, m.chatID, m.number, next[m.chatID])
		}
		if n := len(strings.Fields(m.body)); n < 5 || n > 30 {
			t.Errorf("message %d has %d words, want 5–30", i, n)
		}
		if !regexp.MustCompile(`^[0-9a-f]{32}$`).MatchString(m.eventID) || ids[m.eventID] {
			t.Fatalf("message %d: event id %q is not a fresh 32-hex id", i, m.eventID)
		}
		ids[m.eventID] = true
		if !m.eventTime.Equal(start.Add(time.Duration(i)*time.Microsecond)) || !m.readAt.After(m.eventTime) || !m.writtenAt.After(m.readAt) {
			t.Fatalf("message %d: times %v, %v, %v: want accepted < read < written, 1 µs apart", i, m.eventTime, m.readAt, m.writtenAt)
		}
	}
	if firstLarge > 20 || lastLarge < 980 {
		t.Errorf("large chat's messages span %d–%d, want them spread over 0–999", firstLarge, lastLarge)
	}

	solo := &seedChat{id: 1}
	p = newMessagePlan([]*seedChat{solo}, nil, 0.5, 10, newTextGen(1, 50), start)
	if b := p.batch(100); len(b) != 10 || solo.count != 10 {
		t.Errorf("without a large chat: got %d messages, %d in the only chat, want 10 and 10", len(b), solo.count)
	}
}

func TestQueryGen(t *testing.T) {
	text := newTextGen(1, 5000)
	inVocab := map[string]int{}
	for i, w := range text.vocab {
		inVocab[w] = i
	}
	const n = 20000
	qs := newQueryGen(text, 2).queries(n, 100, true)
	again := newQueryGen(text, 2).queries(n, 100, true)
	kinds := map[string]int{}
	large := 0
	distinct := map[string]bool{}
	for i, q := range qs {
		if q != again[i] {
			t.Fatalf("query %d: got %+v then %+v from the same seed", i, q, again[i])
		}
		kinds[q.kind]++
		distinct[q.text] = true
		if q.large {
			large++
		} else if q.chat < 0 || q.chat >= 100 {
			t.Fatalf("query %d aims at typical chat %d of 100", i, q.chat)
		}
		switch q.kind {
		case "word":
			if _, ok := inVocab[q.text]; !ok {
				t.Errorf("word %q is not in the vocabulary", q.text)
			}
		case "rare word":
			if r, ok := inVocab[q.text]; !ok || r < len(text.vocab)/5 {
				t.Errorf("rare word %q has rank %d, want one of the less frequent 80 %%", q.text, r)
			}
		case "prefix", "infix":
			if len(q.text) < 3 || len(q.text) > 5 {
				t.Errorf("%s %q: want 3–5 letters", q.kind, q.text)
			}
			if !partOfWord(text.vocab, q.text, q.kind == "prefix") {
				t.Errorf("%s %q is not a proper part of any vocabulary word", q.kind, q.text)
			}
		case "two words":
			f := strings.Fields(q.text)
			if len(f) != 2 || f[0] == f[1] {
				t.Errorf("two words %q: want two different words", q.text)
			}
		default:
			t.Errorf("unknown kind %q", q.kind)
		}
	}
	total := 0
	for _, k := range queryKinds {
		total += k.weight
	}
	for _, k := range queryKinds {
		want := float64(n*k.weight) / float64(total)
		if got := float64(kinds[k.name]); got < 0.9*want || got > 1.1*want {
			t.Errorf("kind %s: got %v queries, want about %.0f", k.name, got, want)
		}
	}
	if share := float64(large) / n; share < 0.18 || share > 0.22 {
		t.Errorf("got %.3f of queries at the large chat, want about %.2f", share, largeQueryShare)
	}
	if len(distinct) < n/10 {
		t.Errorf("got %d distinct query texts of %d, want a spread over the vocabulary", len(distinct), n)
	}
	for _, q := range newQueryGen(text, 2).queries(1000, 3, false) {
		if q.large {
			t.Fatal("a query aims at the large chat when there is none")
		}
	}
}

// partOfWord reports whether part is a prefix (or, when !prefix, an infix
// not at the start) of some word, shorter than that word.
func partOfWord(vocab []string, part string, prefix bool) bool {
	for _, w := range vocab {
		if len(w) <= len(part) {
			continue
		}
		if prefix && strings.HasPrefix(w, part) {
			return true
		}
		if !prefix && strings.Contains(w[1:], part) {
			return true
		}
	}
	return false
}

func TestMatches(t *testing.T) {
	tests := []struct {
		query, body string
		want        bool
	}{
		{"ka", "kalo mi", true},
		{"KA", "mi Kalo", true},
		{"alo", "kalo mi", false}, // an infix matches only a word that begins with it
		{"ka mi", "kalo mito", true},
		{"ka ter", "kalo mito", false},
		{"kalo", "ka lo", false},
	}
	for _, tt := range tests {
		if got := matches(tt.query, tt.body); got != tt.want {
			t.Errorf("matches(%q, %q) = %v, want %v", tt.query, tt.body, got, tt.want)
		}
	}
}

func TestParseFlagsSearch(t *testing.T) {
	getenv := func(string) string { return "" }
	tests := []struct {
		args     []string
		rate     float64
		p99      time.Duration
		messages int
		wantErr  bool
	}{
		{args: []string{"-scenario", "search"}, rate: 200, p99: 20 * time.Millisecond, messages: 1000000},
		{args: []string{"-scenario", "search", "-rate", "50", "-p99-limit", "5ms", "-messages", "1000"}, rate: 50, p99: 5 * time.Millisecond, messages: 1000},
		{args: []string{"-scenario", "steady"}, rate: 500, p99: 50 * time.Millisecond, messages: 1000000},
		{args: []string{"-scenario", "search", "-messages", "0"}, wantErr: true},
		{args: []string{"-scenario", "search", "-large-share", "0.95"}, wantErr: true},
		{args: []string{"-scenario", "find"}, wantErr: true},
	}
	for _, tt := range tests {
		c, err := parseFlags(tt.args, getenv)
		if tt.wantErr {
			if err == nil {
				t.Errorf("parseFlags(%v): got no error", tt.args)
			}
			continue
		}
		if err != nil {
			t.Errorf("parseFlags(%v): %v", tt.args, err)
			continue
		}
		if c.rate != tt.rate || c.p99Limit != tt.p99 || c.messages != tt.messages {
			t.Errorf("parseFlags(%v): got rate %v, p99 %v, messages %d; want %v, %v, %d", tt.args, c.rate, c.p99Limit, c.messages, tt.rate, tt.p99, tt.messages)
		}
	}
}

func TestSearchReport(t *testing.T) {
	rec := newRecorder()
	now := time.Now()
	rec.begin(now)
	tallies := map[string]*hitTally{"typical word": {}, "large prefix": {}}
	for i := range 100 {
		rec.record("typical word", now, time.Duration(1+i)*100*time.Microsecond, 200)
		tallies["typical word"].answered.Add(1)
		tallies["typical word"].hits.Add(10)
	}
	rec.record("large prefix", now, 40*time.Millisecond, 200)
	rec.record("large prefix", now, 50*time.Millisecond, 503)
	tallies["large prefix"].answered.Add(1)
	tallies["large prefix"].zero.Add(1)
	alone := newRecorder()
	alone.begin(now)
	alone.record("typical word", now, 2*time.Millisecond, 200)
	alone.record("large prefix", now, 7*time.Millisecond, 200)
	res := &searchResult{
		serial:      &phase{rec: alone, stats: alone.stats()},
		typical:     []*seedChat{{count: 900}, {count: 900}},
		large:       []*seedChat{{count: 200}},
		seedTime:    2 * time.Second,
		rebuildTime: 4 * time.Second, rebuildDocs: 2000,
		indexBytes: 3 << 20, indexSegments: 5,
		load:    &phase{rec: rec, stats: rec.stats()},
		tallies: tallies,
		apiCPU:  3, loadSec: 10, apiPeakRSS: 100 << 20,
	}
	r := &report{cfg: config{scenario: "search", rate: 200, duration: 10 * time.Second, apps: 1, chats: 2, p99Limit: 20 * time.Millisecond,
		args: []string{"-scenario", "search", "-messages", "2000"}}, machine: "m", search: res}
	var b bytes.Buffer
	r.markdown(&b, nil)
	out := b.String()
	for _, want := range []string{
		"go run ./services/bench -scenario search -messages 2000",
		"## Stored history: 2,000 messages",
		"| typical chats | 2 (1 applications × 2), 900 messages each |",
		"| large chat | 1 (its own application), 200 messages |",
		"**500 docs/s**",
		"3.0 MiB (1573 bytes per message), 5 segments",
		"| search, typical chats | 100 | 100 |",
		"| search, large chat | 2 | 1 |",
		"503: 1",
		"typical chats 9.9", // p99 of 0.1 … 10 ms
		"(met), large chat 50.",
		"(missed).",
		"## Search latency one query at a time",
		"| search, large chat | 1 | 1 |",
		"| typical | word | 100 |",
		"| 2.00 | 2.00 | 10.0 |", // alone p50 and max, then mean hits
		"| large | prefix | 2 |",
		"100.0 %",
		"Mean hits (the answer's `total`) per query: **9.9**",
		"30 % of one core",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("report lacks %q:\n%s", want, out)
		}
	}
	p, err := r.searchChart()
	if err != nil || p == nil {
		t.Errorf("searchChart: %v", err)
	}
}

func TestSearchReportSaturated(t *testing.T) {
	rec := newRecorder()
	now := time.Now()
	rec.begin(now)
	for i := range 50 {
		rec.record("typical word", now.Add(time.Duration(i)*100*time.Millisecond), time.Second, 200)
	}
	rec.record("typical word", now, time.Second, statusUnreadable)
	res := &searchResult{typical: []*seedChat{{count: 10}}, load: &phase{rec: rec, stats: rec.stats()},
		tallies: map[string]*hitTally{}, loadSec: 5}
	r := &report{cfg: config{scenario: "search", rate: 200, duration: time.Second, maxInFlight: 10}, machine: "m", search: res}
	var b bytes.Buffer
	r.markdown(&b, nil)
	for _, want := range []string{"**Saturated:** 200 searches/s offered, 9/s completed", "unreadable 200: 1"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("report lacks %q:\n%s", want, b.String())
		}
	}
	r.cfg.rate = 9 // 51 requests over 5.9 s: kept up
	b.Reset()
	r.markdown(&b, nil)
	if strings.Contains(b.String(), "Saturated") {
		t.Errorf("a run that kept up is reported saturated:\n%s", b.String())
	}
}

func TestRecorderGroup(t *testing.T) {
	rec := newRecorder()
	now := time.Now()
	rec.begin(now)
	rec.record("a x", now, time.Millisecond, 200)
	rec.record("a y", now.Add(time.Second), 3*time.Millisecond, 500)
	rec.record("b x", now, 100*time.Millisecond, 200)
	g := rec.group("a", prefixed("a "))
	if g.Count != 2 || g.OK != 1 || g.Statuses[500] != 1 || g.Max < 3*time.Millisecond || g.Max > 4*time.Millisecond {
		t.Errorf("got %+v, want 2 requests of a, 1 ok, max 3 ms", g)
	}
	if s := rec.groupSeries(prefixed("a ")); len(s) != 2 || s[1] < 2.9 || s[1] > 3.1 {
		t.Errorf("got series %v, want 2 seconds, the second with p99 3 ms", s)
	}
}

func TestDescribeReports(t *testing.T) {
	tests := []struct{ report, want string }{
		{"# Benchmark: steady\n\n```sh\ngo run ./services/bench -scenario steady -mix create=1 -rate 880 -duration 60s -apps 32 -chats 10\n```",
			"steady load, creates only at 880/s for 60s"},
		{"go run ./services/bench -scenario backlog -backlog 200000 -apps 32 -chats 10 -drain-index=false",
			"drain of a 200000-job backlog into MySQL, api stopped (no indexing beside it)"},
		{"go run ./services/bench -scenario search -messages 1000000 -duration 60s -rate 50 -profile 15s",
			"search over 1000000 stored messages at 50 searches/s, with CPU profiles"},
		{"# What issue 10 costs the create path\n\ntext", "What issue 10 costs the create path"},
	}
	for _, tt := range tests {
		if got := describe(tt.report); got != tt.want {
			t.Errorf("describe(%.40q…): got %q, want %q", tt.report, got, tt.want)
		}
	}
}
