package e2e

import (
	"fmt"
	"net/http"
	"net/url"
	"os"
	"testing"
	"time"

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
	app := s.postJSON("/api/v1/applications", map[string]string{"name": "catch-up"})
	token, _ := app.body["token"].(string)
	base := "/api/v1/applications/" + token
	if c := s.do(http.MethodPost, base+"/chats", "", ""); c.status != http.StatusCreated {
		t.Fatalf("create chat: got %d %s", c.status, c.raw)
	}
	post := func(from, to int) {
		t.Helper()
		for i := from; i < to; i++ {
			r := s.postJSON(base+"/chats/1/messages", map[string]string{"body": fmt.Sprintf("outage report %d", i)})
			if r.status != http.StatusCreated {
				t.Fatalf("post %d: got %d %s", i, r.status, r.raw)
			}
		}
	}
	searchTotal := func() (int, int64) {
		r := s.get(base + "/chats/1/messages/search?q=outage+rep")
		if r.status != http.StatusOK {
			return r.status, -1
		}
		return r.status, num(t, r, "total")
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
		r := s.get(base + "/chats/1/messages?per_page=1")
		return r.status == http.StatusOK && num(t, r, "total") == before+during, r.raw
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
