package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
	"github.com/gin-gonic/gin"
	"github.com/redis/go-redis/v9"
)

// The reference pipeline runs in a process of its own ("bench refpipeline"),
// as the reference endpoint and our services do: it shares no Go runtime
// with the load generator, and its CPU and memory show in the usage table
// beside our services'. Besides the create route it serves two stats
// routes the harness reads after each step:
//
//	GET  /stats       what MySQL holds and the index finds, and the failed batches
//	POST /stats/lags  the lags recorded since the last POST, which starts new ones
//
// The lags are taken by POST because taking them resets them; the counts
// are read without side effects, so the harness may poll them.

// refStats is GET /stats's answer: the sources' own counts (MySQL rows, index
// documents), not the consumer's counters, and the batches that failed.
type refStats struct {
	Persisted  int64 `json:"persisted"`
	Searchable int64 `json:"searchable"`
	Failures   int64 `json:"failures"`
}

// lagSummary is one lag distribution: how many samples and its quantiles in
// milliseconds (Max is 0 when the source has no maximum, as a Prometheus
// histogram has none).
type lagSummary struct {
	Count int64   `json:"count"`
	P50   float64 `json:"p50_ms"`
	P90   float64 `json:"p90_ms"`
	P99   float64 `json:"p99_ms"`
	Max   float64 `json:"max_ms"`
}

// stepLags is POST /stats/lags's answer, and what a ramp step reports of
// either pipeline: accepted → committed in MySQL, accepted → searchable.
type stepLags struct {
	Commit     lagSummary `json:"commit"`
	Searchable lagSummary `json:"searchable"`
}

// summarizeLag turns a histogram of microseconds into a lagSummary.
func summarizeLag(h *hdrhistogram.Histogram) lagSummary {
	if h.TotalCount() == 0 {
		return lagSummary{}
	}
	ms := func(us int64) float64 { return float64(us) / 1000 }
	return lagSummary{Count: h.TotalCount(), P50: ms(h.ValueAtQuantile(50)), P90: ms(h.ValueAtQuantile(90)),
		P99: ms(h.ValueAtQuantile(99)), Max: ms(h.Max())}
}

// statsRoutes adds the stats routes to r.
func (p *refPipeline) statsRoutes(r *gin.Engine) {
	r.GET("/stats", func(c *gin.Context) {
		persisted, searchable, err := p.counts(c.Request.Context())
		if err != nil {
			c.JSON(http.StatusServiceUnavailable, gin.H{"error": err.Error()})
			return
		}
		c.JSON(http.StatusOK, refStats{Persisted: persisted, Searchable: searchable, Failures: p.failures.Load()})
	})
	r.POST("/stats/lags", func(c *gin.Context) {
		l := p.takeLags()
		c.JSON(http.StatusOK, stepLags{Commit: summarizeLag(l.commit), Searchable: summarizeLag(l.searchable)})
	})
}

// serveRefPipelineProcess is the reference pipeline's process: it creates
// its table in the database of dsn and its index in indexDir, and serves on
// addr until ctx ends (SIGTERM).
func serveRefPipelineProcess(ctx context.Context, addr, redisAddr, prefix, dsn, indexDir string) error {
	db, err := sql.Open("mysql", dsn)
	if err != nil {
		return err
	}
	defer db.Close()
	// Our api's pool size, so neither pipeline waits for a connection the
	// other would have had.
	rdb := redis.NewClient(&redis.Options{Addr: redisAddr, PoolSize: 64})
	defer rdb.Close()
	p, err := newRefPipeline(ctx, refPipelineConfig{db: db, rdb: rdb, prefix: prefix, indexPath: indexDir})
	if err != nil {
		return err
	}
	serveErr := serveRefPipeline(ctx, p, addr, nil)
	return errors.Join(serveErr, p.close())
}

// refPipelineProc is the running reference pipeline process, seen from the
// harness.
type refPipelineProc struct {
	sys      *system
	indexDir string
	refClient
}

// refPipelineName is the process's name in the usage table and the log's.
const refPipelineName = "reference pipeline"

// startRefPipeline starts this program again as the reference pipeline
// ("bench refpipeline"), on the run's database and key prefix with an index
// in the run's directory, and waits until it listens. The DSN goes in the
// environment, not on the command line, where any user's ps would show a
// password.
func startRefPipeline(ctx context.Context, sys *system) (*refPipelineProc, error) {
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	indexDir := filepath.Join(sys.dir, "refpipeline-index")
	cmd, err := selfCommand("refpipeline", addr, sys.redisAddr, sys.prefix, indexDir)
	if err != nil {
		return nil, err
	}
	cmd.Env = append(os.Environ(), "MYSQL_DSN="+sys.dsn)
	svc, err := sys.launch(ctx, refPipelineName, cmd)
	if err != nil {
		return nil, err
	}
	r := &refPipelineProc{sys: sys, indexDir: indexDir, refClient: refClient{base: "http://" + addr, hc: &http.Client{Timeout: time.Minute}}}
	if !awaitListen(addr, 30*time.Second, svc.done) {
		r.close()
		return nil, fmt.Errorf("the reference pipeline did not start listening within 30 s; see %s", filepath.Join(sys.dir, refPipelineName+".log"))
	}
	return r, nil
}

// close stops the process (its consumer ends, its index closes) and removes
// the index; the table stays until the run's database is dropped.
func (r *refPipelineProc) close() {
	r.sys.stop(refPipelineName)
	_ = os.RemoveAll(r.indexDir)
}

// refClient reads a reference pipeline's stats routes; it is the pipeline
// the ramp sees of the reference.
type refClient struct {
	base string
	hc   *http.Client
}

func (c refClient) url() string { return c.base }

// progress reads GET /stats.
func (c refClient) progress(ctx context.Context) (pipelineProgress, error) {
	var s refStats
	if err := c.call(ctx, http.MethodGet, "/stats", &s); err != nil {
		return pipelineProgress{}, err
	}
	return pipelineProgress{persisted: s.Persisted, searchable: s.Searchable, failures: s.Failures}, nil
}

// lags takes the lags recorded since the last call (POST /stats/lags).
func (c refClient) lags(ctx context.Context) (stepLags, error) {
	var l stepLags
	err := c.call(ctx, http.MethodPost, "/stats/lags", &l)
	return l, err
}

// call sends one request to path and decodes its JSON answer into out.
func (c refClient) call(ctx context.Context, method, path string, out any) error {
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, nil)
	if err != nil {
		return err
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return fmt.Errorf("reference pipeline %s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("reference pipeline %s %s: status %d", method, path, resp.StatusCode)
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return fmt.Errorf("reference pipeline %s %s: %w", method, path, err)
	}
	return nil
}
