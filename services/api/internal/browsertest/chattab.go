package browsertest

import (
	"context"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// ChatTab is what a tab of the chat page (services/api/internal/chatpage)
// shows of its open chat, with the counters the page keeps for tests.
type ChatTab struct {
	Rows   [][]string `json:"rows"` // number, body
	Log    []string   `json:"log"`  // window.icLog: the events' ids in arrival order
	Dups   int        `json:"dups"` // window.icDups: events received twice
	Gaps   int        `json:"gaps"` // window.icGaps: created numbers that skip past the highest seen
	Status string     `json:"status"`
}

const readChatTab = `({
  rows: Array.from(document.querySelectorAll('#messages li.msg'), li => [li.dataset.number, li.querySelector('.body').textContent]),
  log: window.icLog || [], dups: window.icDups, gaps: window.icGaps,
  status: document.getElementById('status').dataset.state})`

// ReadChatTab reads what the chat page in the tab of ctx shows.
func ReadChatTab(t testing.TB, ctx context.Context) ChatTab {
	t.Helper()
	s, err := chromedp.Run(ctx, chromedp.Evaluate[ChatTab](readChatTab))
	if err != nil {
		t.Fatalf("read the chat page: %v", err)
	}
	return s
}

// WaitChatTab waits until the JavaScript condition cond holds in the tab of
// ctx, checking every 20 ms (a tab in the background gets no animation
// frames to poll on). After timeout it fails the test with what, and what
// the chat page shows.
func WaitChatTab(t testing.TB, ctx context.Context, timeout time.Duration, what, cond string) {
	t.Helper()
	if err := chromedp.Do(ctx, chromedp.Poll[chromedp.Void](cond,
		chromedp.WithPollingInterval(20*time.Millisecond), chromedp.WithPollingTimeout(timeout))); err != nil {
		s, _ := chromedp.Run(ctx, chromedp.Evaluate[ChatTab](readChatTab))
		t.Fatalf("%s: not within %v (%v); the page shows %+v", what, timeout, err, s)
	}
}

// CreateChat opens the chat page at pageURL in the tab of ctx, creates an
// application and its first chat through the page's forms, and waits until
// the page follows the chat's events. It returns location.hash, which holds
// the application's token and the chat's number.
func CreateChat(t testing.TB, ctx context.Context, pageURL string) string {
	t.Helper()
	if err := chromedp.Do(ctx, chromedp.Navigate(pageURL),
		chromedp.WaitVisible(chromedp.CSS("#create-app")),
		chromedp.SetValue(chromedp.CSS("#app-name-input"), "Support desk"),
		chromedp.Click(chromedp.CSS("#create-app button")),
		chromedp.WaitVisible(chromedp.CSS("#new-chat")),
		chromedp.Click(chromedp.CSS("#new-chat")),
		chromedp.WaitVisible(chromedp.CSS("#compose-input")),
	); err != nil {
		t.Fatalf("create an application and a chat on the chat page: %v", err)
	}
	WaitChatTab(t, ctx, 10*time.Second, "the chat page connected", `document.getElementById('status').dataset.state === 'connected'`)
	hash, err := chromedp.Run(ctx, chromedp.Evaluate[string](`location.hash`))
	if err != nil {
		t.Fatalf("read location.hash: %v", err)
	}
	return hash
}
