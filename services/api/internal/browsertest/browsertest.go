// Package browsertest runs tests in Debian's headless Chromium through
// chromedp: it finds the browser (skipping without it, failing without it
// when CI is set), starts one with a fresh profile per test, watches a tab's
// console, reads and waits on the chat page, and saves screenshots. Only
// tests import it: the chat page's own and the end-to-end ones.
package browsertest

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// ChromiumPath is where Debian's chromium package puts the browser (.ci/run
// installs it).
const ChromiumPath = "/usr/bin/chromium"

// timeout bounds a whole browser: the first chromedp call on a context
// decides the browser's life, so it ends with this timeout too.
const timeout = 2 * time.Minute

// Require skips the test when Chromium is missing, or fails it when the CI
// environment variable is set (and not "false"): there the browser tests
// must run. Call it before any costly setup.
func Require(t testing.TB) {
	t.Helper()
	if _, err := os.Stat(ChromiumPath); err != nil {
		if ci := os.Getenv("CI"); ci != "" && ci != "false" {
			t.Fatalf("CI=%s but %s is missing (%v): .ci/run installs Debian's chromium before the tests", ci, ChromiumPath, err)
		}
		t.Skipf("%s not found, so this test does not run in a browser: apt-get install chromium chromium-driver", ChromiumPath)
	}
}

// Config says how a browser starts. The zero Config opens a 1280×860 window.
type Config struct {
	Width, Height int // of the window, in CSS pixels
}

// New starts a headless Chromium of the test's own, with a fresh profile,
// and returns a chromedp context for its first tab. The browser stops when
// the test ends, or after two minutes. New skips or fails as Require does.
func New(t testing.TB, cfg Config) context.Context {
	t.Helper()
	Require(t)
	if cfg.Width == 0 || cfg.Height == 0 {
		cfg.Width, cfg.Height = 1280, 860
	}
	// chromedp's defaults hold some of these flags already; they are named
	// here so that the browser stays quiet whatever the defaults become.
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(ChromiumPath),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.NoFirstRun,
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(cfg.Width, cfg.Height),
	)
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelTab := chromedp.NewContext(alloc, chromedp.WithLogf(t.Logf))
	ctx, cancelTimeout := context.WithTimeout(ctx, timeout)
	t.Cleanup(func() {
		cancelTimeout()
		cancelTab()
		cancelAlloc()
	})
	if err := chromedp.Do(ctx); err != nil { // starts the browser and its first tab
		t.Fatalf("start %s: %v", ChromiumPath, err)
	}
	return ctx
}

// SaveScreenshot writes a PNG of the tab's whole page to path.
func SaveScreenshot(t testing.TB, ctx context.Context, path string) {
	t.Helper()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100)) // quality 100: PNG
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Fatalf("save the screenshot: %v", err)
	}
	t.Logf("screenshot (%d bytes): %s", len(png), path)
}
