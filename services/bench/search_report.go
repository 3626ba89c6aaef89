package main

import (
	"fmt"
	"io"
	"runtime"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotutil"
)

// searchMarkdown writes the search scenario's sections.
func (r *report) searchMarkdown(w io.Writer) {
	s := r.search
	if s == nil || s.load == nil {
		return
	}
	r.storedHistoryMarkdown(w)
	r.searchLatencyMarkdown(w)
	r.searchAnswersMarkdown(w)
}

// storedHistoryMarkdown describes the seeded messages, the index rebuild
// from them and the index it left.
func (r *report) storedHistoryMarkdown(w io.Writer) {
	s := r.search
	lo, hi, stored := int64(-1), int64(0), int64(0)
	for _, c := range s.typical {
		if lo < 0 || c.count < lo {
			lo = c.count
		}
		hi = max(hi, c.count)
		stored += c.count
	}
	perChat := thousands(lo)
	if hi != lo {
		perChat = thousands(lo) + "–" + thousands(hi)
	}
	fmt.Fprintf(w, "## Stored history: %s messages\n\n| figure | value |\n|---|---:|\n", thousands(stored+largeCount(s)))
	fmt.Fprintf(w, "| typical chats | %d (%d applications × %d), %s messages each |\n", len(s.typical), r.cfg.apps, r.cfg.chats, perChat)
	if len(s.large) > 0 {
		fmt.Fprintf(w, "| large chat | 1 (its own application), %s messages |\n", thousands(largeCount(s)))
	}
	fmt.Fprintf(w, "| seeding (multi-row INSERT, %s rows per statement, %d connections; counters; ANALYZE TABLE) | %.1f s (%s rows/s) |\n",
		thousands(seedRowsPerStatement), seedConns, s.seedTime.Seconds(), thousands(int64(float64(stored+largeCount(s))/s.seedTime.Seconds())))
	fmt.Fprintf(w, "| index rebuild (`bin/api rebuild -restart`, from MySQL) | %.1f s, **%s docs/s** |\n",
		s.rebuildTime.Seconds(), thousands(int64(float64(s.rebuildDocs)/s.rebuildTime.Seconds())))
	fmt.Fprintf(w, "| rebuild process: peak RSS, CPU | %.0f MiB, %.0f s |\n", float64(s.rebuildUsage.PeakRSS)/(1<<20), s.rebuildUsage.CPUSeconds)
	perMsg := 0.0
	if s.rebuildDocs > 0 {
		perMsg = float64(s.indexBytes) / float64(s.rebuildDocs)
	}
	fmt.Fprintf(w, "| index size on disk | %.1f MiB (%.0f bytes per message), %d segments |\n", float64(s.indexBytes)/(1<<20), perMsg, s.indexSegments)
	fmt.Fprintf(w, "| api start-up on that index (to /readyz) | %.2f s |\n", s.apiStartup.Seconds())
	fmt.Fprintf(w, "\nApplications and chats are created through the api (the writer persists them). Messages go straight "+
		"into MySQL, rows as the writer writes a `message.create` (every NOT NULL column, provenance, lock_version 0); "+
		"bodies of 5–30 words from a %d-word vocabulary with Zipf (s = 1.1) frequencies. Each chat's Redis message "+
		"counter and `messages_count` are set to its messages, and the api is checked to read each chat's count, its last "+
		"message and a 404 past it. Not written: journal entries (history, not read by search) and search outbox rows "+
		"(the rebuild indexes every message). The seed ends with `ANALYZE TABLE messages, chats`: with the statistics "+
		"a bulk load leaves behind, MariaDB ran each page of the rebuild (pkg/store IndexPage) as chats first, then a temporary table and "+
		"a sort of every message — about a minute per 1,000 messages at 1,000,000.\n\n", searchVocabulary)
}

// searchLatencyMarkdown writes the latencies one query at a time and under
// the open-loop load, and whether the p99 target was met.
func (r *report) searchLatencyMarkdown(w io.Writer) {
	s := r.search
	if s.serial != nil {
		fmt.Fprintf(w, "## Search latency one query at a time (nothing queued: the cost of a query)\n\n")
		writeLatencyTable(w, classRows(s.serial.rec, len(s.large) > 0))
		fmt.Fprintf(w, "\n%d queries sent one after another (at most %v), before the load; they also warm the caches.\n\n", searchSerial, searchSerialMax)
	}
	fmt.Fprintf(w, "## Search latency at %.0f req/s for %v (open loop)\n\n", r.cfg.rate, r.cfg.duration)
	rows := classRows(s.load.rec, len(s.large) > 0)
	writeLatencyTable(w, rows)
	if done := rows[len(rows)-1]; done.Rate < 0.95*r.cfg.rate {
		fmt.Fprintf(w, "\n**Saturated:** %.0f searches/s offered, %.0f/s completed; requests waited for one of the %d in-flight slots "+
			"(latency counts from the scheduled send time), so the phase ran %.0f s instead of %v and these figures are queueing. "+
			"The cost of one query is in the table above.\n", r.cfg.rate, done.Rate, r.cfg.maxInFlight, s.loadSec, r.cfg.duration)
	}
	fmt.Fprintf(w, "\n**Target search p99 ≤ %v:**", r.cfg.p99Limit)
	for i, row := range rows[:min(2, len(rows))] {
		if i > 0 {
			fmt.Fprint(w, ",")
		}
		verdict := "met"
		if row.P99 > r.cfg.p99Limit {
			verdict = "missed"
		}
		fmt.Fprintf(w, " %s %s ms (%s)", strings.TrimPrefix(row.Name, "search, "), ms(row.P99), verdict)
	}
	fmt.Fprintln(w, ".")
}

// searchAnswersMarkdown writes what the answers held by query kind, the
// query mix and the api's CPU and memory during the load.
func (r *report) searchAnswersMarkdown(w io.Writer) {
	s := r.search
	fmt.Fprintln(w, "\n## Answers by query kind")
	fmt.Fprintln(w, "\n| chat | kind | requests | p50 ms | p99 ms | max ms | alone: p50 ms | alone: max ms | mean hits | answers with 0 hits |\n|---|---|---:|---:|---:|---:|---:|---:|---:|---:|")
	for _, st := range s.load.stats {
		class, kind, _ := strings.Cut(st.Name, " ")
		t := s.tallies[st.Name]
		if t == nil {
			t = &hitTally{}
		}
		alone50, aloneMax := "–", "–"
		if s.serial != nil {
			if a := findStats(s.serial.stats, st.Name); a.Count > 0 {
				alone50, aloneMax = ms(a.P50), ms(a.Max)
			}
		}
		fmt.Fprintf(w, "| %s | %s | %d | %s | %s | %s | %s | %s | %s | %s |\n", class, kind, st.Count, ms(st.P50), ms(st.P99), ms(st.Max),
			alone50, aloneMax, meanHits(t), share(t.zero.Load(), t.answered.Load()))
	}
	all := s.total("")
	fmt.Fprintf(w, "\nMean hits (the answer's `total`) per query: **%s** (typical chats %s", meanHits(all), meanHits(s.total("typical ")))
	if len(s.large) > 0 {
		fmt.Fprintf(w, ", large chat %s", meanHits(s.total("large ")))
	}
	fmt.Fprintf(w, "). Every returned message (%s on the first pages, 20 per page) was checked to contain each query word "+
		"at the start of one of its words: %d did not.\n\n", thousands(all.returned.Load()), all.wrong.Load())
	fmt.Fprintf(w, "Queries (%.0f %% aimed at the large chat, the rest at a typical chat uniformly):\n\n", 100*largeQueryShare)
	for _, k := range queryKinds {
		fmt.Fprintf(w, "- **%s** (%d %%): %s\n", k.name, k.weight, k.about)
	}
	pct := 0.0
	if s.loadSec > 0 {
		pct = 100 * s.apiCPU / s.loadSec
	}
	fmt.Fprintf(w, "\napi during the measured phase: %.1f CPU s over %.0f s (**%.0f %% of one core**), peak RSS since its start on the index **%.0f MiB**.\n",
		s.apiCPU, s.loadSec, pct, float64(s.apiPeakRSS)/(1<<20))
	if s.loadAvg[0] != "" {
		fmt.Fprintf(w, "Machine load average (1 min, %d CPUs): %s before the measured phase, %s after it.\n", runtime.NumCPU(), s.loadAvg[0], s.loadAvg[1])
	}
}

// classRows is one latency row per chat class, and one for all when there
// is a large chat.
func classRows(rec *recorder, hasLarge bool) []endpointStats {
	rows := []endpointStats{rec.group("search, typical chats", prefixed("typical "))}
	if hasLarge {
		rows = append(rows, rec.group("search, large chat", prefixed("large ")), rec.group("search, all", prefixed("")))
	}
	return rows
}

func largeCount(s *searchResult) int64 {
	var n int64
	for _, c := range s.large {
		n += c.count
	}
	return n
}

func prefixed(p string) func(string) bool {
	return func(name string) bool { return strings.HasPrefix(name, p) }
}

func meanHits(t *hitTally) string {
	if t.answered.Load() == 0 {
		return "–"
	}
	return fmt.Sprintf("%.1f", float64(t.hits.Load())/float64(t.answered.Load()))
}

func share(n, of int64) string {
	if of == 0 {
		return "–"
	}
	return fmt.Sprintf("%.1f %%", 100*float64(n)/float64(of))
}

// thousands formats n with thin separators: 1,000,000.
func thousands(n int64) string {
	s := fmt.Sprint(n)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

// searchChart plots search p99 per second for each chat class.
func (r *report) searchChart() (*plot.Plot, error) {
	p := newChart("search p99 per second, from the scheduled send time", "seconds into the run", "p99 latency (ms)")
	lines := []any{"typical chats", xy(r.search.load.rec.groupSeries(prefixed("typical ")))}
	if len(r.search.large) > 0 {
		lines = append(lines, "large chat", xy(r.search.load.rec.groupSeries(prefixed("large "))))
	}
	if err := plotutil.AddLines(p, lines...); err != nil {
		return nil, err
	}
	return p, nil
}
