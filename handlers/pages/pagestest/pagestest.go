// Package pagestest drives the hosted pages in a real browser: headless
// Chromium (Debian's chromium package) through chromedp. Tests of the
// activation and reset pages use it, and so will those of the login,
// consent and logout pages.
//
// NewBrowser fails the test when LATCHKEY_TEST_REQUIRE_SERVICES=1 (CI) and
// no browser starts, and skips it loudly otherwise. LATCHKEY_TEST_CHROMIUM
// names the browser binary when it is not chromium on PATH. Screenshots go
// to test-artifacts/screenshots/ at the module root (git-ignored), or to
// LATCHKEY_TEST_SCREENSHOTS.
package pagestest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/latchkey-auth/latchkey/storage/storagetest"
)

// Timeout bounds each Run: generous, because CI machines are busy.
const Timeout = 60 * time.Second

// Viewport widths of the screenshots: a phone and a desktop.
const (
	PhoneWidth   = 390
	DesktopWidth = 1280
)

// Browser is one headless Chromium with a profile of its own, for one test.
type Browser struct {
	t   testing.TB
	ctx context.Context
}

// NewBrowser starts headless Chromium for t and closes it when t ends.
func NewBrowser(t testing.TB) *Browser {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.Headless,
		chromedp.DisableGPU,
		chromedp.NoSandbox, // CI runs as root, where Chromium's sandbox cannot start
		chromedp.UserDataDir(t.TempDir()),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.WindowSize(DesktopWidth, 900),
	)
	if path := os.Getenv("LATCHKEY_TEST_CHROMIUM"); path != "" {
		opts = append(opts, chromedp.ExecPath(path))
	}
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelTab := chromedp.NewContext(allocCtx)
	t.Cleanup(func() {
		cancelTab()
		cancelAlloc()
	})
	// The first run starts the browser and must not carry a deadline (it
	// would end the browser with it), so the wait is bounded here.
	started := make(chan error, 1)
	go func() { started <- chromedp.Do(ctx) }()
	var err error
	select {
	case err = <-started:
	case <-time.After(Timeout):
		err = fmt.Errorf("the browser did not start within %s", Timeout)
	}
	if err != nil {
		msg := fmt.Sprintf("pagestest: no headless browser: %v (install Debian's chromium with bash scripts/chromium.sh, or set LATCHKEY_TEST_CHROMIUM)", err)
		// The services gate of every suite: fails when services are
		// required, else skips loudly and lists the skip in make test's
		// summary.
		storagetest.Require(t, "the browser tests", false, msg)
	}
	return &Browser{t: t, ctx: ctx}
}

// With returns the browser reporting to t: use it in a subtest
// (b := b.With(t)), so a failure ends that subtest.
func (b *Browser) With(t testing.TB) *Browser { return &Browser{t: t, ctx: b.ctx} }

// Context is the browser's tab, for chromedp.Run with actions that return
// a value; derive a timeout from it (context.WithTimeout), never cancel it.
func (b *Browser) Context() context.Context { return b.ctx }

// Do runs actions within Timeout and fails the test on an error.
func (b *Browser) Do(actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, Timeout)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		b.t.Fatalf("browser: %v", err)
	}
}

// Response runs actions that navigate (Navigate, a Click that submits a
// form), waits for the page to load and returns the response of its
// document: status and headers.
func (b *Browser) Response(actions ...chromedp.Action[chromedp.Void]) *network.Response {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, Timeout)
	defer cancel()
	res, err := chromedp.RunResponse(ctx, actions...)
	if err != nil {
		b.t.Fatalf("browser: %v", err)
	}
	return res
}

// Text waits for the element of a CSS selector to be visible and returns
// its text.
func (b *Browser) Text(selector string) string {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, Timeout)
	defer cancel()
	if err := chromedp.Do(ctx, chromedp.WaitVisible(chromedp.CSS(selector))); err != nil {
		b.t.Fatalf("browser: wait for %s: %v; the page is:\n%s", selector, err, b.html())
	}
	s, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(selector)))
	if err != nil {
		b.t.Fatalf("browser: text of %s: %v", selector, err)
	}
	return strings.TrimSpace(s)
}

// html is the current page's markup, for failure messages.
func (b *Browser) html() string {
	ctx, cancel := context.WithTimeout(b.ctx, 10*time.Second)
	defer cancel()
	s, err := chromedp.Run(ctx, chromedp.OuterHTML(chromedp.CSS("html")))
	if err != nil {
		return fmt.Sprintf("(cannot read the page: %v)", err)
	}
	return s
}

// Fill waits for the input of a CSS selector and types value into it.
func (b *Browser) Fill(selector, value string) {
	b.t.Helper()
	b.Do(chromedp.WaitVisible(chromedp.CSS(selector)), chromedp.SendKeys(chromedp.CSS(selector), value))
}

// Submit clicks the element of a CSS selector (a submit button) and returns
// the response of the page the form loads.
func (b *Browser) Submit(selector string) *network.Response {
	b.t.Helper()
	b.Do(chromedp.WaitVisible(chromedp.CSS(selector)))
	return b.Response(chromedp.Click(chromedp.CSS(selector)))
}

// Header is a response header by name, case-insensitively.
func Header(res *network.Response, name string) string {
	for k, v := range res.Headers {
		if strings.EqualFold(k, name) {
			return fmt.Sprint(v)
		}
	}
	return ""
}

var unsafeName = regexp.MustCompile(`[^A-Za-z0-9_.-]+`)

// Screenshots saves the current page as <name>-phone.png and
// <name>-desktop.png in the screenshots folder (ScreenshotDir), and puts
// the desktop viewport back.
func (b *Browser) Screenshots(name string) {
	b.t.Helper()
	dir, err := ScreenshotDir()
	if err != nil {
		b.t.Fatal(err)
	}
	name = unsafeName.ReplaceAllString(name, "_")
	for _, v := range []struct {
		suffix string
		width  int64
		mobile bool
	}{{"phone", PhoneWidth, true}, {"desktop", DesktopWidth, false}} {
		emulate := []chromedp.EmulateViewportOption{chromedp.EmulateScale(1)}
		if v.mobile {
			emulate = append(emulate, chromedp.EmulateMobile)
		}
		b.Do(chromedp.EmulateViewport(v.width, 800, emulate...))
		ctx, cancel := context.WithTimeout(b.ctx, Timeout)
		png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
		cancel()
		if err != nil {
			b.t.Fatalf("browser: screenshot: %v", err)
		}
		if err := os.WriteFile(filepath.Join(dir, name+"-"+v.suffix+".png"), png, 0o644); err != nil {
			b.t.Fatal(err)
		}
	}
	b.Do(chromedp.EmulateReset())
}

// ScreenshotDir is LATCHKEY_TEST_SCREENSHOTS, or test-artifacts/screenshots
// at the module root; it is created when missing.
func ScreenshotDir() (string, error) {
	dir := os.Getenv("LATCHKEY_TEST_SCREENSHOTS")
	if dir == "" {
		root, err := moduleRoot()
		if err != nil {
			return "", err
		}
		dir = filepath.Join(root, "test-artifacts", "screenshots")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("pagestest: screenshots: %w", err)
	}
	return dir, nil
}

func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("pagestest: %w", err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("pagestest: no go.mod above the working directory")
		}
		dir = parent
	}
}
