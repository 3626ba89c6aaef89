package browsertest_test

import (
	"net/http"
	"net/http/httptest"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/instachat/instachat/services/api/internal/browsertest"
)

// TestConsoleInBrowser: a page that logs an error, throws and loads a
// missing image shows all three in Errors, and the first two in
// ErrorsExceptNetwork; a plain log is in neither.
func TestConsoleInBrowser(t *testing.T) {
	browsertest.Require(t)
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = w.Write([]byte(`<!doctype html><title>console</title><img src="/missing.png">
<script>console.log("fine"); console.error("logged"); setTimeout(() => { throw new Error("thrown"); });</script>`))
	})
	// Chromium asks for /favicon.ico too (a second 404, seen in CI).
	mux.HandleFunc("GET /favicon.ico", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNoContent) })
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)

	ctx := browsertest.New(t, browsertest.Config{})
	console := browsertest.WatchConsole(t, ctx)
	if err := chromedp.Do(ctx, chromedp.Navigate(srv.URL+"/")); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for len(console.Errors()) < 3 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	all, quiet := console.Errors(), console.ErrorsExceptNetwork()
	has := func(list []string, prefix, text string) bool {
		return slices.ContainsFunc(list, func(e string) bool { return strings.HasPrefix(e, prefix) && strings.Contains(e, text) })
	}
	if len(all) != len(quiet)+1 || !has(all, "network ", "404") || !has(all, "", "logged") || !has(all, "", "thrown") {
		t.Errorf("Errors: got %q, want the 404, \"logged\" and \"thrown\"", all)
	}
	if len(quiet) != 2 || has(quiet, "network ", "") {
		t.Errorf("ErrorsExceptNetwork: got %q, want \"logged\" and \"thrown\" only", quiet)
	}
}

// TestOnlyTestsImportIt: no package of the api's own code depends on
// browsertest; only tests may (go list's Deps leave test imports out).
func TestOnlyTestsImportIt(t *testing.T) {
	const self = "github.com/instachat/instachat/services/api/internal/browsertest"
	out, err := exec.Command("go", "list", "-f", `{{.ImportPath}} {{join .Deps " "}}`, "github.com/instachat/instachat/services/api/...").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	for line := range strings.Lines(string(out)) {
		pkg, deps, _ := strings.Cut(strings.TrimSpace(line), " ")
		if pkg != self && slices.Contains(strings.Fields(deps), self) {
			t.Errorf("%s imports %s, which is for tests only", pkg, self)
		}
	}
}
