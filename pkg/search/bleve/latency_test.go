package bleve

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/instachat/instachat/pkg/search"
)

// TestSearchLatency measures search latency over an index shaped like the
// search benchmark's (services/bench -scenario search): 100 typical chats of
// 9,000 messages and one large chat of 100,000 at 1,000,000 messages, bodies
// of 5–30 words from a 5,000-word Zipf (s = 1.1) vocabulary, indexed through
// Engine.Index in batches of 1,000 as the api's rebuild does. It is skipped
// unless BLEVE_BENCH_MESSAGES is set:
//
//	BLEVE_BENCH_MESSAGES=1000000 nice -n 19 go test -run TestSearchLatency -v -timeout 2h ./search/bleve/
//
// The index is built once per layout (mapping version, partitions) and size
// and kept in BLEVE_BENCH_DIR (default /tmp/bleve-bench); delete it to build
// again. Per query kind and chat class it reports latency one query at a
// time (BLEVE_BENCH_QUERIES per cell, default 200), as wall time and as the
// CPU time of the searching thread (which a busy machine does not inflate),
// then open loop at BLEVE_BENCH_RATE searches/s (default 200) for
// BLEVE_BENCH_SECONDS (default 20), latency counted from the scheduled start
// as the benchmark's load generator does. Add -cpuprofile to see where a
// search's time goes.
func TestSearchLatency(t *testing.T) {
	total := envInt(t, "BLEVE_BENCH_MESSAGES", 0)
	if total == 0 {
		t.Skip("set BLEVE_BENCH_MESSAGES (e.g. 1000000) to measure search latency")
	}
	root := os.Getenv("BLEVE_BENCH_DIR")
	if root == "" {
		root = filepath.Join(os.TempDir(), "bleve-bench")
	}
	perCell := envInt(t, "BLEVE_BENCH_QUERIES", 200)
	rate := envInt(t, "BLEVE_BENCH_RATE", 200)
	seconds := envInt(t, "BLEVE_BENCH_SECONDS", 20)

	shape := newCorpusShape(total)
	e := openCorpus(t, root, shape)
	gen := newLatencyQueries(shape, 7)

	ctx := context.Background()
	// Warm up as the benchmark does: its one-at-a-time phase also warms.
	for range 200 {
		q, _ := gen.next()
		if _, err := e.Search(ctx, q); err != nil {
			t.Fatalf("Search(%+v): %v", q, err)
		}
	}

	// One at a time, on one OS thread so its CPU time is the query's own:
	// on a shared machine wall time also counts waiting for a core.
	alone, cpu := newLatencyTable(), newLatencyTable()
	runtime.LockOSThread()
	for _, class := range []string{"typical", "large"} {
		for _, kind := range benchKinds {
			for range perCell {
				q := gen.query(class == "large", kind.name)
				start, cpu0 := time.Now(), threadCPU(t)
				r, err := e.Search(ctx, q)
				if err != nil {
					t.Fatalf("Search(%+v): %v", q, err)
				}
				alone.add(class, kind.name, time.Since(start), r.Total)
				cpu.add(class, kind.name, threadCPU(t)-cpu0, r.Total)
			}
		}
	}
	runtime.UnlockOSThread()
	t.Logf("one query at a time, %d per cell, wall time:\n%s", perCell, alone)
	t.Logf("one query at a time, CPU time of the searching thread:\n%s", cpu)

	loaded := newLatencyTable()
	runOpenLoop(ctx, t, e, gen, rate, time.Duration(seconds)*time.Second, loaded)
	t.Logf("open loop at %d searches/s for %ds:\n%s", rate, seconds, loaded)
}

// envInt reads a non-negative integer from the environment, def when unset.
func envInt(t *testing.T, name string, def int) int {
	t.Helper()
	s := os.Getenv(name)
	if s == "" {
		return def
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 {
		t.Fatalf("%s=%q: want a non-negative integer", name, s)
	}
	return n
}

// runOpenLoop sends the query mix at rate per second for d, each search in
// its own goroutine, and records latencies from the scheduled start.
func runOpenLoop(ctx context.Context, t *testing.T, e search.Engine, gen *latencyQueries, rate int, d time.Duration, into *latencyTable) {
	t.Helper()
	n := int(d.Seconds() * float64(rate))
	interval := time.Second / time.Duration(rate)
	start := time.Now()
	var wg sync.WaitGroup
	for i := range n {
		q, class := gen.next()
		kind := gen.lastKind
		at := start.Add(time.Duration(i) * interval)
		time.Sleep(time.Until(at))
		wg.Go(func() {
			r, err := e.Search(ctx, q)
			if err != nil {
				t.Errorf("Search(%+v): %v", q, err)
				return
			}
			into.add(class, kind, time.Since(at), r.Total)
		})
	}
	wg.Wait()
}

// corpusShape is the benchmark's stored history: typical chats in four
// applications and one large chat in a fifth, interleaved in time.
type corpusShape struct {
	total     int
	apps      int   // applications of typical chats
	chats     int   // typical chats per application
	largeApp  int64 // application of the large chat (chat 1)
	largeMsgs int
}

func newCorpusShape(total int) corpusShape {
	return corpusShape{total: total, apps: 4, chats: 25, largeApp: 5, largeMsgs: total / 10}
}

func (s corpusShape) typical() int { return s.apps * s.chats }

// openCorpus opens the cached index of shape below root, building it first
// when it is missing or unfinished.
func openCorpus(t *testing.T, root string, shape corpusShape) *Engine {
	t.Helper()
	dir := filepath.Join(root, fmt.Sprintf("m%d-v%d-p%d", shape.total, MappingVersion, partitions))
	done := dir + ".complete"
	if _, err := os.Stat(done); err != nil {
		if err := os.RemoveAll(dir); err != nil {
			t.Fatal(err)
		}
	}
	e, err := Open(Config{Path: dir})
	if err != nil {
		t.Fatalf("Open(%s): %v", dir, err)
	}
	t.Cleanup(func() { _ = e.Close() })
	if _, err := os.Stat(done); err == nil && !e.Fresh() {
		return e
	}
	start := time.Now()
	buildCorpus(t, e, shape)
	took := time.Since(start)
	t.Logf("built %d messages in %v: %.0f docs/s", shape.total, took.Round(time.Millisecond), float64(shape.total)/took.Seconds())
	if err := os.WriteFile(done, []byte(took.String()+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return e
}

// buildCorpus indexes the corpus in batches of 1,000 in message id order:
// the large chat takes every tenth message, the typical chats the others in
// turn, as services/bench seeds them.
func buildCorpus(t *testing.T, e *Engine, shape corpusShape) {
	t.Helper()
	text := newBenchText(1)
	counts := make([]int64, shape.typical()+1)
	share := float64(shape.largeMsgs) / float64(shape.total)
	next := 0
	batch := make([]search.Doc, 0, 1000)
	for i := range shape.total {
		var d search.Doc
		if int(float64(i+1)*share) > int(float64(i)*share) {
			counts[shape.typical()]++
			d = search.Doc{AppID: shape.largeApp, Chat: 1, Number: counts[shape.typical()]}
		} else {
			c := next % shape.typical()
			next++
			counts[c]++
			d = search.Doc{AppID: int64(c/shape.chats + 1), Chat: int64(c%shape.chats + 1), Number: counts[c]}
		}
		d.Version, d.Body = 1, text.message()
		batch = append(batch, d)
		if len(batch) == cap(batch) || i == shape.total-1 {
			if err := e.Index(context.Background(), batch); err != nil {
				t.Fatalf("Index: %v", err)
			}
			batch = batch[:0]
		}
		if (i+1)%100_000 == 0 {
			t.Logf("indexed %d", i+1)
		}
	}
}

// benchText writes bodies as services/bench does: words of 1–4 syllables,
// Zipf (s = 1.1) over 5,000 words, 5–30 words a message.
type benchText struct {
	vocab []string
	zipf  *rand.Zipf
	r     *rand.Rand
}

var benchSyllables = []string{"ka", "lo", "mi", "ter", "san", "vo", "ri", "del", "un", "pa", "sho", "gen", "ta", "ble", "or", "qui"}

func newBenchText(seed uint64) *benchText {
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	const n = 5000
	vocab := make([]string, 0, n)
	seen := make(map[string]bool, n)
	for len(vocab) < n {
		var b strings.Builder
		for k := 1 + r.IntN(4); k > 0; k-- {
			b.WriteString(benchSyllables[r.IntN(len(benchSyllables))])
		}
		if w := b.String(); !seen[w] {
			seen[w] = true
			vocab = append(vocab, w)
		}
	}
	return &benchText{vocab: vocab, zipf: rand.NewZipf(r, 1.1, 1, n-1), r: r}
}

func (g *benchText) message() string {
	words := make([]string, 5+g.r.IntN(26))
	for i := range words {
		words[i] = g.vocab[g.zipf.Uint64()]
	}
	return strings.Join(words, " ")
}

// benchKinds is the benchmark's query mix (services/bench/queries.go).
var benchKinds = []struct {
	name   string
	weight int
}{{"word", 35}, {"rare word", 15}, {"prefix", 25}, {"infix", 5}, {"two words", 20}}

// latencyQueries draws queries as services/bench does, over the bodies'
// vocabulary with its own random stream.
type latencyQueries struct {
	shape    corpusShape
	vocab    []string
	zipf     *rand.Zipf
	r        *rand.Rand
	lastKind string
}

func newLatencyQueries(shape corpusShape, seed uint64) *latencyQueries {
	vocab := newBenchText(1).vocab
	r := rand.New(rand.NewPCG(seed, seed^0x5851f42d4c957f2d))
	return &latencyQueries{shape: shape, vocab: vocab, zipf: rand.NewZipf(r, 1.1, 1, uint64(len(vocab)-1)), r: r}
}

// next draws a query of the mix: a kind by weight, the large chat one time
// in five. It returns the query and its chat class.
func (g *latencyQueries) next() (search.Query, string) {
	x := g.r.IntN(100)
	kind := benchKinds[len(benchKinds)-1].name
	for _, k := range benchKinds {
		if x < k.weight {
			kind = k.name
			break
		}
		x -= k.weight
	}
	g.lastKind = kind
	large := g.r.Float64() < 0.2
	class := "typical"
	if large {
		class = "large"
	}
	return g.query(large, kind), class
}

// query draws one query of kind at the large chat or a random typical one.
func (g *latencyQueries) query(large bool, kind string) search.Query {
	q := search.Query{AppID: g.shape.largeApp, Chat: 1, Text: g.text(kind), Limit: 20}
	if !large {
		c := g.r.IntN(g.shape.typical())
		q.AppID, q.Chat = int64(c/g.shape.chats+1), int64(c%g.shape.chats+1)
	}
	return q
}

func (g *latencyQueries) frequent() string { return g.vocab[g.zipf.Uint64()] }

func (g *latencyQueries) longer(n int) string {
	for {
		if w := g.frequent(); len(w) >= n {
			return w
		}
	}
}

func (g *latencyQueries) text(kind string) string {
	switch kind {
	case "rare word":
		tail := len(g.vocab) / 5
		return g.vocab[tail+g.r.IntN(len(g.vocab)-tail)]
	case "prefix":
		w := g.longer(4)
		return w[:min(3+g.r.IntN(3), len(w)-1)]
	case "infix":
		w := g.longer(5)
		start := 1 + g.r.IntN(len(w)-3)
		n := min(3+g.r.IntN(3), len(w)-start)
		return w[start : start+n]
	case "two words":
		a := g.frequent()
		for {
			if b := g.frequent(); b != a {
				return a + " " + b
			}
		}
	}
	return g.frequent()
}

// latencyTable collects latencies per chat class and query kind.
type latencyTable struct {
	mu    sync.Mutex
	cells map[string][]time.Duration
	hits  map[string]int64
}

func newLatencyTable() *latencyTable {
	return &latencyTable{cells: map[string][]time.Duration{}, hits: map[string]int64{}}
}

func (l *latencyTable) add(class, kind string, d time.Duration, total int64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, k := range []string{class + "\t" + kind, class + "\tall"} {
		l.cells[k] = append(l.cells[k], d)
		l.hits[k] += total
	}
}

// String renders the table: one row per class and kind, then per class.
func (l *latencyTable) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var b strings.Builder
	fmt.Fprintf(&b, "| chat | kind | n | mean ms | p50 ms | p90 ms | p99 ms | max ms | mean hits |\n|---|---|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, class := range []string{"typical", "large"} {
		for _, kind := range []string{"word", "rare word", "prefix", "infix", "two words", "all"} {
			k := class + "\t" + kind
			v := slices.Clone(l.cells[k])
			if len(v) == 0 {
				continue
			}
			slices.Sort(v)
			var sum time.Duration
			for _, d := range v {
				sum += d
			}
			fmt.Fprintf(&b, "| %s | %s | %d | %.2f | %.2f | %.2f | %.2f | %.2f | %.0f |\n", class, kind, len(v), ms(sum/time.Duration(len(v))),
				ms(pct(v, 0.5)), ms(pct(v, 0.9)), ms(pct(v, 0.99)), ms(v[len(v)-1]), float64(l.hits[k])/float64(len(v)))
		}
	}
	return b.String()
}

// pct is the q-quantile of sorted v (nearest rank).
func pct(v []time.Duration, q float64) time.Duration {
	i := int(math.Ceil(q*float64(len(v)))) - 1
	return v[max(i, 0)]
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// TestIndexCost measures the CPU that indexing costs, background merges
// included: it indexes the first BLEVE_BENCH_INDEX messages of the corpus
// into a new index, waits until the process is idle, and reports CPU
// seconds per message. Skipped unless BLEVE_BENCH_INDEX is set.
func TestIndexCost(t *testing.T) {
	n := envInt(t, "BLEVE_BENCH_INDEX", 0)
	if n == 0 {
		t.Skip("set BLEVE_BENCH_INDEX (e.g. 200000) to measure indexing cost")
	}
	e := openTemp(t, Config{Path: t.TempDir()})
	shape := newCorpusShape(n)
	cpu0, wall0 := processCPU(t), time.Now()
	buildCorpus(t, e, shape)
	cpu1, wall1 := processCPU(t), time.Now()
	// Wait for background merges: until a second passes with < 20 ms of CPU.
	for prev := cpu1; ; {
		time.Sleep(time.Second)
		now := processCPU(t)
		if now-prev < 20*time.Millisecond {
			break
		}
		prev = now
	}
	cpu2 := processCPU(t)
	t.Logf("mapping version %d, %d partitions: %d messages: Index calls %v wall, %v CPU; with merges %v CPU: %.0f µs CPU per message",
		MappingVersion, partitions, n, wall1.Sub(wall0).Round(time.Millisecond), (cpu1 - cpu0).Round(time.Millisecond),
		(cpu2 - cpu0).Round(time.Millisecond), float64((cpu2-cpu0).Microseconds())/float64(n))
}

// processCPU is the CPU time (user + system) the process has used.
func processCPU(t *testing.T) time.Duration {
	t.Helper()
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		t.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
