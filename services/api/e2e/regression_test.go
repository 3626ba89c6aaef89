package e2e

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	ic "github.com/instachat/instachat/client"
	"github.com/instachat/instachat/pkg/chat"
	"github.com/instachat/instachat/pkg/queue"
	"github.com/instachat/instachat/pkg/testenv"
)

// This file checks invariant 8 and the recovery points: whatever Redis does
// (goes back in time, loses every key, fails over), no stored message is
// ever overwritten by another create, a persisted number is not handed out
// again once the regression is detected, tombstones survive, and every
// number conflict is kept and reported.

// sqlDB opens the system's database (the last MYSQL_DSN given wins, as for
// the services), directly rather than through any proxy.
func (s *system) sqlDB() *sql.DB {
	s.t.Helper()
	for i := len(s.env) - 1; i >= 0; i-- {
		if dsn, ok := strings.CutPrefix(s.env[i], "MYSQL_DSN="); ok {
			if direct, ok := s.directDSN[dsn]; ok {
				dsn = direct
			}
			sep := "?"
			if strings.Contains(dsn, "?") {
				sep = "&"
			}
			db, err := sql.Open("mysql", dsn+sep+"parseTime=true")
			if err != nil {
				s.t.Fatal(err)
			}
			s.t.Cleanup(func() { db.Close() })
			return db
		}
	}
	s.t.Fatal("no MYSQL_DSN")
	return nil
}

// chatApp is an application with a chat to post to.
type chatApp struct {
	s     *system
	app   *ic.App
	token string
}

func newChatApp(s *system, chats int) chatApp {
	s.t.Helper()
	app := s.newApp("regression")
	s.newChats(app, chats)
	return chatApp{s: s, app: app, token: app.Token()}
}

// accepted is one create the api answered 201.
type accepted struct {
	number int64
	body   string
	at     time.Time // when the request was sent
}

// post creates a message, trying once, and returns its number, or 0 with
// the status (0 when no answer came).
func (a chatApp) post(chatN int64, body string) (int64, int) {
	m, err := a.app.PostMessage(a.s.t.Context(), chatN, body)
	if err != nil {
		return 0, ic.StatusOf(err)
	}
	return m.Number, http.StatusCreated
}

// poster posts to one chat at a steady pace until stopped, recording what
// was accepted.
type poster struct {
	mu       sync.Mutex
	accepted []accepted
	refused  map[int]int
	stop     chan struct{}
	done     chan struct{}
}

func startPoster(a chatApp, chatN int64, every time.Duration, tag string) *poster {
	p := &poster{refused: map[int]int{}, stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(p.done)
		tick := time.NewTicker(every)
		defer tick.Stop()
		var wg sync.WaitGroup
		defer wg.Wait()
		for i := 0; ; i++ {
			select {
			case <-p.stop:
				return
			case <-tick.C:
			}
			wg.Go(func() {
				body := fmt.Sprintf("%s message %d", tag, i)
				at := time.Now()
				n, status := a.post(chatN, body)
				p.mu.Lock()
				defer p.mu.Unlock()
				if n > 0 {
					p.accepted = append(p.accepted, accepted{number: n, body: body, at: at})
				} else {
					p.refused[status]++
				}
			})
		}
	}()
	return p
}

// halt stops posting and returns what was accepted.
func (p *poster) halt() []accepted {
	close(p.stop)
	<-p.done
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]accepted(nil), p.accepted...)
}

// storedMessages returns chat chatN's persisted messages, number → body,
// deleted ones included.
func storedMessages(t *testing.T, db *sql.DB, token string, chatN int64) map[int64]string {
	t.Helper()
	rows, err := db.Query(`SELECT m.number, m.body FROM messages m JOIN chats c ON c.id = m.chat_id
JOIN applications a ON a.id = c.application_id WHERE a.token_digest = ? AND c.number = ?`, chat.TokenDigest(token), chatN)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := map[int64]string{}
	for rows.Next() {
		var n int64
		var body string
		if err := rows.Scan(&n, &body); err != nil {
			t.Fatal(err)
		}
		out[n] = body
	}
	return out
}

// assertNeverOverwritten checks, from the journal, that no message of the
// application was created by two events and that each stored body is the
// one its create carried (or a later update's), and returns the number of
// creates refused as number conflicts.
func assertNeverOverwritten(t *testing.T, db *sql.DB, token string) int {
	t.Helper()
	rows, err := db.Query(`SELECT j.chat_number, j.message_number, j.event_id, j.outcome, j.body FROM event_journal j
JOIN applications a ON a.id = j.application_id WHERE a.token_digest = ? AND j.type = 'message.create'`, chat.TokenDigest(token))
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	type key struct{ chat, number int64 }
	creators := map[key]map[string]string{}
	conflicts := 0
	for rows.Next() {
		var k key
		var id, outcome string
		var body sql.NullString
		if err := rows.Scan(&k.chat, &k.number, &id, &outcome, &body); err != nil {
			t.Fatal(err)
		}
		switch outcome {
		case "applied":
			if creators[k] == nil {
				creators[k] = map[string]string{}
			}
			creators[k][id] = body.String
		case "number_conflict":
			conflicts++
		}
	}
	updated := map[key]bool{}
	urows, err := db.Query(`SELECT j.chat_number, j.message_number FROM event_journal j JOIN applications a ON a.id = j.application_id
WHERE a.token_digest = ? AND j.type = 'message.update' AND j.outcome = 'applied'`, chat.TokenDigest(token))
	if err != nil {
		t.Fatal(err)
	}
	defer urows.Close()
	for urows.Next() {
		var k key
		if err := urows.Scan(&k.chat, &k.number); err != nil {
			t.Fatal(err)
		}
		updated[k] = true
	}
	stored := map[int64]map[int64]string{}
	for k, ids := range creators {
		if len(ids) != 1 {
			t.Errorf("chat %d message %d was created by %d events %v: a stored message was overwritten", k.chat, k.number, len(ids), ids)
			continue
		}
		if stored[k.chat] == nil {
			stored[k.chat] = storedMessages(t, db, token, k.chat)
		}
		for _, body := range ids {
			if got := stored[k.chat][k.number]; got != body && !updated[k] {
				t.Errorf("chat %d message %d: stored %q, its create carried %q", k.chat, k.number, got, body)
			}
		}
	}
	return conflicts
}

// deadConflicts returns the number conflicts on the dead lists.
func deadConflicts(t *testing.T, s *system, partitions int) []queue.DeadJob {
	t.Helper()
	in := queue.NewInspector(s.rdb, queue.NewKeys(s.prefix, partitions))
	dead, _, err := in.Dead(context.Background(), -1, 0, 100000)
	if err != nil {
		t.Fatal(err)
	}
	var out []queue.DeadJob
	for _, d := range dead {
		if d.Envelope.Dead == queue.DeadNumberConflict {
			out = append(out, d)
		}
	}
	return out
}

// waitPersisted waits until every accepted message of chatN is in MySQL.
func waitPersisted(t *testing.T, db *sql.DB, token string, chatN int64, want []accepted, timeout time.Duration) {
	t.Helper()
	eventually(t, timeout, "accepted messages persisted", func() (bool, string) {
		stored := storedMessages(t, db, token, chatN)
		missing := 0
		for _, a := range want {
			if _, ok := stored[a.number]; !ok {
				missing++
			}
		}
		return missing == 0, fmt.Sprintf("%d of %d not persisted yet", missing, len(want))
	})
}

// TestCounterSetBackNeverOverwrites is finding 1: a message counter set back
// while the keys survive (what no epoch can see) hands out numbers again;
// the writer keeps every such create whole as a number conflict, heals the
// counter, reconcile reports the conflicts, and a replay renumbers them.
func TestCounterSetBackNeverOverwrites(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end test: skipped with -short")
	}
	adminToken := testenv.Name("a") + testenv.Name("b") + testenv.Name("c")
	s := newSystemWith(t, "ADMIN_TOKEN="+adminToken)
	db := s.sqlDB()
	a := newChatApp(s, 1)
	var first []accepted
	for i := 1; i <= 20; i++ {
		body := fmt.Sprintf("original %d", i)
		n, status := a.post(1, body)
		if n != int64(i) {
			t.Fatalf("message %d: got number %d (status %d)", i, n, status)
		}
		first = append(first, accepted{number: n, body: body})
	}
	waitPersisted(t, db, a.token, 1, first, 30*time.Second)

	keys := queue.NewKeys(s.prefix, 8)
	if err := s.rdb.HSet(context.Background(), keys.MessageCounter(chat.TokenDigest(a.token), 1), "n", 10).Err(); err != nil {
		t.Fatal(err)
	}
	var reused []accepted
	for i := 1; i <= 5; i++ {
		body := fmt.Sprintf("reused %d", i)
		n, status := a.post(1, body)
		if n != int64(10+i) {
			t.Fatalf("post after the set-back: got number %d (status %d), want %d (the counter went back)", n, status, 10+i)
		}
		reused = append(reused, accepted{number: n, body: body})
	}
	eventually(t, 30*time.Second, "the writer keeps 5 number conflicts", func() (bool, string) {
		n := len(deadConflicts(t, s, 8))
		return n == 5, fmt.Sprintf("%d conflicts on the dead list", n)
	})
	stored := storedMessages(t, db, a.token, 1)
	for _, m := range first {
		if stored[m.number] != m.body {
			t.Errorf("message %d: stored %q, want the original %q", m.number, stored[m.number], m.body)
		}
	}
	metrics := s.getURL(s.writerURL + "/metrics")
	if !strings.Contains(metrics, `instachat_number_conflicts_total{type="message.create"} 5`) {
		t.Errorf("writer metrics: want instachat_number_conflicts_total 5 for message.create")
	}

	// The writer healed the counter: the next numbers are fresh.
	var after []accepted
	for i := 1; i <= 5; i++ {
		body := fmt.Sprintf("after healing %d", i)
		n, _ := a.post(1, body)
		if n <= 20 {
			t.Errorf("post after healing: got number %d, want above 20 (persisted numbers are not handed out again)", n)
		}
		after = append(after, accepted{number: n, body: body})
	}
	waitPersisted(t, db, a.token, 1, after, 30*time.Second)
	if n := len(deadConflicts(t, s, 8)); n != 5 {
		t.Errorf("conflicts after healing: got %d, want still 5", n)
	}

	out, code := s.runExit(2*time.Minute, "cron", "reconcile")
	if code != 3 || !strings.Contains(out, "number_conflict 5") {
		t.Errorf("cron reconcile: exit %d, want 3 with 5 number conflicts:\n%s", code, out)
	}

	// An operator replays them: each gets a new number and persists.
	if _, err := s.api.Admin(adminToken).ReplayAll(t.Context(), ic.AllPartitions); err != nil {
		t.Fatalf("replay all: %v", err)
	}
	eventually(t, 30*time.Second, "renumbered conflicts persisted", func() (bool, string) {
		stored := storedMessages(t, db, a.token, 1)
		found := 0
		for _, r := range reused {
			for n, body := range stored {
				if body == r.body && n > 25 {
					found++
				}
			}
		}
		return found == 5 && len(stored) == 30, fmt.Sprintf("%d of 5 renumbered, %d messages stored", found, len(stored))
	})
	if n := len(deadConflicts(t, s, 8)); n != 0 {
		t.Errorf("conflicts left after the replay: %d", n)
	}
	if got := assertNeverOverwritten(t, db, a.token); got != 5 {
		t.Errorf("journaled number conflicts: got %d, want 5", got)
	}
}

// getURL fetches a URL's body.
func (s *system) getURL(url string) string {
	s.t.Helper()
	resp, err := client.Get(url)
	if err != nil {
		s.t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	var b strings.Builder
	buf := make([]byte, 32<<10)
	for {
		n, err := resp.Body.Read(buf)
		b.Write(buf[:n])
		if err != nil {
			break
		}
	}
	return b.String()
}

// regression is one way Redis goes back in time, run while messages are
// posted; the services reach Redis at the address the system was given.
type regression struct {
	name string
	// start returns the client the test uses, the address the services use
	// and the function that makes Redis go back.
	start func(t *testing.T) (redis.UniversalClient, string, func())
	// prepare, when set, runs while the writer still persists, before the
	// regression: a replica cut off here falls behind MySQL itself.
	prepare func()
}

// cutLink is set by the promotion scenario's start for its prepare step.
var cutLink func()

func regressions() []regression {
	single := func(args ...string) func(t *testing.T) (redis.UniversalClient, string, *testenv.RedisServer) {
		return func(t *testing.T) (redis.UniversalClient, string, *testenv.RedisServer) {
			r := testenv.StartRedis(t, args...)
			c := r.Client()
			t.Cleanup(func() { c.Close() })
			return c, r.Addr, r
		}
	}
	return []regression{
		{name: "FLUSHALL", start: func(t *testing.T) (redis.UniversalClient, string, func()) {
			c, addr, r := single()(t)
			return c, addr, func() { r.Do("FLUSHALL") }
		}},
		{name: "restart without persistence", start: func(t *testing.T) (redis.UniversalClient, string, func()) {
			c, addr, r := single()(t)
			return c, addr, func() { r.Kill(); r.Start() }
		}},
		{name: "crash with AOF everysec", start: func(t *testing.T) (redis.UniversalClient, string, func()) {
			c, addr, r := single("--appendonly", "yes", "--appendfsync", "everysec")(t)
			return c, addr, func() { r.Kill(); r.Start() }
		}},
		{name: "lagging replica promoted", start: func(t *testing.T) (redis.UniversalClient, string, func()) {
			primary := testenv.StartRedis(t)
			replica := testenv.StartRedis(t)
			link := testenv.NewProxy(t, primary.Addr) // replication goes through it
			host, port, _ := strings.Cut(link.Addr(), ":")
			replica.Do("REPLICAOF", host, port)
			eventually(t, 15*time.Second, "replica in sync", func() (bool, string) {
				info, _ := replica.Do("INFO", "replication").(string)
				return strings.Contains(info, "master_link_status:up"), info
			})
			front := testenv.NewProxy(t, primary.Addr) // what the services and the test reach
			c := redis.NewClient(&redis.Options{Addr: front.Addr(), MaxRetries: 3})
			t.Cleanup(func() { c.Close() })
			cutLink = link.Cut // the replica falls behind while the writer persists
			return c, front.Addr(), func() {
				replica.Do("REPLICAOF", "NO", "ONE")
				front.SetUpstream(replica.Addr)
				primary.Kill()
			}
		}, prepare: func() { cutLink() }},
	}
}

// TestRedisGoesBackInTime runs each regression while messages are posted.
// The writer is stopped around the regression so the highest persisted
// number P is fixed: every number handed out after the regression must be
// above P, no stored message may change, tombstones must hold, and what is
// accepted after the regression must persist.
func TestRedisGoesBackInTime(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end test: skipped with -short")
	}
	for _, rg := range regressions() {
		t.Run(rg.name, func(t *testing.T) {
			rdb, addr, regress := rg.start(t)
			s := newSystemOn(t, rdb, "ic:", "REDIS_ADDR="+addr)
			db := s.sqlDB()
			a := newChatApp(s, 2)
			var before []accepted
			for i := 1; i <= 10; i++ {
				body := fmt.Sprintf("before %d", i)
				n, status := a.post(1, body)
				if n == 0 {
					t.Fatalf("post: status %d", status)
				}
				before = append(before, accepted{number: n, body: body})
			}
			if _, err := a.app.DeleteMessage(t.Context(), 1, 3); err != nil {
				t.Fatalf("delete message 3: %v", err)
			}
			if _, err := a.app.DeleteChat(t.Context(), 2); err != nil {
				t.Fatalf("delete chat 2: %v", err)
			}
			waitPersisted(t, db, a.token, 1, before, 30*time.Second)
			eventually(t, 30*time.Second, "deletes applied", func() (bool, string) {
				var n int
				_ = db.QueryRow(`SELECT COUNT(*) FROM chats c JOIN applications a ON a.id = c.application_id
WHERE a.token_digest = ? AND c.deleted_at IS NOT NULL`, chat.TokenDigest(a.token)).Scan(&n)
				var m int
				_ = db.QueryRow(`SELECT COUNT(*) FROM messages m JOIN chats c ON c.id = m.chat_id JOIN applications a ON a.id = c.application_id
WHERE a.token_digest = ? AND c.number = 1 AND m.deleted_at IS NOT NULL`, chat.TokenDigest(a.token)).Scan(&m)
				return n == 1 && m == 1, fmt.Sprintf("%d chats and %d messages deleted", n, m)
			})

			p := startPoster(a, 1, 20*time.Millisecond, "during")
			if rg.prepare != nil {
				time.Sleep(200 * time.Millisecond)
				rg.prepare()
			}
			time.Sleep(500 * time.Millisecond)
			s.stop("writer")
			persisted := storedMessages(t, db, a.token, 1)
			var maxP int64
			for n := range persisted {
				maxP = max(maxP, n)
			}
			time.Sleep(300 * time.Millisecond)
			regress()
			detected := time.Now()
			time.Sleep(1500 * time.Millisecond)
			all := p.halt()

			var after []accepted
			seen := map[int64]string{}
			for _, m := range all {
				if m.at.Before(detected) {
					continue
				}
				after = append(after, m)
				if m.number <= maxP {
					t.Errorf("number %d handed out after the regression; %d was already persisted", m.number, maxP)
				}
				if prev, dup := seen[m.number]; dup {
					t.Errorf("number %d handed out twice after the regression (%q and %q)", m.number, prev, m.body)
				}
				seen[m.number] = m.body
			}
			if len(after) == 0 {
				t.Fatalf("no create was accepted after the regression (refused: %v)", p.refused)
			}
			for status, n := range p.refused {
				if status != http.StatusServiceUnavailable {
					t.Errorf("%d creates answered %d during the regression, want 201 or 503", n, status)
				}
			}
			if n, _ := a.post(2, "into a deleted chat"); n != 0 {
				t.Errorf("post to deleted chat 2 after the regression: got number %d, want 404", n)
			}
			if _, err := a.app.UpdateMessage(t.Context(), 1, 3, "edit a deleted message"); !errors.Is(err, ic.ErrNotFound) {
				t.Errorf("update deleted message 3 after the regression: got %v, want 404", err)
			}

			s.startWriter()
			waitPersisted(t, db, a.token, 1, after, 30*time.Second)
			stored := storedMessages(t, db, a.token, 1)
			for n, body := range persisted {
				if stored[n] != body {
					t.Errorf("message %d: stored %q, was %q before the regression", n, stored[n], body)
				}
			}
			if got := assertNeverOverwritten(t, db, a.token); got != 0 {
				t.Errorf("number conflicts: got %d, want none (the regression was detected before numbers went out)", got)
			}
			lost := 0
			for _, m := range all {
				if stored[m.number] != m.body {
					lost++
				}
			}
			t.Logf("%s: highest persisted number %d; %d creates accepted during the run, %d of them after the regression; refused %v; %d accepted creates lost (the recovery point)",
				rg.name, maxP, len(all), len(after), p.refused, lost)
			if out, code := s.runExit(2*time.Minute, "cron", "reconcile"); code != 0 {
				t.Errorf("cron reconcile: exit %d, want a clean history:\n%s", code, out)
			}
		})
	}
}

// TestRedisHangs is finding 3: while Redis hangs (SIGSTOP) a create answers
// 503 within its deadline, and says that it may have been accepted, because
// the request went out: when Redis continues, the job runs and persists.
func TestRedisHangs(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end test: skipped with -short")
	}
	r := testenv.StartRedis(t)
	rdb := r.Client()
	t.Cleanup(func() { rdb.Close() })
	s := newSystemOn(t, rdb, "ic:", "REDIS_ADDR="+r.Addr)
	db := s.sqlDB()
	a := newChatApp(s, 1)
	if n, _ := a.post(1, "before the hang"); n != 1 {
		t.Fatalf("first message: got number %d", n)
	}
	r.Pause()
	start := time.Now()
	_, err := a.app.PostMessage(t.Context(), 1, "sent into the hang")
	took := time.Since(start)
	r.Resume()
	var e *ic.Error
	if !errors.As(err, &e) || e.StatusCode != http.StatusServiceUnavailable || e.RetryAfter == 0 ||
		!strings.Contains(e.Message, "may or may not have been accepted") {
		t.Errorf("create while Redis hangs: got %v, want 503 with Retry-After saying it may have been accepted", err)
	}
	t.Logf("create while Redis hangs answered %d in %v", ic.StatusOf(err), took)
	if took > 5*time.Second {
		t.Errorf("create while Redis hangs took %v: want the Redis deadline (1 s), not a hang", took)
	}
	eventually(t, 30*time.Second, "the create sent into the hang persists once Redis continues", func() (bool, string) {
		stored := storedMessages(t, db, a.token, 1)
		for _, body := range stored {
			if body == "sent into the hang" {
				return true, ""
			}
		}
		return false, fmt.Sprint(stored)
	})
}
