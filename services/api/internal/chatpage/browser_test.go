package chatpage

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/instachat/instachat/services/api/internal/browsertest"
)

// serveWithAPI runs the chat page and the fake API behind it.
func serveWithAPI(t *testing.T, f *fakeAPI) *httptest.Server {
	t.Helper()
	ui := New(Config{})
	mux := http.NewServeMux()
	mux.Handle("GET /chat", ui.Page())
	mux.Handle("GET /chat/assets/", ui.Assets())
	mux.Handle("/api/v1/", f.handler())
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
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
	browsertest.Require(t)
	const token = "tok3n"
	f := newFakeAPI(token)
	srv := serveWithAPI(t, f)

	a := browsertest.New(t, browsertest.Config{})
	consoleA := browsertest.WatchConsole(t, a)
	if hash := browsertest.CreateChat(t, a, srv.URL+"/chat"); hash != "#app="+token+"&chat=1" {
		t.Fatalf("got location.hash %q, want the token and chat 1", hash)
	}
	// The application's settings are shown, and its body limit bounds the compose box.
	browsertest.WaitChatTab(t, a, 5*time.Second, "settings shown", `document.getElementById('settings-version').textContent === '(version 2)' &&
		document.getElementById('webhook-list').textContent.includes('paused: failing for 24h') &&
		document.getElementById('compose-input').maxLength === 500`)
	stored, _ := chromedp.Run(a, chromedp.Evaluate[string](`localStorage.getItem('instachat.chat.token')`))
	if stored != token {
		t.Errorf("got stored token %q, want %q", stored, token)
	}

	b, cancelB := chromedp.NewContext(a)
	defer cancelB()
	consoleB := browsertest.WatchConsole(t, b)
	if err := chromedp.Do(b, chromedp.Navigate(srv.URL+"/chat#app="+token+"&chat=1")); err != nil {
		t.Fatal(err)
	}
	browsertest.WaitChatTab(t, b, 5*time.Second, "tab B connected", `document.getElementById('status').dataset.state === 'connected'`)

	send := func(body string) {
		t.Helper()
		if err := chromedp.Do(a, chromedp.SetValue(chromedp.CSS("#compose-input"), body), chromedp.Click(chromedp.CSS("#send"))); err != nil {
			t.Fatalf("send %q: %v", body, err)
		}
	}
	hostile := `<img src=x onerror="window.pwned=1"> & <script>window.pwned=1</script>`
	for i, body := range []string{"hello from A", "second", hostile} {
		send(body)
		browsertest.WaitChatTab(t, b, time.Second, "message in tab B", `(() => { const li = document.querySelector('#messages li[data-number="`+itoa(int64(i+1))+`"]');
			return li && li.querySelector('.body').textContent === `+jsString(body)+`; })()`)
	}
	if n, _ := chromedp.Run(b, chromedp.Evaluate[int](`document.querySelectorAll('#messages img, #messages script').length + (window.pwned ? 100 : 0)`)); n != 0 {
		t.Errorf("the hostile body became markup (%d)", n)
	}

	// Cut: streams close and new ones get 503, so the browser gives up and
	// the page must reconnect on its own. Writes go on meanwhile.
	served := f.served()
	f.setCut(true)
	browsertest.WaitChatTab(t, b, 3*time.Second, "tab B reconnecting", `document.getElementById('status').dataset.state === 'reconnecting'`)
	for i := range 4 {
		f.post(1, "during the cut "+itoa(int64(i+1)))
	}
	f.update(1, 2, "second, edited")
	f.remove(1, 1)
	time.Sleep(1500 * time.Millisecond)
	f.setCut(false)
	want := rowsWant(f, 1)
	browsertest.WaitChatTab(t, b, 10*time.Second, "tab B caught up", `document.querySelectorAll('#messages li.msg').length === `+itoa(int64(len(want)))+
		` && document.querySelector('#messages li[data-number="7"]') !== null && document.getElementById('status').dataset.state === 'connected'`)
	if f.served() <= served {
		t.Errorf("no new stream was served after the cut")
	}
	for name, ctx := range map[string]context.Context{"A": a, "B": b} {
		browsertest.WaitChatTab(t, ctx, 5*time.Second, "tab "+name+" caught up", `document.querySelectorAll('#messages li.msg').length === `+itoa(int64(len(want))))
		s := browsertest.ReadChatTab(t, ctx)
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
	browsertest.WaitChatTab(t, b, time.Second, "edit and delete in tab B", `document.querySelector('#messages li[data-number="4"] .body').textContent === 'fixed in A'
		&& !document.querySelector('#messages li[data-number="5"]')`)

	// A reset: something the stream cannot serve any more (here a message
	// with no event). The page reloads the newest page and goes on.
	hidden := f.silently(1, "only a reload shows this")
	f.reset()
	browsertest.WaitChatTab(t, b, 5*time.Second, "tab B reloaded after the reset", `document.querySelector('#messages li[data-number="`+itoa(hidden)+`"]') !== null
		&& document.getElementById('status').dataset.state === 'connected'`)
	f.post(1, "after the reset")
	want = rowsWant(f, 1)
	browsertest.WaitChatTab(t, b, 2*time.Second, "live after the reset", `document.querySelectorAll('#messages li.msg').length === `+itoa(int64(len(want))))
	if s := browsertest.ReadChatTab(t, b); !slices.EqualFunc(s.Rows, want, slices.Equal) || s.Dups != 0 || s.Gaps != 0 {
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

	// Both tabs' streams were cut: each failed reconnect logs a network error.
	if e := consoleA.ErrorsExceptNetwork(); len(e) != 0 {
		t.Errorf("tab A's console: %q", e)
	}
	if e := consoleB.ErrorsExceptNetwork(); len(e) != 0 {
		t.Errorf("tab B's console: %q", e)
	}
	if path := os.Getenv("CHATPAGE_SCREENSHOT"); path != "" {
		browsertest.SaveScreenshot(t, b, path)
	}
}

// TestUnknownToken: a token no application has goes back to the start,
// with the reason shown.
func TestUnknownToken(t *testing.T) {
	browsertest.Require(t)
	f := newFakeAPI("right")
	srv := serveWithAPI(t, f)
	ctx := browsertest.New(t, browsertest.Config{})
	if err := chromedp.Do(ctx, chromedp.Navigate(srv.URL+"/chat#app=wrong&chat=1"), chromedp.WaitVisible(chromedp.CSS("#setup"))); err != nil {
		t.Fatal(err)
	}
	browsertest.WaitChatTab(t, ctx, 2*time.Second, "the notice", `document.getElementById('notice').textContent.includes('No application has that token')`)
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
	browsertest.Require(t)
	f := newFakeAPI("tok")
	f.msgs[1], f.chats = map[int64]string{}, []int64{1}
	for i := range 60 {
		f.post(1, "message "+itoa(int64(i+1)))
	}
	srv := serveWithAPI(t, f)
	ctx := browsertest.New(t, browsertest.Config{})
	console := browsertest.WatchConsole(t, ctx)
	if err := chromedp.Do(ctx, chromedp.Navigate(srv.URL+"/chat#app=tok&chat=1")); err != nil {
		t.Fatal(err)
	}
	browsertest.WaitChatTab(t, ctx, 5*time.Second, "the newest page", `document.querySelectorAll('#messages li.msg').length === 50 && !document.getElementById('older').hidden`)
	if first, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector('#messages li.msg').dataset.number`)); first != "11" {
		t.Errorf("got first row %s, want 11", first)
	}
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS("#older"))); err != nil {
		t.Fatal(err)
	}
	browsertest.WaitChatTab(t, ctx, 5*time.Second, "all 60", `document.querySelectorAll('#messages li.msg').length === 60 && document.getElementById('older').hidden`)
	s := browsertest.ReadChatTab(t, ctx)
	for i, r := range s.Rows {
		if r[0] != itoa(int64(i+1)) {
			t.Fatalf("row %d is message %s, want %d: the rows are out of order", i, r[0], i+1)
		}
	}
	if e := console.Errors(); len(e) != 0 {
		t.Errorf("console: %q", e)
	}
}
