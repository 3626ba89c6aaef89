package e2e

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"sort"
	"strings"
	"testing"
	"time"

	ic "github.com/instachat/instachat/client"
	"github.com/instachat/instachat/pkg/chat"
	"github.com/instachat/instachat/pkg/queue"
	"github.com/instachat/instachat/pkg/testenv"
)

// chaosPlan sizes one fault-injection run.
type chaosPlan struct {
	apps, chats, firstChats    int // applications, chats per application, chats created before the load
	messages, updates, clients int
	kills, redisRestarts, cuts int // writer SIGKILLs, Redis restarts, MySQL outages
	cut, writerDown            time.Duration
	// redisDown is how long each Redis restart keeps it down, in turn. The
	// api's Redis client retries for about a second: a short outage hides
	// behind its retries (and their replays), a longer one answers 503.
	redisDown                   []time.Duration
	load, drain                 time.Duration // how long the load is spread over; the bound on draining
	batch                       int           // WRITER_BATCH_SIZE: small batches make out-of-order arrivals visible
	killDuringCut               bool          // also SIGKILL the writer in the middle of each MySQL outage
	poisonUnknownApp, poisonRaw int
}

// planFor returns the short plan (make test) or, with CHAOS=long, the long
// one (make chaos).
func planFor(mode string) chaosPlan {
	if mode == "long" {
		return chaosPlan{
			apps: 3, chats: 6, firstChats: 3,
			messages: 20000, updates: 5000, clients: 16,
			kills: 8, redisRestarts: 3, cuts: 3,
			cut: 5 * time.Second, redisDown: []time.Duration{time.Second, 2 * time.Second, 500 * time.Millisecond}, writerDown: 1500 * time.Millisecond,
			load: 100 * time.Second, drain: 5 * time.Minute, batch: 64, killDuringCut: true,
			poisonUnknownApp: 2, poisonRaw: 2,
		}
	}
	return chaosPlan{
		apps: 2, chats: 3, firstChats: 2,
		messages: 2000, updates: 500, clients: 12,
		kills: 3, redisRestarts: 2, cuts: 1,
		cut: 3 * time.Second, redisDown: []time.Duration{time.Second, 2 * time.Second}, writerDown: time.Second,
		load: 18 * time.Second, drain: 150 * time.Second, batch: 32,
		poisonUnknownApp: 2, poisonRaw: 2,
	}
}

// TestChaos posts thousands of messages and updates while the writer is
// SIGKILLed, Redis restarts and MySQL becomes unreachable, with duplicate and
// shuffled jobs injected into the queue, then checks that nothing accepted was
// lost or duplicated, the newest update won, counts are exact, the journal
// explains every row, reconcile is clean and only poison jobs are dead.
//
// CHAOS=long runs the long plan (make chaos). CHAOS_KEEP_LOGS=dir keeps the
// logs of a failed run. CHAOS_SKIP_RECONCILE=1 skips the `cron reconcile`
// check: a temporary switch from while that command was being written; remove
// it once nobody needs it.
func TestChaos(t *testing.T) {
	if testing.Short() {
		t.Skip("fault-injection test: skipped with -short")
	}
	mode := os.Getenv("CHAOS")
	plan := planFor(mode)
	began := time.Now()
	ctx := context.Background()

	rds := startOwnRedis(t)
	dsn := testenv.MySQLDSN(t)
	proxy := testenv.NewProxy(t, mysqlAddr(t, dsn))
	proxied, err := replaceDSNAddr(dsn, proxy.Addr())
	if err != nil {
		t.Fatal(err)
	}
	s := newChaosSystem(t, rds, rds.addr, proxied, "QUEUE_PARTITIONS=8", fmt.Sprintf("WRITER_BATCH_SIZE=%d", plan.batch), "WRITER_BLOCK=1s")
	db := openDB(t, dsn)
	q := chaosQueue{rdb: s.rdb, keys: queue.NewKeys(s.prefix, 8)}

	// Applications, and the first chats while no writer runs.
	ld := newChaosLoad(s, plan)
	digests := map[string]bool{}
	for a := range plan.apps {
		ld.addApp(t, fmt.Sprintf("chaos %d", a))
		digests[chat.TokenDigest(ld.tokens[a])] = true
		for range plan.firstChats {
			ld.createChat(t, a)
		}
	}

	setupTime := time.Since(began)
	inj := &injector{t: t, q: q, apps: digests, dupTypes: map[string]int{}}
	ld.run(t)
	f := chaosFaults{t: t, s: s, rds: rds, proxy: proxy, ld: ld, inj: inj, plan: plan}
	f.run(ctx)
	ld.wait(t)
	loadTime := time.Since(ld.start)
	s.mustRun(t, "writer")

	// Drain: the queue empty everywhere and MySQL rows no longer changing.
	drainStart := time.Now()
	inj.drain(ctx, s, db, plan.drain)
	drainTime := time.Since(drainStart)

	res := ld.merge()
	t.Logf("plan %q: %d apps x %d chats, %d clients, writer batch %d; setup (build, start) %.1fs",
		modeName(mode), plan.apps, plan.chats, plan.clients, plan.batch, setupTime.Seconds())
	t.Logf("load: %d creates accepted (201), %d updates accepted (200) in %.1fs; 503s: %d on creates, %d on updates; transport errors %d; other answers %d",
		res.createsOK, res.updatesOK, loadTime.Seconds(), res.creates503, res.updates503, res.transport, res.other)
	t.Logf("faults: %d writer SIGKILLs, %d Redis restarts (down %v in turn), %d MySQL cuts (%.1fs in all)",
		f.kills, f.restarts, plan.redisDown, f.cuts, f.cutTime.Seconds())
	t.Logf("injected: %d duplicate jobs %v, %d jobs shuffled in %d windows, %d poison jobs (%d unknown app, %d unknown type, %d undecodable)",
		inj.dups, inj.dupTypes, inj.shuffled, inj.windows, len(inj.poisonIDs)+len(inj.poisonRaw),
		plan.poisonUnknownApp, len(inj.poisonIDs)-plan.poisonUnknownApp, len(inj.poisonRaw))
	t.Logf("drained in %.1fs", drainTime.Seconds())
	for _, o := range res.otherSamples {
		t.Errorf("unexpected answer during the load: %s", o)
	}
	if res.createsOK != plan.messages {
		t.Errorf("accepted creates: got %d, want %d (the load did not finish)", res.createsOK, plan.messages)
	}

	checkChaosRows(t, db, ld, res)
	checkChaosCounts(t, s, db, ld, res)
	checkChaosJournal(t, db, inj)
	checkChaosReconcile(t, s)
	checkChaosDead(t, q, inj)
	if st, err := q.stats(ctx); err == nil {
		t.Logf("queue stats: %v", st)
	}
	t.Logf("total %.1fs", time.Since(began).Seconds())
}

// chaosFaults injects the plan's faults while the load runs.
type chaosFaults struct {
	t     *testing.T
	s     *system
	rds   *ownRedis
	proxy *testenv.Proxy
	ld    *chaosLoad
	inj   *injector
	plan  chaosPlan

	kills, restarts, cuts int
	cutTime               time.Duration
}

// run starts with a window in which no writer has run yet (poison,
// duplicates, shuffle, then the writer starts), then spreads the faults over
// the load.
func (f *chaosFaults) run(ctx context.Context) {
	f.t.Helper()
	p := f.plan
	actions := chaosActions(p)
	busy := time.Duration(p.kills)*p.writerDown + time.Duration(p.cuts)*p.cut
	for i := range p.redisRestarts {
		busy += p.redisDown[i%len(p.redisDown)]
	}
	gap := max(500*time.Millisecond, (p.load-busy)/time.Duration(len(actions)+1))
	time.Sleep(gap)
	f.inj.poison(ctx, f.ld.tokens[0], p)
	f.inj.window(ctx)
	f.startWriter()
	for _, act := range actions {
		time.Sleep(gap)
		f.s.mustRun(f.t, "writer")
		switch act {
		case "kill":
			f.kills++
			f.s.kill("writer")
			time.Sleep(p.writerDown)
			f.moreChats()
			f.inj.window(ctx)
			f.startWriter()
		case "redis":
			f.rds.restart(p.redisDown[f.restarts%len(p.redisDown)])
			f.restarts++
		case "mysql":
			f.cutMySQL(ctx)
		}
	}
}

func (f *chaosFaults) startWriter() {
	f.s.start("writer", "HTTP_ADDR=127.0.0.1:"+freePort(f.t))
}

// moreChats creates the next chat of every application that has fewer than
// planned while no writer runs, so their chat.create jobs get shuffled
// behind their messages.
func (f *chaosFaults) moreChats() {
	for a := range f.plan.apps {
		if f.ld.chatsOf(a) < f.plan.chats {
			f.ld.createChat(f.t, a)
		}
	}
}

// cutMySQL makes MySQL unreachable for plan.cut, and with killDuringCut also
// SIGKILLs the writer halfway and starts a new one once MySQL is back.
func (f *chaosFaults) cutMySQL(ctx context.Context) {
	f.cuts++
	began := time.Now()
	f.proxy.Cut()
	if !f.plan.killDuringCut {
		time.Sleep(f.plan.cut)
		f.proxy.Restore()
		f.cutTime += time.Since(began)
		return
	}
	time.Sleep(f.plan.cut / 2)
	f.kills++
	f.s.kill("writer")
	time.Sleep(f.plan.cut / 2)
	f.proxy.Restore()
	f.cutTime += time.Since(began)
	f.inj.window(ctx)
	f.startWriter()
}

func modeName(mode string) string {
	if mode == "" {
		return "short"
	}
	return mode
}

// chaosActions interleaves the faults: kill, Redis restart, kill, MySQL cut, …
func chaosActions(p chaosPlan) []string {
	var out []string
	for i := 0; i < max(p.kills, p.redisRestarts, p.cuts); i++ {
		if i < p.kills {
			out = append(out, "kill")
		}
		if i < p.redisRestarts {
			out = append(out, "redis")
		}
		if i < p.cuts {
			out = append(out, "mysql")
		}
	}
	return out
}

func mysqlAddr(t *testing.T, dsn string) string {
	t.Helper()
	i := strings.Index(dsn, "@tcp(")
	if i < 0 {
		t.Fatalf("DSN %q: no tcp address", dsn)
	}
	rest := dsn[i+len("@tcp("):]
	j := strings.Index(rest, ")")
	if j < 0 {
		t.Fatalf("DSN %q: no tcp address", dsn)
	}
	return rest[:j]
}

// mustRun fails the test if a service the test started has exited by itself.
func (s *system) mustRun(t *testing.T, name string) {
	t.Helper()
	s.mu.Lock()
	p := s.running[name]
	s.mu.Unlock()
	if p == nil {
		t.Fatalf("%s is not running", name)
	}
	select {
	case <-p.done:
		t.Fatalf("%s exited by itself: %v", name, p.cmd.ProcessState)
	default:
	}
}

// ---- checks ----

type row struct {
	body    string
	deleted bool
}

// loadRows reads every message row by (application index, chat, number).
func loadRows(t *testing.T, db *sql.DB, tokens []string) (map[msgKey]row, map[int64]int) {
	t.Helper()
	appIndex := map[int64]int{}
	rs, err := db.Query("SELECT id, token_digest FROM applications") // MySQL keeps no token
	if err != nil {
		t.Fatal(err)
	}
	for rs.Next() {
		var id int64
		var digest string
		if err := rs.Scan(&id, &digest); err != nil {
			t.Fatal(err)
		}
		for i, tk := range tokens {
			if chat.TokenDigest(tk) == digest {
				appIndex[id] = i
			}
		}
	}
	rs.Close()
	rows := map[msgKey]row{}
	rs, err = db.Query("SELECT c.application_id, c.number, m.number, m.body, m.deleted_at IS NOT NULL FROM messages m JOIN chats c ON c.id = m.chat_id")
	if err != nil {
		t.Fatal(err)
	}
	defer rs.Close()
	for rs.Next() {
		var appID, chatN, n int64
		var r row
		if err := rs.Scan(&appID, &chatN, &n, &r.body, &r.deleted); err != nil {
			t.Fatal(err)
		}
		rows[msgKey{app: appIndex[appID], chat: chatN, number: n}] = r
	}
	if err := rs.Err(); err != nil {
		t.Fatal(err)
	}
	return rows, appIndex
}

func scalar(t *testing.T, db *sql.DB, query string, args ...any) int64 {
	t.Helper()
	var n int64
	if err := db.QueryRow(query, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	return n
}

// checkChaosRows checks figures 1–3: every accepted message is in MySQL once,
// numbers are 1..N per chat, and the newest accepted update's body won.
func checkChaosRows(t *testing.T, db *sql.DB, ld *chaosLoad, res *clientResult) {
	t.Helper()
	rows, _ := loadRows(t, db, ld.tokens)
	dupRows := scalar(t, db, "SELECT COUNT(*) FROM (SELECT chat_id, number FROM messages GROUP BY chat_id, number HAVING COUNT(*) > 1) d")
	missing, deleted := 0, 0
	var missingSample []string
	for k := range res.msgs {
		r, ok := rows[k]
		switch {
		case !ok:
			missing++
			if len(missingSample) < 5 {
				missingSample = append(missingSample, fmt.Sprintf("app %d chat %d message %d", k.app, k.chat, k.number))
			}
		case r.deleted:
			deleted++
		}
	}
	// Rows nobody was told about must come from a create whose answer was a
	// 503 (the job was pushed, the answer lost).
	createdAs := map[string]msgKey{}
	for k, st := range res.msgs {
		createdAs[st.body] = k
	}
	ambiguous, unexplained := 0, 0
	for k, r := range rows {
		if _, ok := res.msgs[k]; ok {
			continue
		}
		found := false
		for _, b := range res.ambiguousCreates[chatKey{app: k.app, chat: k.chat}] {
			if b == r.body {
				found = true
			}
		}
		if found {
			ambiguous++
			continue
		}
		unexplained++
		if unexplained <= 5 {
			if twin, ok := createdAs[r.body]; ok {
				t.Errorf("row app %d chat %d message %d (%q) duplicates accepted message %d: one request was persisted twice, under two numbers",
					k.app, k.chat, k.number, r.body, twin.number)
				continue
			}
			t.Errorf("row app %d chat %d message %d (%q) was never accepted", k.app, k.chat, k.number, r.body)
		}
	}
	t.Logf("1. exactly once: %d accepted messages, %d rows in MySQL; %d missing, %d duplicate keys, %d deleted, %d unexplained rows, %d rows from creates answered 503 (pushed before the answer was lost)",
		len(res.msgs), len(rows), missing, dupRows, deleted, unexplained, ambiguous)
	if missing > 0 {
		t.Errorf("%d accepted messages are not in MySQL, e.g. %v", missing, missingSample)
	}
	if dupRows > 0 || deleted > 0 {
		t.Errorf("%d duplicate message keys, %d deleted rows: want none", dupRows, deleted)
	}

	// 2. Numbers per chat are exactly 1..N.
	perChat := map[chatKey][]int64{}
	for k := range rows {
		ck := chatKey{app: k.app, chat: k.chat}
		perChat[ck] = append(perChat[ck], k.number)
	}
	accepted := map[chatKey]int{}
	for k := range res.msgs {
		accepted[chatKey{app: k.app, chat: k.chat}]++
	}
	exact := 0
	for _, ck := range ld.chats {
		nums := perChat[ck]
		sort.Slice(nums, func(i, j int) bool { return nums[i] < nums[j] })
		ok := true
		for i, n := range nums {
			if n != int64(i+1) {
				ok = false
				t.Errorf("app %d chat %d: numbers %v…: position %d holds %d, want %d", ck.app, ck.chat, nums[:min(len(nums), 5)], i, n, i+1)
				break
			}
		}
		if len(nums) < accepted[ck] {
			ok = false
			t.Errorf("app %d chat %d: %d rows, want at least the %d accepted", ck.app, ck.chat, len(nums), accepted[ck])
		}
		if ok {
			exact++
		}
	}
	var sizes []string
	for _, ck := range ld.chats {
		sizes = append(sizes, fmt.Sprintf("%d/%d:%d", ck.app, ck.chat, len(perChat[ck])))
	}
	t.Logf("2. numbering: %d of %d chats hold exactly 1..N (app/chat:N %s)", exact, len(ld.chats), strings.Join(sizes, " "))

	// 3. The newest accepted update's body won.
	updated, wrong, unsure := 0, 0, 0
	for k, st := range res.msgs {
		r, ok := rows[k]
		if !ok {
			continue
		}
		want := st.body
		if st.updates > 0 {
			updated++
			want = st.last
		}
		if r.body == want {
			continue
		}
		maybe := false
		for _, b := range st.ambiguous {
			maybe = maybe || b == r.body
		}
		if maybe {
			unsure++
			continue
		}
		wrong++
		if wrong <= 5 {
			t.Errorf("app %d chat %d message %d: body %q, want %q (after %d accepted updates)", k.app, k.chat, k.number, r.body, want, st.updates)
		}
	}
	t.Logf("3. newest wins: %d messages updated (%d updates accepted), %d bodies wrong, %d won by an update answered 503; updated_at not increasing per message: %d",
		updated, res.updatesOK, wrong, unsure, res.nonMonotonic)
	if wrong > 0 || res.nonMonotonic > 0 {
		t.Errorf("%d message bodies are not the newest accepted update's; %d updated_at went backwards", wrong, res.nonMonotonic)
	}
}

// checkChaosCounts checks figure 4: after one sync, the counts equal the rows.
func checkChaosCounts(t *testing.T, s *system, db *sql.DB, ld *chaosLoad, res *clientResult) {
	t.Helper()
	out, code := s.runExit(2*time.Minute, "cron", "sync")
	if code != 0 {
		t.Fatalf("cron sync: exit %d\n%s", code, out)
	}
	badChats := scalar(t, db, `SELECT COUNT(*) FROM chats c WHERE c.messages_count <>
  (SELECT COUNT(*) FROM messages m WHERE m.chat_id = c.id AND m.deleted_at IS NULL)`)
	badApps := scalar(t, db, `SELECT COUNT(*) FROM applications a WHERE a.chats_count <>
  (SELECT COUNT(*) FROM chats c WHERE c.application_id = a.id AND c.deleted_at IS NULL)`)
	sumMessages := scalar(t, db, "SELECT COALESCE(SUM(messages_count), 0) FROM chats")
	sumChats := scalar(t, db, "SELECT COALESCE(SUM(chats_count), 0) FROM applications")
	t.Logf("4. counts after one sync: %d chats and %d applications differ from their rows; messages_count sums to %d, chats_count to %d (chats handed out %d)",
		badChats, badApps, sumMessages, sumChats, len(ld.chats))
	if badChats > 0 || badApps > 0 || sumChats != int64(len(ld.chats)) || sumMessages < int64(len(res.msgs)) {
		t.Errorf("counts not exact after a sync: %d chats, %d applications differ; sums %d messages (accepted %d), %d chats (want %d)",
			badChats, badApps, sumMessages, len(res.msgs), sumChats, len(ld.chats))
	}
}

// checkChaosJournal checks figure 5: the journal explains every row and every
// event, and counts the duplicates and out-of-order arrivals it saw.
func checkChaosJournal(t *testing.T, db *sql.DB, in *injector) {
	t.Helper()
	entries := scalar(t, db, "SELECT COUNT(*) FROM event_journal")
	msgNoApplied := scalar(t, db, `SELECT COUNT(*) FROM messages m WHERE NOT EXISTS
  (SELECT 1 FROM event_journal j WHERE j.event_id = m.last_event_id AND j.outcome = 'applied')`)
	chatNoApplied := scalar(t, db, `SELECT COUNT(*) FROM chats c WHERE NOT EXISTS
  (SELECT 1 FROM event_journal j WHERE j.event_id = c.last_event_id AND j.outcome = 'applied')`)
	noCreate := scalar(t, db, `SELECT COUNT(*) FROM messages m JOIN chats c ON c.id = m.chat_id WHERE NOT EXISTS
  (SELECT 1 FROM event_journal j WHERE j.application_id = c.application_id AND j.chat_number = c.number
     AND j.message_number = m.number AND j.type = 'message.create' AND j.outcome = 'applied')`)
	twoCreates := scalar(t, db, `SELECT COUNT(*) FROM (SELECT 1 FROM event_journal WHERE type = 'message.create' AND outcome = 'applied'
  GROUP BY application_id, chat_number, message_number HAVING COUNT(DISTINCT event_id) > 1) x`)
	appliedTwice := scalar(t, db, `SELECT COUNT(*) FROM (SELECT 1 FROM event_journal WHERE outcome = 'applied'
  GROUP BY event_id HAVING COUNT(*) > 1) x`)
	t.Logf("5. journal: %d entries; rows whose last event is not journaled applied: %d messages, %d chats; messages without an applied create: %d; keys created by two events: %d; events applied twice: %d",
		entries, msgNoApplied, chatNoApplied, noCreate, twoCreates, appliedTwice)
	if msgNoApplied+chatNoApplied+noCreate+twoCreates+appliedTwice > 0 {
		t.Errorf("the journal does not explain every row (see the figures above)")
	}
	if appliedTwice > 0 {
		rs, err := db.Query(`SELECT event_id, type, GROUP_CONCAT(CONCAT(application_id, '/', chat_number, '/', message_number) ORDER BY id)
  FROM event_journal WHERE outcome = 'applied' GROUP BY event_id, type HAVING COUNT(*) > 1 LIMIT 5`)
		if err != nil {
			t.Fatal(err)
		}
		for rs.Next() {
			var id, typ, where string
			if err := rs.Scan(&id, &typ, &where); err != nil {
				t.Fatal(err)
			}
			t.Errorf("event %s (%s) applied more than once, at app-id/chat/message %s: the same event was queued under two numbers", id, typ, where)
		}
		rs.Close()
	}

	// Events that never came to a final outcome (applied, duplicate, stale).
	rs, err := db.Query(`SELECT event_id, GROUP_CONCAT(DISTINCT outcome ORDER BY outcome) FROM event_journal GROUP BY event_id
  HAVING SUM(outcome IN ('applied', 'duplicate', 'stale')) = 0`)
	if err != nil {
		t.Fatal(err)
	}
	unresolved := map[string]string{}
	for rs.Next() {
		var id, outcomes string
		if err := rs.Scan(&id, &outcomes); err != nil {
			t.Fatal(err)
		}
		unresolved[id] = outcomes
	}
	rs.Close()
	poison := 0
	for _, id := range in.poisonIDs {
		if o, ok := unresolved[id]; ok && o == "dead" {
			poison++
			delete(unresolved, id)
		} else {
			t.Errorf("poison job %s: journal outcomes %q, want dead", id, o)
		}
	}
	for id, o := range unresolved {
		t.Errorf("event %s ended with only %q outcomes, and it was not poison", id, o)
	}

	rs, err = db.Query("SELECT type, outcome, COALESCE(detail, ''), COUNT(*), COUNT(DISTINCT event_id) FROM event_journal GROUP BY type, outcome, detail ORDER BY type, outcome, detail")
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	for rs.Next() {
		var typ, outcome, detail string
		var n, events int64
		if err := rs.Scan(&typ, &outcome, &detail, &n, &events); err != nil {
			t.Fatal(err)
		}
		if outcome == "dead" {
			detail = "" // the error text, shown elsewhere
		}
		lines = append(lines, fmt.Sprintf("   %-15s %-9s %-22s %6d deliveries, %6d events", typ, outcome, detail, n, events))
	}
	rs.Close()
	retried := scalar(t, db, "SELECT COUNT(*) FROM event_journal WHERE attempt > 0")
	t.Logf("   unresolved events: %d poison (dead, as injected), %d others; deliveries with attempt > 0: %d; by type, outcome and out-of-order kind:\n%s",
		poison, len(unresolved), retried, strings.Join(lines, "\n"))
}

// checkChaosReconcile checks figure 6: `cron reconcile` finds nothing to fix.
func checkChaosReconcile(t *testing.T, s *system) {
	t.Helper()
	if os.Getenv("CHAOS_SKIP_RECONCILE") == "1" {
		// Temporary: `cron reconcile` is being built; remove the switch once it lands.
		t.Logf("6. reconcile: skipped (CHAOS_SKIP_RECONCILE=1)")
		return
	}
	out, code := s.runExit(2*time.Minute, "cron", "reconcile", "-json")
	switch code {
	case 0:
		t.Logf("6. reconcile: clean (exit 0): %s", reconcileSummary(out))
	case 3:
		t.Errorf("6. reconcile found differences (exit 3):\n%s", firstLines(out, 40))
	default:
		t.Errorf("6. cron reconcile -json: exit %d (does `cron reconcile` exist? CHAOS_SKIP_RECONCILE=1 skips it until it does):\n%s", code, firstLines(out, 20))
	}
}

// reconcileSummary picks the figures out of `cron reconcile -json`.
func reconcileSummary(out string) string {
	var rep map[string]any
	if i := strings.Index(out, "{"); i < 0 || json.Unmarshal([]byte(out[i:]), &rep) != nil {
		return firstLines(out, 6)
	}
	var parts []string
	for _, k := range []string{"events_replayed", "chats_checked", "messages_checked", "never_applied", "unverifiable", "differences"} {
		if v, ok := rep[k]; ok {
			b, _ := json.Marshal(v)
			parts = append(parts, k+"="+string(b))
		}
	}
	return strings.Join(parts, " ")
}

func firstLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > n {
		lines = append(lines[:n], fmt.Sprintf("… (%d more lines)", len(lines)-n))
	}
	return strings.Join(lines, "\n")
}

// checkChaosDead checks figure 7: the dead lists hold exactly the poison jobs.
func checkChaosDead(t *testing.T, q chaosQueue, in *injector) {
	t.Helper()
	dead, err := q.dead(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]int{}
	for _, id := range in.poisonIDs {
		want[id]++
	}
	for _, raw := range in.poisonRaw {
		want[raw]++
	}
	got := map[string]int{}
	for _, raw := range dead {
		if e, err := queue.Decode(raw); err == nil {
			got[e.ID]++
			continue
		}
		got[raw]++
	}
	t.Logf("7. dead letters: %d jobs in the dead lists, %d poison jobs injected", len(dead), len(want))
	for k, n := range got {
		if want[k] != n {
			t.Errorf("dead list holds %q %d times, want %d", k, n, want[k])
		}
	}
	for k, n := range want {
		if got[k] == 0 {
			t.Errorf("poison job %q (x%d) is not in the dead lists", k, n)
		}
	}
}

// TestCreateNotRepeatedWhenRedisReplyIsLost is the chaos test's duplicate
// found deterministically: Redis runs the script that hands out a message
// number and pushes the job, the reply is lost on the way back (Redis shut
// down, the network broke), and the api must not run the script again: one
// request, one message.
func TestCreateNotRepeatedWhenRedisReplyIsLost(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end test: skipped with -short")
	}
	rds := startOwnRedis(t)
	drop := newReplyDropper(t, rds.addr)
	s := newChaosSystem(t, rds, drop.addr(), testenv.MySQLDSN(t))
	app := s.newApp("lost reply")
	token := app.Token()
	s.newChats(app, 1)
	// The first message loads the script into Redis, so the next call is a
	// plain EVALSHA that runs.
	if _, err := app.PostMessage(t.Context(), 1, "first"); err != nil {
		t.Fatalf("first message: %v", err)
	}
	drop.arm(scriptCall)
	// One request, tried once (s.api): the api itself must not repeat it.
	m, postErr := app.PostMessage(t.Context(), 1, "second")
	if drop.dropped.Load() != 1 {
		t.Fatalf("no reply was dropped (answer %+v, %v): the case was not exercised", m, postErr)
	}
	keys := queue.NewKeys(s.prefix, 8)
	digest := chat.TokenDigest(token)
	jobs, err := s.rdb.LRange(context.Background(), keys.Pending(keys.Partition(digest)), 0, -1).Result()
	if err != nil {
		t.Fatal(err)
	}
	var numbers []int64
	var ids []string
	for _, raw := range jobs {
		if e, err := queue.Decode(raw); err == nil && e.Body == "second" {
			numbers = append(numbers, e.Message)
			ids = append(ids, e.ID)
		}
	}
	counter, _ := s.rdb.HGet(context.Background(), keys.MessageCounter(digest, 1), "n").Int64()
	t.Logf("reply of the create script dropped once: answer %+v, %v; jobs for the request: %d (numbers %v, event ids %v); message counter %d",
		m, postErr, len(numbers), numbers, ids, counter)
	switch n := m.Number; {
	case postErr == nil:
		if len(numbers) != 1 || numbers[0] != n || counter != n {
			t.Errorf("one accepted create (number %d) queued %d jobs with numbers %v and moved the counter to %d: want one job, number %d",
				n, len(numbers), numbers, counter, n)
		}
	case ic.StatusOf(postErr) == http.StatusServiceUnavailable:
		if len(numbers) > 1 {
			t.Errorf("a create answered 503 queued %d jobs (numbers %v): want at most one", len(numbers), numbers)
		}
	default:
		t.Errorf("create whose reply was lost: got %v, want 201 or 503", postErr)
	}
}

// TestWriterLosesNoJobWhenRedisReplyIsLost is the chaos test's lost job
// found deterministically: the writer's BLMOVE moves a job into its
// processing list, the reply is lost on the way back, and the writer must
// still apply that job before it acknowledges (clears) the list.
func TestWriterLosesNoJobWhenRedisReplyIsLost(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end test: skipped with -short")
	}
	rds := startOwnRedis(t)
	drop := newReplyDropper(t, rds.addr)
	dsn := testenv.MySQLDSN(t)
	s := newChaosSystem(t, rds, rds.addr, dsn) // the api talks to Redis directly
	db := openDB(t, dsn)
	app := s.newApp("lost BLMOVE reply")
	token := app.Token()
	s.newChats(app, 1)
	for _, body := range []string{"first", "second"} {
		if _, err := app.PostMessage(t.Context(), 1, body); err != nil {
			t.Fatalf("post %s: %v", body, err)
		}
	}
	// Three jobs wait (chat, first, second). The writer's first BLMOVE on
	// this partition takes the chat's job and loses the reply.
	keys := queue.NewKeys(s.prefix, 8)
	pending := []byte(strings.ToLower(keys.Pending(keys.Partition(chat.TokenDigest(token)))))
	drop.arm(func(req []byte) bool { return bytes.Contains(req, []byte("blmove")) && bytes.Contains(req, pending) })
	s.start("writer", "HTTP_ADDR=127.0.0.1:"+freePort(t), "REDIS_ADDR="+drop.addr())
	var chats, messages int64
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		chats = scalar(t, db, "SELECT COUNT(*) FROM chats")
		messages = scalar(t, db, "SELECT COUNT(*) FROM messages")
		if chats == 1 && messages == 2 {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	if drop.dropped.Load() != 1 {
		t.Fatalf("no BLMOVE reply was dropped: the case was not exercised")
	}
	d, _ := chaosQueue{rdb: s.rdb, keys: keys}.depth(context.Background())
	journal := scalar(t, db, "SELECT COUNT(DISTINCT event_id) FROM event_journal")
	t.Logf("BLMOVE reply dropped once: %d chat rows, %d message rows, %d events journaled; queue: %s", chats, messages, journal, d)
	if chats != 1 || messages != 2 {
		t.Errorf("after a lost BLMOVE reply: got %d chats and %d messages in MySQL, want 1 and 2 (%d of 3 events ever reached the journal)", chats, messages, journal)
	}
}
