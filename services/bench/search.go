package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	ic "github.com/instachat/instachat/client"
	"github.com/instachat/instachat/pkg/chat"
	svcconfig "github.com/instachat/instachat/pkg/config"
	"github.com/instachat/instachat/pkg/counter"
)

const (
	searchVocabulary = 5000        // distinct words in the bodies
	searchTextSeed   = 1           // seed of the bodies
	searchQuerySeed  = 2           // seed of the measured queries
	searchSerialSeed = 3           // seed of the one-at-a-time queries
	searchSerial     = 400         // queries sent one at a time before the load
	searchSerialMax  = time.Minute // ... or for at most this long
)

// searchResult is what the search scenario measured.
type searchResult struct {
	typical, large  []*seedChat // large is empty without a large chat
	seedTime        time.Duration
	rebuildTime     time.Duration
	rebuildDocs     int64
	rebuildUsage    procUsage
	indexBytes      int64
	indexSegments   int
	apiStartup      time.Duration
	serial, load    *phase               // one query at a time (also the warm-up), then the open loop
	tallies         map[string]*hitTally // by recorder name
	apiCPU, loadSec float64              // api CPU seconds over the measured phase and its length
	apiPeakRSS      int64                // over the measured phase (includes start-up)
	loadAvg         [2]string            // the machine's 1-minute load average before and after the measured phase
}

// hitTally counts what the answers of one kind of query held.
type hitTally struct {
	answered atomic.Int64 // 200 responses
	hits     atomic.Int64 // sum of their totals
	zero     atomic.Int64 // answers with total 0
	returned atomic.Int64 // messages on the answered pages
	wrong    atomic.Int64 // returned messages that do not match the query
}

func (t *hitTally) add(o *hitTally) {
	t.answered.Add(o.answered.Load())
	t.hits.Add(o.hits.Load())
	t.zero.Add(o.zero.Load())
	t.returned.Add(o.returned.Load())
	t.wrong.Add(o.wrong.Load())
}

// seeded returns every chat that was seeded.
func (s *searchResult) seeded() []*seedChat {
	return append(append([]*seedChat{}, s.typical...), s.large...)
}

// total sums the tallies whose names have prefix.
func (s *searchResult) total(prefix string) *hitTally {
	var t hitTally
	for name, x := range s.tallies {
		if strings.HasPrefix(name, prefix) {
			t.add(x)
		}
	}
	return &t
}

// runSearch measures search over a large stored history: chats through the
// api, messages straight into MySQL, the index rebuilt by "api rebuild", then
// an open-loop search load on the api alone.
func runSearch(ctx context.Context, cfg config, sys *system, rep *report, log io.Writer) error {
	res := &searchResult{tallies: map[string]*hitTally{}}
	rep.search = res
	common := svcconfig.ReadCommon(svcconfig.NewEnv(sys.lookupEnv(cfg.getenv)), "api")

	api, refs, err := createSearchChats(ctx, cfg, sys, res)
	if err != nil {
		return err
	}
	// The api holds the bleve index open; "api rebuild" needs it alone. The
	// writer has persisted the chats and is not needed any more.
	sys.stop("writer")
	sys.stop("api")

	text, err := seedSearchHistory(ctx, cfg, sys, common, res, log)
	if err != nil {
		return err
	}
	if err := rebuildSearchIndex(ctx, cfg, sys, res, log); err != nil {
		return err
	}

	start := time.Now()
	if err := sys.start(ctx, "api"); err != nil {
		return err
	}
	res.apiStartup = time.Since(start)
	if err := checkSeeded(ctx, api, res.seeded()); err != nil {
		return err
	}
	return measureSearches(ctx, cfg, sys, rep, api, refs, text, log)
}

// createSearchChats creates the typical applications and chats through the
// api, and the large chat's own application when there is one, waits for
// the writer to persist them and puts them in res. refs lists the typical
// chats, then the large one.
func createSearchChats(ctx context.Context, cfg config, sys *system, res *searchResult) (api *workload, refs []*chatRef, err error) {
	if api, err = newWorkload(sys.apiURL, cfg.maxInFlight, 1); err != nil {
		return nil, nil, err
	}
	if err := api.setup(ctx, cfg.apps, cfg.chats); err != nil {
		return nil, nil, err
	}
	refs = append(refs, api.chats...)
	if cfg.largeShare > 0 {
		lw, err := newWorkload(sys.apiURL, 1, 1)
		if err != nil {
			return nil, nil, err
		}
		if err := lw.setup(ctx, 1, 1); err != nil {
			return nil, nil, err
		}
		refs = append(refs, lw.chats[0])
	}
	ids, err := waitChats(ctx, sys, len(refs), 2*time.Minute)
	if err != nil {
		return nil, nil, err
	}
	for i, r := range refs {
		id, ok := ids[chatKey(r.token, r.number)]
		if !ok {
			return nil, nil, fmt.Errorf("chat %d of an application is not in MySQL", r.number)
		}
		c := &seedChat{id: id, token: r.token, number: r.number}
		if i < len(api.chats) {
			res.typical = append(res.typical, c)
		} else {
			res.large = append(res.large, c)
		}
	}
	return api, refs, nil
}

// seedSearchHistory writes cfg.messages messages straight into MySQL, sets
// the chats' counters to them and refreshes the table statistics. It
// returns the text generator the bodies came from, which the queries use.
func seedSearchHistory(ctx context.Context, cfg config, sys *system, common svcconfig.Common, res *searchResult, log io.Writer) (*textGen, error) {
	var large *seedChat
	if len(res.large) > 0 {
		large = res.large[0]
	}
	plan := newMessagePlan(res.typical, large, cfg.largeShare, cfg.messages, newTextGen(searchTextSeed, searchVocabulary), time.Now().UTC())
	start := time.Now()
	if err := seedMessages(ctx, common.Store.DSN, plan, log); err != nil {
		return nil, err
	}
	if err := syncSeededCounts(ctx, sys.db, counter.New(sys.rdb, common.Keys(), nil, counter.Config{}), res.seeded()); err != nil {
		return nil, fmt.Errorf("sync counts: %w", err)
	}
	if err := analyzeSeeded(ctx, sys.db); err != nil {
		return nil, err
	}
	res.seedTime = time.Since(start)
	fmt.Fprintf(log, "seeded %d messages in %v\n", cfg.messages, res.seedTime.Round(time.Millisecond))
	return plan.text, nil
}

// rebuildSearchIndex runs `api rebuild` over the seeded messages and
// measures it and the index it leaves.
func rebuildSearchIndex(ctx context.Context, cfg config, sys *system, res *searchResult, log io.Writer) error {
	var err error
	if res.rebuildDocs, res.rebuildTime, res.rebuildUsage, err = sys.rebuildIndex(ctx, log); err != nil {
		return err
	}
	if res.rebuildDocs != int64(cfg.messages) {
		return fmt.Errorf("api rebuild indexed %d messages, want %d", res.rebuildDocs, cfg.messages)
	}
	if res.indexBytes, res.indexSegments, err = indexFootprint(filepath.Join(sys.dir, "bleve")); err != nil {
		return err
	}
	fmt.Fprintf(log, "index rebuilt in %v: %.0f docs/s, %.1f MiB on disk\n", res.rebuildTime.Round(time.Millisecond),
		float64(res.rebuildDocs)/res.rebuildTime.Seconds(), float64(res.indexBytes)/(1<<20))
	return nil
}

// measureSearches sends queries one at a time, then open loop at cfg.rate,
// and checks that the answers found something.
func measureSearches(ctx context.Context, cfg config, sys *system, rep *report, api *workload, refs []*chatRef, text *textGen, log io.Writer) error {
	res := rep.search
	byChat := make([]*chatRef, len(res.typical))
	copy(byChat, refs)
	var largeRef *chatRef
	if len(res.large) > 0 {
		largeRef = refs[len(refs)-1]
	}
	serial := newQueryGen(text, searchSerialSeed).queries(searchSerial, len(byChat), largeRef != nil)
	res.serial = serialPhase(ctx, api, byChat, largeRef, serial, searchSerialMax, log)
	qs := newQueryGen(text, searchQuerySeed).queries(int(cfg.rate*cfg.duration.Seconds())+1, len(byChat), largeRef != nil)
	for _, q := range qs {
		if res.tallies[q.name()] == nil {
			res.tallies[q.name()] = &hitTally{}
		}
	}
	before := sys.serviceUsage("api")
	res.loadAvg[0] = loadAverage()
	rep.prof.capture(ctx, sys, []string{"api"}, cfg.duration/4, min(cfg.profile, cfg.duration/2), rep.profileDir, rep.base(), log)
	res.load = searchPhase(ctx, api, byChat, largeRef, qs, res.tallies, cfg, cfg.duration, fmt.Sprintf("search %.0f/s", cfg.rate), log)
	after := sys.serviceUsage("api")
	res.loadAvg[1] = loadAverage()
	res.apiCPU, res.loadSec, res.apiPeakRSS = after.CPUSeconds-before.CPUSeconds, after.Wall-before.Wall, after.PeakRSS
	if err := ctx.Err(); err != nil {
		return err
	}
	return checkAnswers(res, log)
}

// checkAnswers fails a run whose searches were never answered or never
// found anything, and warns about answers that do not match their query.
func checkAnswers(res *searchResult, log io.Writer) error {
	all := res.total("")
	if all.answered.Load() == 0 {
		return errors.New("no search was answered with 200")
	}
	if all.hits.Load() == 0 {
		return fmt.Errorf("all %d answered searches found 0 messages: the index or the queries are wrong", all.answered.Load())
	}
	if w := all.wrong.Load(); w > 0 {
		fmt.Fprintf(log, "warning: %d returned messages do not contain the query words\n", w)
	}
	return nil
}

// searchPhase runs queries open loop at cfg.rate for d, counting their
// answers into tallies (nil: not counted).
func searchPhase(ctx context.Context, w *workload, typical []*chatRef, large *chatRef, qs []searchQuery, tallies map[string]*hitTally, cfg config, d time.Duration, label string, log io.Writer) *phase {
	rec := newRecorder()
	withProgress(ctx, log, label, rec, int(cfg.rate*d.Seconds()), func() {
		runOpenLoop(ctx, schedule{rate: cfg.rate, duration: d, maxInFlight: cfg.maxInFlight}, func(i int) (string, op) {
			q := qs[i%len(qs)]
			c := large
			if !q.large {
				c = typical[q.chat]
			}
			return q.name(), w.searchOp(c, q.text, tallies[q.name()])
		}, rec)
	})
	return &phase{name: label, rate: cfg.rate, rec: rec, stats: rec.stats()}
}

// serialPhase sends qs one at a time (closed loop), until all are answered
// or limit passes: the latency of a query with nothing queued before it.
func serialPhase(ctx context.Context, w *workload, typical []*chatRef, large *chatRef, qs []searchQuery, limit time.Duration, log io.Writer) *phase {
	rec := newRecorder()
	start := time.Now()
	rec.begin(start)
	withProgress(ctx, log, "search one at a time", rec, len(qs), func() {
		for _, q := range qs {
			if ctx.Err() != nil || time.Since(start) > limit {
				return
			}
			c := large
			if !q.large {
				c = typical[q.chat]
			}
			at := time.Now()
			status := w.searchOp(c, q.text, nil)(ctx)
			rec.record(q.name(), at, time.Since(at), status)
		}
	})
	return &phase{name: "search one at a time", rec: rec, stats: rec.stats()}
}

// searchOp sends one search and, when t is not nil, counts its answer and
// checks that every returned message matches the query.
func (w *workload) searchOp(c *chatRef, text string, t *hitTally) op {
	app := w.load.App(c.token)
	return func(ctx context.Context) int {
		page, err := app.Search(ctx, c.number, text, 0, 0)
		if err != nil || t == nil {
			return statusOf(err, http.StatusOK)
		}
		t.answered.Add(1)
		t.hits.Add(page.Total)
		if page.Total == 0 {
			t.zero.Add(1)
		}
		t.returned.Add(int64(len(page.Messages)))
		for _, m := range page.Messages {
			if !matches(text, m.Body) {
				t.wrong.Add(1)
			}
		}
		return http.StatusOK
	}
}

// chatKey names a chat by its application's token digest (MySQL keeps no
// token) and its number.
func chatKey(token string, number int64) string {
	return digestChatKey(chat.TokenDigest(token), number)
}

func digestChatKey(digest string, number int64) string {
	return digest + "/" + strconv.FormatInt(number, 10)
}

// waitChats polls MySQL until it holds want chats and returns their row ids
// by chatKey.
func waitChats(ctx context.Context, sys *system, want int, timeout time.Duration) (map[string]int64, error) {
	deadline := time.Now().Add(timeout)
	for {
		ids, err := chatIDs(ctx, sys)
		if err != nil {
			return nil, err
		}
		if len(ids) >= want {
			return ids, nil
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("the writer persisted %d of %d chats in %v", len(ids), want, timeout)
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func chatIDs(ctx context.Context, sys *system) (map[string]int64, error) {
	rows, err := sys.db.QueryContext(ctx, "SELECT a.token_digest, c.number, c.id FROM chats c JOIN applications a ON a.id = c.application_id")
	if err != nil {
		return nil, fmt.Errorf("read chats: %w", err)
	}
	defer rows.Close()
	ids := map[string]int64{}
	for rows.Next() {
		var digest string
		var number, id int64
		if err := rows.Scan(&digest, &number, &id); err != nil {
			return nil, fmt.Errorf("read chats: %w", err)
		}
		ids[digestChatKey(digest, number)] = id
	}
	return ids, rows.Err()
}

// checkSeeded reads each seeded chat and its last message through the api,
// and one number past it, to check the api sees the seed as real data: the
// count, a persisted last message, and 404 (not pending) beyond it.
func checkSeeded(ctx context.Context, w *workload, chats []*seedChat) error {
	for _, c := range chats {
		if c.count == 0 {
			continue
		}
		app := w.retrying.App(c.token)
		ch, err := app.Chat(ctx, c.number)
		if err != nil {
			return fmt.Errorf("chat %d: %w", c.number, err)
		}
		if ch.MessagesCount != c.count {
			return fmt.Errorf("chat %d: got messages_count %d, want %d", c.number, ch.MessagesCount, c.count)
		}
		m, err := app.Message(ctx, c.number, c.count)
		if err != nil {
			return fmt.Errorf("last message %d of chat %d: %w", c.count, c.number, err)
		}
		if m.Status != ic.StatusPersisted || m.Body == "" {
			return fmt.Errorf("last message %d of chat %d: got status %q and a %d-byte body, want a persisted message", c.count, c.number, m.Status, len(m.Body))
		}
		if _, err := app.Message(ctx, c.number, c.count+1); !errors.Is(err, ic.ErrNotFound) {
			return fmt.Errorf("message %d of chat %d (never handed out): got %v, want 404", c.count+1, c.number, err)
		}
	}
	return nil
}

// lookupEnv returns a lookup of the services' environment: the harness's
// settings over parent's.
func (s *system) lookupEnv(parent func(string) string) func(string) string {
	return func(key string) string {
		for i := len(s.env) - 1; i >= 0; i-- {
			if v, ok := strings.CutPrefix(s.env[i], key+"="); ok {
				return v
			}
		}
		return parent(key)
	}
}

// serviceUsage returns what the sampler of a running (or stopped) service saw.
func (s *system) serviceUsage(name string) procUsage {
	s.mu.Lock()
	svc := s.procs[name]
	s.mu.Unlock()
	if svc == nil {
		return procUsage{}
	}
	return svc.sampler.usage()
}

var rebuiltLine = regexp.MustCompile(`rebuilt: (\d+) messages`)

// rebuildIndex runs "api rebuild -restart" on the system's index, with its
// progress bar on log, and returns the documents it sent, how long it took
// and its resources.
func (s *system) rebuildIndex(ctx context.Context, log io.Writer) (docs int64, took time.Duration, u procUsage, err error) {
	cmd := exec.CommandContext(ctx, filepath.Join(s.bin, "api"), "rebuild", "-restart")
	cmd.Env = append(os.Environ(), s.env...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, log
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return 0, 0, procUsage{}, fmt.Errorf("start api rebuild: %w", err)
	}
	sampler := newProcSampler(cmd.Process.Pid)
	exited := make(chan struct{})
	sampled := make(chan struct{})
	go func() { sampler.run(ctx, exited); close(sampled) }()
	err = cmd.Wait()
	took = time.Since(start)
	close(exited)
	<-sampled
	if err != nil {
		if ctx.Err() != nil {
			return 0, took, sampler.usage(), fmt.Errorf("api rebuild stopped: %w", ctx.Err())
		}
		return 0, took, sampler.usage(), fmt.Errorf("api rebuild: %w\n%s", err, out.Bytes())
	}
	m := rebuiltLine.FindSubmatch(out.Bytes())
	if m == nil {
		return 0, took, sampler.usage(), fmt.Errorf("api rebuild: no count in its output %q", out.Bytes())
	}
	docs, _ = strconv.ParseInt(string(m[1]), 10, 64)
	return docs, took, sampler.usage(), nil
}

// indexFootprint returns the bytes of the files below dir and the number of
// scorch segments (*.zap) among them.
func indexFootprint(dir string) (size int64, segments int, err error) {
	err = filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		size += info.Size()
		if strings.HasSuffix(path, ".zap") {
			segments++
		}
		return nil
	})
	if err != nil {
		return 0, 0, fmt.Errorf("measure the index: %w", err)
	}
	return size, segments, nil
}

// loadAverage is the machine's 1-minute load average: other work on a shared
// machine shows in the tail latencies.
func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if f := strings.Fields(string(b)); err == nil && len(f) > 0 {
		return f[0]
	}
	return "unknown"
}
