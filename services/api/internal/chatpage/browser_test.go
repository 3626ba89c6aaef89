package chatpage

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// chromiumPath is Debian's chromium. Without it the browser tests skip,
// unless CI is set: there they must run.
const chromiumPath = "/usr/bin/chromium"

func requireChromium(t *testing.T) {
	t.Helper()
	if _, err := os.Stat(chromiumPath); err != nil {
		if ci := os.Getenv("CI"); ci != "" && ci != "false" {
			t.Fatalf("CI=%s but %s is missing (%v)", ci, chromiumPath, err)
		}
		t.Skipf("%s not found, so the chat page is not run in a browser", chromiumPath)
	}
}

// newBrowser starts a headless Chromium with a fresh profile and returns a
// context for its first tab.
func newBrowser(t *testing.T) context.Context {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromiumPath),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 860),
	)
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelTab := chromedp.NewContext(alloc, chromedp.WithLogf(t.Logf))
	ctx, cancelTimeout := context.WithTimeout(ctx, 2*time.Minute)
	t.Cleanup(func() {
		cancelTimeout()
		cancelTab()
		cancelAlloc()
	})
	return ctx
}

// watchConsole collects a tab's console errors and exceptions (CSP
// violations included). Network errors are left out when ignoreNetwork is
// set: a tab whose streams are cut logs each failed reconnect.
func watchConsole(t *testing.T, ctx context.Context, ignoreNetwork bool) func() []string {
	t.Helper()
	var (
		mu   sync.Mutex
		errs []string
	)
	messages := chromedp.Console(ctx)
	go func() {
		for m, err := range messages {
			if err != nil {
				return
			}
			if !m.IsException() && m.Type != chromedp.ConsoleError {
				continue
			}
			if ignoreNetwork && m.Source == "network" {
				continue
			}
			mu.Lock()
			errs = append(errs, m.Source+" "+m.String())
			mu.Unlock()
		}
	}()
	return func() []string {
		mu.Lock()
		defer mu.Unlock()
		return slices.Clone(errs)
	}
}

// pageState is what a tab shows of the open chat.
type pageState struct {
	Rows   [][]string `json:"rows"` // number, body
	Log    []string   `json:"log"`
	Dups   int        `json:"dups"`
	Gaps   int        `json:"gaps"`
	Status string     `json:"status"`
}

const readState = `({
  rows: Array.from(document.querySelectorAll('#messages li.msg'), li => [li.dataset.number, li.querySelector('.body').textContent]),
  log: window.icLog, dups: window.icDups, gaps: window.icGaps,
  status: document.getElementById('status').dataset.state})`

func state(t *testing.T, ctx context.Context) pageState {
	t.Helper()
	s, err := chromedp.Run(ctx, chromedp.Evaluate[pageState](readState))
	if err != nil {
		t.Fatalf("read the page: %v", err)
	}
	return s
}

// waitFor polls a JavaScript condition in a tab every 20 ms (a background
// tab gets no animation frames to poll on).
func waitFor(t *testing.T, ctx context.Context, timeout time.Duration, what, cond string) {
	t.Helper()
	if err := chromedp.Do(ctx, chromedp.Poll[chromedp.Void](cond,
		chromedp.WithPollingInterval(20*time.Millisecond), chromedp.WithPollingTimeout(timeout))); err != nil {
		s, _ := chromedp.Run(ctx, chromedp.Evaluate[pageState](readState))
		t.Fatalf("%s: not within %v (%v); the page shows %+v", what, timeout, err, s)
	}
}

func rowsWant(f *fakeAPI, chat int64) [][]string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out [][]string
	for n := int64(1); n <= f.next[chat]; n++ {
		if b, ok := f.msgs[chat][n]; ok {
			out = append(out, []string{itoa(n), b})
		}
	}
	return out
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// TestPageInBrowser runs the page's script against the fake API in two
// tabs: live updates, a cut stream that ends in 503s (the browser gives up,
// the page reconnects from its last id), a reset, hostile bodies, search
// and the console kept clean.
func TestPageInBrowser(t *testing.T) {
	requireChromium(t)
	const token = "tok3n"
	f := newFakeAPI(token)
	ui := New(Config{})
	mux := http.NewServeMux()
	mux.Handle("GET /chat", ui.Page())
	mux.Handle("GET /chat/assets/", ui.Assets())
	mux.Handle("/api/v1/", f.handler())
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)

	a := newBrowser(t)
	errsA := watchConsole(t, a, true) // its stream is cut too
	if err := chromedp.Do(a, chromedp.Navigate(srv.URL+"/chat"),
		chromedp.WaitVisible(chromedp.CSS("#create-app")),
		chromedp.SetValue(chromedp.CSS("#app-name-input"), "Support desk"),
		chromedp.Click(chromedp.CSS("#create-app button")),
		chromedp.WaitVisible(chromedp.CSS("#new-chat")),
		chromedp.Click(chromedp.CSS("#new-chat")),
		chromedp.WaitVisible(chromedp.CSS("#compose-input")),
	); err != nil {
		t.Fatalf("create an application and a chat in tab A: %v", err)
	}
	waitFor(t, a, 5*time.Second, "tab A connected", `document.getElementById('status').dataset.state === 'connected'`)
	hash, err := chromedp.Run(a, chromedp.Evaluate[string](`location.hash`))
	if err != nil || hash != "#app="+token+"&chat=1" {
		t.Fatalf("got location.hash %q (%v), want the token and chat 1", hash, err)
	}
	stored, _ := chromedp.Run(a, chromedp.Evaluate[string](`localStorage.getItem('instachat.chat.token')`))
	if stored != token {
		t.Errorf("got stored token %q, want %q", stored, token)
	}

	b, cancelB := chromedp.NewContext(a)
	defer cancelB()
	errsB := watchConsole(t, b, true)
	if err := chromedp.Do(b, chromedp.Navigate(srv.URL+"/chat#app="+token+"&chat=1")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, b, 5*time.Second, "tab B connected", `document.getElementById('status').dataset.state === 'connected'`)

	send := func(body string) {
		t.Helper()
		if err := chromedp.Do(a, chromedp.SetValue(chromedp.CSS("#compose-input"), body), chromedp.Click(chromedp.CSS("#send"))); err != nil {
			t.Fatalf("send %q: %v", body, err)
		}
	}
	hostile := `<img src=x onerror="window.pwned=1"> & <script>window.pwned=1</script>`
	for i, body := range []string{"hello from A", "second", hostile} {
		send(body)
		waitFor(t, b, time.Second, "message in tab B", `(() => { const li = document.querySelector('#messages li[data-number="`+itoa(int64(i+1))+`"]');
			return li && li.querySelector('.body').textContent === `+jsString(body)+`; })()`)
	}
	if n, _ := chromedp.Run(b, chromedp.Evaluate[int](`document.querySelectorAll('#messages img, #messages script').length + (window.pwned ? 100 : 0)`)); n != 0 {
		t.Errorf("the hostile body became markup (%d)", n)
	}

	// Cut: streams close and new ones get 503, so the browser gives up and
	// the page must reconnect on its own. Writes go on meanwhile.
	served := f.served()
	f.setCut(true)
	waitFor(t, b, 3*time.Second, "tab B reconnecting", `document.getElementById('status').dataset.state === 'reconnecting'`)
	for i := range 4 {
		f.post(1, "during the cut "+itoa(int64(i+1)))
	}
	f.update(1, 2, "second, edited")
	f.remove(1, 1)
	time.Sleep(1500 * time.Millisecond)
	f.setCut(false)
	want := rowsWant(f, 1)
	waitFor(t, b, 10*time.Second, "tab B caught up", `document.querySelectorAll('#messages li.msg').length === `+itoa(int64(len(want)))+
		` && document.querySelector('#messages li[data-number="7"]') !== null && document.getElementById('status').dataset.state === 'connected'`)
	if f.served() <= served {
		t.Errorf("no new stream was served after the cut")
	}
	for name, ctx := range map[string]context.Context{"A": a, "B": b} {
		waitFor(t, ctx, 5*time.Second, "tab "+name+" caught up", `document.querySelectorAll('#messages li.msg').length === `+itoa(int64(len(want))))
		s := state(t, ctx)
		if !slices.EqualFunc(s.Rows, want, slices.Equal) {
			t.Errorf("tab %s: got rows %q, want %q", name, s.Rows, want)
		}
		if s.Dups != 0 || s.Gaps != 0 {
			t.Errorf("tab %s: got icDups %d, icGaps %d, want 0 and 0 (log %v)", name, s.Dups, s.Gaps, s.Log)
		}
	}

	// Edit and delete through tab A's buttons; tab B follows.
	if err := chromedp.Do(a,
		chromedp.Click(chromedp.CSS(`#messages li[data-number="4"] button.edit`)),
		chromedp.SetValue(chromedp.CSS(`#messages li[data-number="4"] input.edit-input`), "fixed in A"),
		chromedp.Click(chromedp.CSS(`#messages li[data-number="4"] button.save`)),
		chromedp.Click(chromedp.CSS(`#messages li[data-number="5"] button.delete`)),
	); err != nil {
		t.Fatalf("edit and delete in tab A: %v", err)
	}
	waitFor(t, b, time.Second, "edit and delete in tab B", `document.querySelector('#messages li[data-number="4"] .body').textContent === 'fixed in A'
		&& !document.querySelector('#messages li[data-number="5"]')`)

	// A reset: something the stream cannot serve any more (here a message
	// with no event). The page reloads the newest page and goes on.
	hidden := f.silently(1, "only a reload shows this")
	f.reset()
	waitFor(t, b, 5*time.Second, "tab B reloaded after the reset", `document.querySelector('#messages li[data-number="`+itoa(hidden)+`"]') !== null
		&& document.getElementById('status').dataset.state === 'connected'`)
	f.post(1, "after the reset")
	want = rowsWant(f, 1)
	waitFor(t, b, 2*time.Second, "live after the reset", `document.querySelectorAll('#messages li.msg').length === `+itoa(int64(len(want))))
	if s := state(t, b); !slices.EqualFunc(s.Rows, want, slices.Equal) || s.Dups != 0 || s.Gaps != 0 {
		t.Errorf("tab B after the reset: got rows %q, dups %d, gaps %d; want rows %q, none", s.Rows, s.Dups, s.Gaps, want)
	}

	// Search shows matches as text.
	if err := chromedp.Do(b, chromedp.SetValue(chromedp.CSS("#search-input"), "cut"), chromedp.Click(chromedp.CSS("#search button[type=submit]")),
		chromedp.WaitVisible(chromedp.CSS("#results"))); err != nil {
		t.Fatal(err)
	}
	if n, _ := chromedp.Run(b, chromedp.Evaluate[int](`document.querySelectorAll('#result-list li[data-number]').length`)); n != 2 {
		t.Errorf("got %d search results for %q, want 2 (of 4 sent during the cut, one was edited and one deleted)", n, "cut")
	}

	if path := os.Getenv("CHATPAGE_SCREENSHOT"); path != "" {
		png, err := chromedp.Run(b, chromedp.FullScreenshot(100))
		if err == nil {
			err = os.WriteFile(path, png, 0o644)
		}
		if err != nil {
			t.Errorf("screenshot: %v", err)
		}
	}
	if e := errsA(); len(e) != 0 {
		t.Errorf("tab A's console: %q", e)
	}
	if e := errsB(); len(e) != 0 {
		t.Errorf("tab B's console: %q", e)
	}
}

// TestUnknownToken: a token no application has goes back to the start,
// with the reason shown.
func TestUnknownToken(t *testing.T) {
	requireChromium(t)
	f := newFakeAPI("right")
	ui := New(Config{})
	mux := http.NewServeMux()
	mux.Handle("GET /chat", ui.Page())
	mux.Handle("GET /chat/assets/", ui.Assets())
	mux.Handle("/api/v1/", f.handler())
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	ctx := newBrowser(t)
	if err := chromedp.Do(ctx, chromedp.Navigate(srv.URL+"/chat#app=wrong&chat=1"), chromedp.WaitVisible(chromedp.CSS("#setup"))); err != nil {
		t.Fatal(err)
	}
	waitFor(t, ctx, 2*time.Second, "the notice", `document.getElementById('notice').textContent.includes('No application has that token')`)
	if h, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`location.hash`)); h != "" {
		t.Errorf("got location.hash %q, want it cleared", h)
	}
}

func jsString(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `'`, `\'`, "\n", `\n`)
	return "'" + r.Replace(s) + "'"
}

// TestLoadOlder: a chat opens on its newest 50 messages; "load older" adds
// the rest, in number order, and then hides.
func TestLoadOlder(t *testing.T) {
	requireChromium(t)
	f := newFakeAPI("tok")
	f.msgs[1], f.chats = map[int64]string{}, []int64{1}
	for i := range 60 {
		f.post(1, "message "+itoa(int64(i+1)))
	}
	ui := New(Config{})
	mux := http.NewServeMux()
	mux.Handle("GET /chat", ui.Page())
	mux.Handle("GET /chat/assets/", ui.Assets())
	mux.Handle("/api/v1/", f.handler())
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	ctx := newBrowser(t)
	errs := watchConsole(t, ctx, false)
	if err := chromedp.Do(ctx, chromedp.Navigate(srv.URL+"/chat#app=tok&chat=1")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, ctx, 5*time.Second, "the newest page", `document.querySelectorAll('#messages li.msg').length === 50 && !document.getElementById('older').hidden`)
	if first, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector('#messages li.msg').dataset.number`)); first != "11" {
		t.Errorf("got first row %s, want 11", first)
	}
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS("#older"))); err != nil {
		t.Fatal(err)
	}
	waitFor(t, ctx, 5*time.Second, "all 60", `document.querySelectorAll('#messages li.msg').length === 60 && document.getElementById('older').hidden`)
	s := state(t, ctx)
	for i, r := range s.Rows {
		if r[0] != itoa(int64(i+1)) {
			t.Fatalf("row %d is message %s, want %d: the rows are out of order", i, r[0], i+1)
		}
	}
	if e := errs(); len(e) != 0 {
		t.Errorf("console: %q", e)
	}
}
