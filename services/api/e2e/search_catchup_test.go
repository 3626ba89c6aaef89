package e2e

import (
	"fmt"
	"net/http"
	"net/url"
	"os"
	"testing"
	"time"

	ic "github.com/instachat/instachat/client"
	"github.com/instachat/instachat/pkg/testenv"
)

// TestSearchCatchesUpAfterOutage runs the system on the Elasticsearch engine
// through a TCP proxy, cuts the search engine off during a load of messages,
// and checks that once it is back every message becomes searchable without
// manual action. It needs ELASTICSEARCH_URL (CI starts ZincSearch).
func TestSearchCatchesUpAfterOutage(t *testing.T) {
	raw := os.Getenv("ELASTICSEARCH_URL")
	if raw == "" {
		t.Skip("ELASTICSEARCH_URL is not set: this test needs a real Elasticsearch-compatible server")
	}
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	proxy := testenv.NewProxy(t, u.Host)
	u.Host = proxy.Addr()
	s := newSystemWith(t,
		"SEARCH_BACKEND=elasticsearch",
		"ELASTICSEARCH_URL="+u.String(),
		"ELASTICSEARCH_INDEX="+testenv.Name("ictest-e2e-"),
		"ELASTICSEARCH_ASCII_FOLDING="+fmt.Sprint(!testenv.IsZinc(t, raw)),
		"ELASTICSEARCH_TIMEOUT=2s",
	)
	app := s.newApp("catch-up")
	s.newChats(app, 1)
	post := func(from, to int) {
		t.Helper()
		for i := from; i < to; i++ {
			if _, err := app.PostMessage(t.Context(), 1, fmt.Sprintf("outage report %d", i)); err != nil {
				t.Fatalf("post %d: %v", i, err)
			}
		}
	}
	// searchTotal tries once: during the outage the test wants the 503.
	searchTotal := func() (int, int64) {
		l, err := app.Search(t.Context(), 1, "outage rep", 0, 0)
		if err != nil {
			return ic.StatusOf(err), -1
		}
		return http.StatusOK, l.Total
	}

	const before, during = 200, 800
	post(0, before)
	eventually(t, 60*time.Second, "first messages searchable", func() (bool, string) {
		st, n := searchTotal()
		return st == http.StatusOK && n == before, fmt.Sprintf("status %d total %d", st, n)
	})

	proxy.Cut()
	post(before, before+during)
	st, _ := searchTotal()
	if st != http.StatusServiceUnavailable {
		t.Errorf("search while the engine is cut off: got %d, want 503", st)
	}
	eventually(t, 60*time.Second, "messages persisted while search is down", func() (bool, string) {
		l, err := app.MessagesByPage(t.Context(), 1, 0, 1)
		return err == nil && l.Total == before+during, fmt.Sprintf("total %d, %v", l.Total, err)
	})
	// Kill the writer: the reindex calls it still holds in memory are lost,
	// so only the persisted outbox can make these messages searchable.
	s.kill("writer")
	s.start("writer", "HTTP_ADDR=127.0.0.1:"+freePort(t))

	proxy.Restore()
	start := time.Now()
	eventually(t, 120*time.Second, "every message searchable after the outage", func() (bool, string) {
		st, n := searchTotal()
		return st == http.StatusOK && n == before+during, fmt.Sprintf("status %d total %d", st, n)
	})
	_, n := searchTotal()
	t.Logf("search engine cut off for %d creates: %d of %d messages searchable %.1fs after it came back, with no manual action",
		during, n, before+during, time.Since(start).Seconds())
}
