package main

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io/fs"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	blevesearch "github.com/blevesearch/bleve/v2"
	"github.com/blevesearch/bleve/v2/analysis"
	"github.com/blevesearch/bleve/v2/search/query"
	_ "github.com/go-sql-driver/mysql"

	ourbleve "github.com/instachat/instachat/pkg/search/bleve"
	"github.com/instachat/instachat/pkg/testenv"
)

// TestRefMappingMatchesOurs opens an index the way the api does and compares
// the mapping it stored, and what its analyzers make of a text, with the
// reference's.
func TestRefMappingMatchesOurs(t *testing.T) {
	dir := t.TempDir()
	e, err := ourbleve.Open(ourbleve.Config{Path: dir})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	idx, err := blevesearch.Open(firstIndexDir(t, dir))
	if err != nil {
		t.Fatal(err)
	}
	defer idx.Close()
	ref, err := ourbleve.NewMapping() // what the reference pipeline indexes with
	if err != nil {
		t.Fatal(err)
	}
	ours, _ := json.Marshal(idx.Mapping())
	got, _ := json.Marshal(ref)
	if !bytes.Equal(got, ours) {
		t.Errorf("reference mapping differs from ours:\ngot  %s\nwant %s", got, ours)
	}
	const text = "Café RÉSUMÉ naïve-über 42x Straße 日本語 supercalifragilisticexpialidocious"
	for _, name := range []string{"body_index", "body_query"} {
		a, b := idx.Mapping().AnalyzerNamed(name), ref.AnalyzerNamed(name)
		if a == nil || b == nil {
			t.Fatalf("analyzer %s: ours %v, reference %v", name, a != nil, b != nil)
		}
		if got, want := terms(b.Analyze([]byte(text))), terms(a.Analyze([]byte(text))); got != want {
			t.Errorf("%s: got terms %s, want %s", name, got, want)
		}
	}
}

// firstIndexDir is the first directory below root holding a bleve index:
// root/v<version> while our index is one, root/v<version>/<shard> once it is
// sharded; every shard is created with the same mapping.
func firstIndexDir(t *testing.T, root string) string {
	t.Helper()
	var found string
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil || found != "" {
			return err
		}
		if !d.IsDir() && d.Name() == "index_meta.json" {
			found = filepath.Dir(path)
			return filepath.SkipAll
		}
		return nil
	})
	if err != nil || found == "" {
		t.Fatalf("no bleve index below %s (%v)", root, err)
	}
	return found
}

// terms lists a token stream's terms and positions.
func terms(ts analysis.TokenStream) string {
	var b strings.Builder
	for _, tok := range ts {
		fmt.Fprintf(&b, "%s@%d ", tok.Term, tok.Position)
	}
	return b.String()
}

func TestRefJobRoundTrip(t *testing.T) {
	at := time.UnixMicro(1_700_000_000_123_456)
	tests := []struct{ token, chat, body string }{
		{"tok", "7", "hello world"},
		{"a-b_c", "123456789", "a body\x1fwith the separator"},
		{"t", "1", "é ü 日本"},
	}
	for _, tt := range tests {
		s := refJobHead(at, tt.token, tt.chat) + "42\x1f" + tt.body // what the enqueue script writes
		j, err := parseRefJob(s)
		if err != nil {
			t.Fatalf("parse %q: %v", s, err)
		}
		want := refJob{accepted: at, token: tt.token, chat: mustInt(t, tt.chat), number: 42, body: tt.body}
		if j != want {
			t.Errorf("parse %q: got %+v, want %+v", s, j, want)
		}
	}
	for _, bad := range []string{"", "1\x1ft\x1f2\x1f3", "x\x1ft\x1f2\x1f3\x1fbody", "1\x1ft\x1f2\x1fn\x1fbody"} {
		if _, err := parseRefJob(bad); err == nil {
			t.Errorf("parse %q: got no error, want one", bad)
		}
	}
}

func mustInt(t *testing.T, s string) int64 {
	t.Helper()
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestRefInsert(t *testing.T) {
	now := time.Now()
	for _, n := range []int{1, 2, 500} {
		jobs := make([]refJob, n)
		for i := range jobs {
			jobs[i] = refJob{accepted: now, token: "t", chat: 1, number: int64(i + 1), body: "b"}
		}
		q, args := refInsert("INSERT INTO x VALUES ", jobs, now)
		if got := strings.Count(q, "(?, ?, ?, ?, ?, ?)"); got != n {
			t.Errorf("%d jobs: got %d row tuples, want %d", n, got, n)
		}
		if got := strings.Count(q, "?"); got != len(args) || len(args) != 6*n {
			t.Errorf("%d jobs: got %d placeholders and %d args, want %d of each", n, got, len(args), 6*n)
		}
		if args[2] != int64(1) || args[len(args)-4] != int64(n) {
			t.Errorf("%d jobs: got numbers %v … %v, want 1 … %d", n, args[2], args[len(args)-4], n)
		}
	}
}

func TestPipelineText(t *testing.T) {
	g := newTextGenSpec(1, pipelineText)
	if len(g.vocab) != 20000 {
		t.Fatalf("got a vocabulary of %d words, want 20000", len(g.vocab))
	}
	counts := map[string]int{}
	minW, maxW := 100, 0
	for range 20000 {
		words := strings.Fields(g.message())
		minW, maxW = min(minW, len(words)), max(maxW, len(words))
		for _, w := range words {
			counts[w]++
		}
	}
	if minW != 4 || maxW != 19 {
		t.Errorf("got %d–%d words a message, want 4–19", minW, maxW)
	}
	// Zipf with s = 1.07 over 20,000 words: the top word is about 1/H of
	// the draws (H ≈ 8.3 here), and rank 1 is drawn about 2^1.07 ≈ 2.1
	// times as often as rank 2.
	top, second := counts[g.vocab[0]], counts[g.vocab[1]]
	total := 0
	for _, c := range counts {
		total += c
	}
	if share := float64(top) / float64(total); share < 0.09 || share > 0.15 {
		t.Errorf("got the top word in %.3f of the draws, want about 0.12", share)
	}
	if r := float64(top) / float64(second); r < 1.8 || r > 2.5 {
		t.Errorf("got rank 1 / rank 2 = %.2f, want about 2.1", r)
	}
	if a, b := newTextGenSpec(7, pipelineText).message(), newTextGenSpec(7, pipelineText).message(); a != b {
		t.Errorf("same seed: got %q and %q, want equal", a, b)
	}
}

// newTestRefPipeline makes a pipeline on a fresh database and key prefix.
func newTestRefPipeline(t *testing.T) *refPipeline {
	t.Helper()
	db, err := sql.Open("mysql", testenv.MySQLDSN(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	rdb, prefix := testenv.Redis(t)
	p, err := newRefPipeline(context.Background(), refPipelineConfig{db: db, rdb: rdb, prefix: prefix, indexPath: filepath.Join(t.TempDir(), "ref")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.close() })
	return p
}

// TestRefBatches queues more than a batch and checks that one step takes
// exactly refBatch jobs, oldest first, and that the rest follow.
func TestRefBatches(t *testing.T) {
	if testing.Short() {
		t.Skip("needs MariaDB and Redis")
	}
	p := newTestRefPipeline(t)
	ctx := context.Background()
	const n = 1200
	for i := 1; i <= n; i++ {
		if err := refEnqueue.Run(ctx, p.cfg.rdb, []string{p.ctr + "t:1", p.queue}, refJobHead(time.Now(), "t", "1"), "m"+strconv.Itoa(i)).Err(); err != nil {
			t.Fatal(err)
		}
	}
	var sizes []int
	for {
		k, err := p.step(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if k == 0 {
			break
		}
		sizes = append(sizes, k)
	}
	if fmt.Sprint(sizes) != "[500 500 200]" {
		t.Errorf("got batches %v, want [500 500 200]", sizes)
	}
	var lo, hi int64
	if err := p.cfg.db.QueryRow("SELECT MIN(number), MAX(number) FROM ref_messages WHERE number <= 500 AND body = CONCAT('m', number)").Scan(&lo, &hi); err != nil || lo != 1 || hi != 500 {
		t.Errorf("first batch: got numbers %d–%d (%v), want 1–500", lo, hi, err)
	}
}

// TestRefPipelineSmoke pushes 1,000 messages through the handler and waits
// until MySQL holds them all and the index finds them.
func TestRefPipelineSmoke(t *testing.T) {
	if testing.Short() {
		t.Skip("needs MariaDB and Redis")
	}
	p := newTestRefPipeline(t)
	addr, err := freeAddr()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- serveRefPipeline(ctx, p, addr, nil) }()
	t.Cleanup(func() {
		cancel()
		if err := <-served; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	waitListening(t, addr)

	const n, chats, senders = 1000, 10, 16
	gen := newTextGenSpec(3, pipelineText)
	bodies := make([]string, n)
	for i := range bodies {
		bodies[i] = gen.message()
	}
	var wg sync.WaitGroup
	errs := make(chan error, senders)
	for s := range senders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := s; i < n; i += senders {
				url := fmt.Sprintf("http://%s/api/v1/applications/tok/chats/%d/messages", addr, 1+i%chats)
				body, _ := json.Marshal(map[string]string{"body": bodies[i]})
				resp, err := http.Post(url, "application/json", bytes.NewReader(body))
				if err != nil {
					errs <- err
					return
				}
				resp.Body.Close()
				if resp.StatusCode != http.StatusCreated {
					errs <- fmt.Errorf("create %d: got status %d, want 201", i, resp.StatusCode)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if took, ok := p.waitCaughtUp(ctx, n, 20*time.Second); !ok {
		db, idx, err := p.counts(ctx)
		t.Fatalf("after %v: got %d persisted and %d indexed (%v), want %d of each", took, db, idx, err, n)
	}
	var rows, distinct int64
	if err := p.cfg.db.QueryRow("SELECT COUNT(*), COUNT(DISTINCT app_token, chat_number, number) FROM ref_messages").Scan(&rows, &distinct); err != nil {
		t.Fatal(err)
	}
	if rows != n || distinct != n {
		t.Errorf("got %d rows, %d distinct numbers, want %d of each", rows, distinct, n)
	}
	// A prefix of the first message's first word finds it in its chat.
	word := strings.Fields(bodies[0])[0]
	q := blevesearch.NewConjunctionQuery(refTerm("scope", "tok:1"), refTerm("body", strings.ToLower(word[:min(3, len(word))])))
	res, err := p.idx.Search(blevesearch.NewSearchRequestOptions(q, 1000, 0, false))
	if err != nil {
		t.Fatal(err)
	}
	if res.Total == 0 {
		t.Errorf("search %q in chat 1: got no hits, want at least one", word[:min(3, len(word))])
	}
	// The index finds a batch a moment before its lags are recorded.
	for deadline := time.Now().Add(5 * time.Second); p.indexed.Load() < n && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
	}
	lags := p.takeLags()
	if got := lags.searchable.TotalCount(); got != n {
		t.Errorf("got %d searchable lags, want %d", got, n)
	}
	if p.failures.Load() != 0 {
		t.Errorf("got %d consumer failures, want 0", p.failures.Load())
	}
}

func refTerm(field, term string) query.Query {
	q := blevesearch.NewTermQuery(term)
	q.SetField(field)
	return q
}

func waitListening(t *testing.T, addr string) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if resp, err := http.Get("http://" + addr + "/"); err == nil {
			resp.Body.Close()
			return
		}
	}
	t.Fatalf("%s is not listening", addr)
}
