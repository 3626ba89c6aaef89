package main

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
	blevesearch "github.com/blevesearch/bleve/v2"
	"github.com/blevesearch/bleve/v2/index/scorch"
	"github.com/gin-gonic/gin"
	"github.com/redis/go-redis/v9"

	ourbleve "github.com/instachat/instachat/pkg/search/bleve"
)

// The reference pipeline (issue 15) does only the work a message cannot
// avoid: a Gin handler decodes the body and runs INCR + LPUSH in one Redis
// round trip; one consumer takes batches of up to refBatch jobs, writes each
// with one multi-row INSERT in one transaction and indexes it in one bleve
// batch with our analysis. Our whole pipeline's sustained rate is reported as
// a ratio to its rate.

// refDoc is a message as the reference indexes it: the fields, and json tags,
// of our index's documents (pkg/search/bleve), which NewMapping maps.
type refDoc struct {
	Scope   string `json:"scope"`
	Version string `json:"version"`
	Body    string `json:"body"`
}

// refTable is the reference pipeline's table, in the run's database.
const refTable = "ref_messages"

// refBatch is the most jobs the consumer takes at once.
const refBatch = 500

// refEnqueue hands out the chat's next number and queues the job: ARGV[1]
// is the job's head (accepted time, token, chat), ARGV[2] the body; the
// number goes between them. Unlike the reference endpoint's script it does
// not trim the queue: every job must reach MySQL.
var refEnqueue = redis.NewScript(`
local n = redis.call('INCR', KEYS[1])
redis.call('LPUSH', KEYS[2], ARGV[1] .. n .. '\31' .. ARGV[2])
return n`)

// refTake moves up to ARGV[1] jobs, oldest first, from the queue (KEYS[1])
// to the processing list (KEYS[2]), less what is already there, and returns
// the processing list: a batch taken but not finished (the consumer died) is
// taken again. The consumer deletes the list once the batch is indexed.
var refTake = redis.NewScript(`
local room = tonumber(ARGV[1]) - redis.call('LLEN', KEYS[2])
if room > 0 then
  local jobs = redis.call('LRANGE', KEYS[1], -room, -1)
  if #jobs > 0 then
    redis.call('LTRIM', KEYS[1], 0, -#jobs - 1)
    redis.call('LPUSH', KEYS[2], unpack(jobs))
  end
end
return redis.call('LRANGE', KEYS[2], 0, -1)`)

// refPipelineConfig says where the reference pipeline keeps its data: its
// own table in db, keys under prefix, a bleve index in indexPath.
type refPipelineConfig struct {
	db        *sql.DB
	rdb       *redis.Client
	prefix    string
	table     string // default refTable
	indexPath string // a new directory
	batch     int    // default refBatch
}

// refPipeline is one running reference pipeline. Its consumer runs in
// consume; handler serves the create route.
type refPipeline struct {
	cfg                    refPipelineConfig
	idx                    blevesearch.Index
	queue, processing, ctr string
	insertHead             string

	persisted, indexed, failures atomic.Int64
	lagMu                        sync.Mutex
	commitLag, searchableLag     *hdrhistogram.Histogram
}

// refJob is one queued message.
type refJob struct {
	accepted time.Time
	token    string
	chat     int64
	number   int64
	body     string
}

// newRefPipeline creates the table and the index; the caller runs consume
// and serves handler, and calls close at the end.
func newRefPipeline(ctx context.Context, cfg refPipelineConfig) (*refPipeline, error) {
	if cfg.table == "" {
		cfg.table = refTable
	}
	if cfg.batch <= 0 {
		cfg.batch = refBatch
	}
	_, err := cfg.db.ExecContext(ctx, "CREATE TABLE IF NOT EXISTS `"+cfg.table+"` ("+
		"app_token VARCHAR(64) NOT NULL, chat_number BIGINT NOT NULL, number BIGINT NOT NULL, "+
		"body TEXT NOT NULL, accepted_at DATETIME(6) NOT NULL, created_at DATETIME(6) NOT NULL, "+
		"PRIMARY KEY (app_token, chat_number, number)) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4")
	if err != nil {
		return nil, fmt.Errorf("create %s: %w", cfg.table, err)
	}
	m, err := ourbleve.NewMapping()
	if err != nil {
		return nil, err
	}
	ourbleve.LimitAnalysis() // the analysis workers ours runs with
	idx, err := blevesearch.NewUsing(cfg.indexPath, m, scorch.Name, scorch.Name, nil)
	if err != nil {
		return nil, fmt.Errorf("create the reference index: %w", err)
	}
	k := cfg.prefix + "refpipe:{q}:"
	return &refPipeline{
		cfg: cfg, idx: idx, queue: k + "queue", processing: k + "processing", ctr: k + "n:",
		insertHead: "INSERT IGNORE INTO `" + cfg.table + "` (app_token, chat_number, number, body, accepted_at, created_at) VALUES ",
		commitLag:  newHist(), searchableLag: newHist(),
	}, nil
}

// close closes the index; consume must have returned.
func (p *refPipeline) close() error { return p.idx.Close() }

// handler serves the api's message create route, as the reference endpoint
// does, so the Go client drives it as it drives the api, and the stats
// routes (refprocess.go).
func (p *refPipeline) handler() http.Handler {
	gin.SetMode(gin.ReleaseMode)
	r := gin.New()
	r.POST("/api/v1/applications/:token/chats/:number/messages", func(c *gin.Context) {
		var in struct {
			Body string `json:"body"`
		}
		if err := c.ShouldBindJSON(&in); err != nil || in.Body == "" {
			c.JSON(http.StatusBadRequest, gin.H{"error": "body is required"})
			return
		}
		token, chat := c.Param("token"), c.Param("number")
		if _, err := strconv.ParseInt(chat, 10, 64); err != nil || strings.ContainsRune(token, '\x1f') {
			c.JSON(http.StatusNotFound, gin.H{"error": "no such chat"})
			return
		}
		head := refJobHead(time.Now(), token, chat)
		n, err := refEnqueue.Run(c.Request.Context(), p.cfg.rdb, []string{p.ctr + token + ":" + chat, p.queue}, head, in.Body).Int64()
		if err != nil {
			c.JSON(http.StatusServiceUnavailable, gin.H{"error": "redis"})
			return
		}
		c.JSON(http.StatusCreated, gin.H{"number": n, "body": in.Body, "status": "pending"})
	})
	p.statsRoutes(r)
	return r
}

// refJobHead is a job's fields before its number, each ended by 0x1f.
func refJobHead(accepted time.Time, token, chat string) string {
	return strconv.FormatInt(accepted.UnixMicro(), 10) + "\x1f" + token + "\x1f" + chat + "\x1f"
}

// parseRefJob reads a job the enqueue script wrote.
func parseRefJob(s string) (refJob, error) {
	f := strings.SplitN(s, "\x1f", 5)
	if len(f) != 5 {
		return refJob{}, fmt.Errorf("job %.40q: got %d fields, want 5", s, len(f))
	}
	us, err1 := strconv.ParseInt(f[0], 10, 64)
	chat, err2 := strconv.ParseInt(f[2], 10, 64)
	n, err3 := strconv.ParseInt(f[3], 10, 64)
	if err := errors.Join(err1, err2, err3); err != nil {
		return refJob{}, fmt.Errorf("job %.40q: %w", s, err)
	}
	return refJob{accepted: time.UnixMicro(us), token: f[1], chat: chat, number: n, body: f[4]}, nil
}

// consume takes and applies batches until ctx ends. A failed batch stays
// in the processing list and is taken again after a pause.
func (p *refPipeline) consume(ctx context.Context) {
	for ctx.Err() == nil {
		n, err := p.step(ctx)
		switch {
		case err != nil && ctx.Err() == nil:
			p.failures.Add(1)
			sleepCtx(ctx, 100*time.Millisecond)
		case err == nil && n == 0:
			// Wait for the next job without polling: move it, then take
			// what came with it.
			err := p.cfg.rdb.BLMove(ctx, p.queue, p.processing, "RIGHT", "LEFT", time.Second).Err()
			if err != nil && !errors.Is(err, redis.Nil) && ctx.Err() == nil {
				p.failures.Add(1)
				sleepCtx(ctx, 100*time.Millisecond)
			}
		}
	}
}

// step takes one batch, persists and indexes it, and returns its size.
func (p *refPipeline) step(ctx context.Context) (int, error) {
	raw, err := refTake.Run(ctx, p.cfg.rdb, []string{p.queue, p.processing}, p.cfg.batch).StringSlice()
	if err != nil || len(raw) == 0 {
		return 0, err
	}
	jobs := make([]refJob, 0, len(raw))
	for _, s := range raw {
		j, err := parseRefJob(s)
		if err != nil {
			return 0, err // a bug: the batch stays and is retried visibly in failures
		}
		jobs = append(jobs, j)
	}
	if err := p.insert(ctx, jobs); err != nil {
		return 0, err
	}
	committed := time.Now()
	p.persisted.Add(int64(len(jobs)))
	if err := p.index(jobs); err != nil {
		return 0, err
	}
	// The lags are recorded as soon as the batch is searchable, before the
	// counter a waiter may poll: whoever sees it has the batch's lags.
	p.recordLags(jobs, committed, time.Now())
	p.indexed.Add(int64(len(jobs)))
	if err := p.cfg.rdb.Del(ctx, p.processing).Err(); err != nil {
		return 0, fmt.Errorf("finish batch: %w", err)
	}
	return len(jobs), nil
}

// insert writes jobs with one multi-row INSERT in one transaction.
func (p *refPipeline) insert(ctx context.Context, jobs []refJob) error {
	query, args := refInsert(p.insertHead, jobs, time.Now())
	tx, err := p.cfg.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	if _, err := tx.ExecContext(ctx, query, args...); err != nil {
		_ = tx.Rollback()
		return fmt.Errorf("insert %d messages: %w", len(jobs), err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit %d messages: %w", len(jobs), err)
	}
	return nil
}

// refInsert builds the multi-row INSERT of jobs after head.
func refInsert(head string, jobs []refJob, now time.Time) (string, []any) {
	var b strings.Builder
	b.Grow(len(head) + len(jobs)*len("(?, ?, ?, ?, ?, ?),"))
	b.WriteString(head)
	args := make([]any, 0, 6*len(jobs))
	for i, j := range jobs {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString("(?, ?, ?, ?, ?, ?)")
		args = append(args, j.token, j.chat, j.number, j.body, j.accepted.UTC(), now.UTC())
	}
	return b.String(), args
}

// index adds jobs to the index in one batch, with our document ids.
func (p *refPipeline) index(jobs []refJob) error {
	b := p.idx.NewBatch()
	for _, j := range jobs {
		scope := j.token + ":" + strconv.FormatInt(j.chat, 10)
		id := fmt.Sprintf("%s:%019d", scope, j.number)
		if err := b.Index(id, refDoc{Scope: scope, Version: strconv.FormatInt(j.number, 10), Body: j.body}); err != nil {
			return fmt.Errorf("index message %s: %w", id, err)
		}
	}
	if err := p.idx.Batch(b); err != nil {
		return fmt.Errorf("index %d messages: %w", len(jobs), err)
	}
	return nil
}

func (p *refPipeline) recordLags(jobs []refJob, committed, searchable time.Time) {
	p.lagMu.Lock()
	defer p.lagMu.Unlock()
	for _, j := range jobs {
		_ = p.commitLag.RecordValue(max(1, committed.Sub(j.accepted).Microseconds()))
		_ = p.searchableLag.RecordValue(max(1, searchable.Sub(j.accepted).Microseconds()))
	}
}

// refLags is what the consumer recorded since the last takeLags: the lags
// from acceptance to commit and to searchable, in microseconds.
type refLags struct {
	commit, searchable *hdrhistogram.Histogram
}

// takeLags returns the lags recorded so far and starts new ones, so a ramp
// can read each step's.
func (p *refPipeline) takeLags() refLags {
	p.lagMu.Lock()
	defer p.lagMu.Unlock()
	l := refLags{commit: p.commitLag, searchable: p.searchableLag}
	p.commitLag, p.searchableLag = newHist(), newHist()
	return l
}

// counts reads how many messages MySQL holds and the index finds: the
// sources themselves, not the consumer's counters.
func (p *refPipeline) counts(ctx context.Context) (persisted, searchable int64, err error) {
	if err := p.cfg.db.QueryRowContext(ctx, "SELECT COUNT(*) FROM `"+p.cfg.table+"`").Scan(&persisted); err != nil {
		return 0, 0, fmt.Errorf("count %s: %w", p.cfg.table, err)
	}
	n, err := p.idx.DocCount()
	if err != nil {
		return 0, 0, fmt.Errorf("count the reference index: %w", err)
	}
	return persisted, int64(n), nil
}

// waitCaughtUp polls until MySQL holds and the index finds want messages,
// as waitPersisted does for our pipeline, and returns how long it took and
// whether they got there before timeout.
func (p *refPipeline) waitCaughtUp(ctx context.Context, want int64, timeout time.Duration) (time.Duration, bool) {
	start := time.Now()
	for time.Since(start) < timeout && ctx.Err() == nil {
		if db, idx, err := p.counts(ctx); err == nil && db >= want && idx >= want {
			return time.Since(start), true
		}
		sleepCtx(ctx, 50*time.Millisecond)
	}
	return time.Since(start), false
}

// serveRefPipeline serves the pipeline's handler on addr and runs its
// consumer until ctx ends; it calls ready (if set) once both run.
func serveRefPipeline(ctx context.Context, p *refPipeline, addr string, ready func()) error {
	ctx, cancel := context.WithCancel(ctx) // a failed listen stops the consumer too
	defer cancel()
	srv := &http.Server{Addr: addr, Handler: p.handler(), ReadHeaderTimeout: 5 * time.Second}
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); p.consume(ctx) }()
	go func() {
		defer wg.Done()
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	if ready != nil {
		ready()
	}
	err := srv.ListenAndServe()
	cancel()
	wg.Wait()
	if err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// sleepCtx sleeps for d or until ctx ends.
func sleepCtx(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}
