package e2e

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// TestRateLimitOnTheBinary checks that the api binary limits application
// creates with its default settings (RATE_LIMIT=on, 10 a minute per client
// address): of 40 creates sent at once 10 are created, the others answer 429
// with Retry-After and the RateLimit-* headers, MySQL holds 10 applications,
// and /metrics counts the refusals. The router's side (writes, replicas,
// proxies, Redis down) is covered by the httpapi package's rate limit tests.
func TestRateLimitOnTheBinary(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end test: skipped with -short")
	}
	s := newSystemWith(t, "RATE_LIMIT=on") // the harness turns it off for the other suites
	const total = 40
	answers := make([]response, total)
	var wg sync.WaitGroup
	for i := range total {
		wg.Go(func() {
			req, _ := http.NewRequest(http.MethodPost, s.apiURL+"/api/v1/applications", strings.NewReader(fmt.Sprintf(`{"name": "flood %d"}`, i)))
			req.Header.Set("Content-Type", "application/json")
			res, err := client.Do(req)
			if err != nil {
				return // status 0, reported below
			}
			res.Body.Close()
			answers[i] = response{status: res.StatusCode, header: res.Header}
		})
	}
	wg.Wait()
	count := map[int]int{}
	for i, r := range answers {
		count[r.status]++
		h := r.header
		if r.status == 0 {
			continue
		}
		if h.Get("RateLimit-Limit") != "10" || h.Get("RateLimit-Policy") != "10;w=60" || h.Get("RateLimit-Remaining") == "" || h.Get("RateLimit-Reset") == "" {
			t.Errorf("create %d: %d with RateLimit-Limit %q, -Policy %q, -Remaining %q, -Reset %q; want 10, 10;w=60 and both set",
				i, r.status, h.Get("RateLimit-Limit"), h.Get("RateLimit-Policy"), h.Get("RateLimit-Remaining"), h.Get("RateLimit-Reset"))
		}
		if retry, err := strconv.Atoi(h.Get("Retry-After")); r.status == http.StatusTooManyRequests && (err != nil || retry < 1) {
			t.Errorf("create %d: 429 with Retry-After %q, want whole seconds, at least 1", i, h.Get("Retry-After"))
		}
	}
	t.Logf("%d creates at once: %v", total, count)
	if count[http.StatusCreated] != 10 || count[http.StatusTooManyRequests] != total-10 {
		t.Errorf("got %v, want 10 answered 201 and %d answered 429", count, total-10)
	}
	var rows int
	if err := s.sqlDB().QueryRow("SELECT COUNT(*) FROM applications").Scan(&rows); err != nil || rows != 10 {
		t.Errorf("applications in MySQL: got %d (%v), want 10", rows, err)
	}
	want := `instachat_rate_limited_total{limit="application_create"} ` + strconv.Itoa(total-10)
	if m := s.get("/metrics").raw; !strings.Contains(m, want+"\n") {
		t.Errorf("/metrics: want %q", want)
	}
}
