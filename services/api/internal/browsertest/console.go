package browsertest

import (
	"context"
	"slices"
	"sync"
	"testing"

	"github.com/chromedp/chromedp"
)

// Console collects the errors and exceptions a tab logs to its console,
// CSP violations included.
type Console struct {
	mu   sync.Mutex
	msgs []chromedp.ConsoleMessage
}

// WatchConsole starts collecting the console errors of the tab of ctx. Call
// it before the tab navigates, so that no message is lost. It stops
// collecting when the tab or the test ends.
func WatchConsole(t testing.TB, ctx context.Context) *Console {
	t.Helper()
	// The first chromedp call on a context ties the tab to that context's
	// life: make it with ctx, not with the cancellable copy below.
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("open the tab: %v", err)
	}
	ctx, cancel := context.WithCancel(ctx)
	c := &Console{}
	done := make(chan struct{})
	messages := chromedp.Console(ctx) // subscribes now
	go func() {
		defer close(done)
		for m, err := range messages {
			if err != nil {
				return
			}
			if m.IsException() || m.Type == chromedp.ConsoleError {
				c.mu.Lock()
				c.msgs = append(c.msgs, m)
				c.mu.Unlock()
			}
		}
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	return c
}

// Errors returns every error and exception so far, each as its source and
// text.
func (c *Console) Errors() []string { return c.errors(true) }

// ErrorsExceptNetwork is Errors without the network errors: a tab whose
// connection is cut logs one for each failed reconnect.
func (c *Console) ErrorsExceptNetwork() []string { return c.errors(false) }

func (c *Console) errors(network bool) []string {
	c.mu.Lock()
	msgs := slices.Clone(c.msgs)
	c.mu.Unlock()
	var out []string
	for _, m := range msgs {
		if network || m.Source != "network" {
			out = append(out, m.Source+" "+m.String())
		}
	}
	return out
}
