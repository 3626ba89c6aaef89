package e2e

import (
	"io"
	"net/http"
	"strings"
	"testing"
)

// TestHeaderLimitAndMethodLabelsOnTheBinary checks what only the api binary
// can show, as main wires its http.Server: request lines and headers beyond
// about 16 KiB get 431 before any handler runs, and made-up methods reach
// /metrics as "other". The router's side of every hostile input is covered by
// the httpapi package's TestHostileInput.
func TestHeaderLimitAndMethodLabelsOnTheBinary(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end test: skipped with -short")
	}
	s := newSystem(t)
	send := func(method string, header map[string]string) int {
		t.Helper()
		req, err := http.NewRequestWithContext(t.Context(), method, s.apiURL+"/healthz", nil)
		if err != nil {
			t.Fatal(err)
		}
		for k, v := range header {
			req.Header.Set(k, v)
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("%.20s /healthz: %v", method, err)
		}
		defer res.Body.Close()
		_, _ = io.Copy(io.Discard, res.Body)
		return res.StatusCode
	}
	if got := send("GET", map[string]string{"X-Padding": strings.Repeat("p", 12<<10)}); got != http.StatusOK {
		t.Errorf("12 KiB of headers: got %d, want 200", got)
	}
	if got := send("GET", map[string]string{"X-Padding": strings.Repeat("p", 32<<10)}); got != http.StatusRequestHeaderFieldsTooLarge {
		t.Errorf("32 KiB of headers: got %d, want 431", got)
	}
	if got := send(strings.Repeat("M", 500<<10), nil); got != http.StatusRequestHeaderFieldsTooLarge {
		t.Errorf("a 500 KB method: got %d, want 431", got)
	}
	for _, m := range []string{"BREW", "PROPFIND", "X-MADE-UP"} {
		if got := send(m, nil); got != http.StatusMethodNotAllowed {
			t.Errorf("%s /healthz: got %d, want 405", m, got)
		}
	}
	metrics := s.get("/metrics").raw
	for _, m := range []string{"BREW", "PROPFIND", "X-MADE-UP", "MMMM"} {
		if strings.Contains(metrics, m) {
			t.Errorf("/metrics shows the made-up method %s", m)
		}
	}
	if !strings.Contains(metrics, `instachat_http_requests_total{method="other",route="unmatched",status="405"} 3`) {
		t.Errorf("/metrics: want the three made-up methods counted as other")
	}
}
