package browsertest_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"image"
	_ "image/png" // screenshots are PNG
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
)

// Time limits. Every browser step runs under stepTimeout, and the whole
// browser under browserTimeout, so a hung browser fails the test instead of
// hanging it.
const (
	stepTimeout    = 30 * time.Second
	browserTimeout = 4 * time.Minute
)

// chromiumPath finds the browser: STEWARD_CHROMIUM (a path or a name on
// PATH), else the first of chromium, chromium-browser and google-chrome on
// PATH.
func chromiumPath() (string, error) {
	if p := os.Getenv("STEWARD_CHROMIUM"); p != "" {
		found, err := exec.LookPath(p)
		if err != nil {
			return "", fmt.Errorf("STEWARD_CHROMIUM=%s: %w", p, err)
		}
		return found, nil
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if found, err := exec.LookPath(name); err == nil {
			return found, nil
		}
	}
	return "", errors.New("no chromium, chromium-browser or google-chrome on PATH (install one, or name it in STEWARD_CHROMIUM)")
}

// requireChromium returns the browser's path, or skips the test when there
// is none (or under -short), unless STEWARD_REQUIRE_CHROMIUM=1, which makes
// a missing browser a failure and ignores -short.
func requireChromium(t *testing.T) string {
	t.Helper()
	required := os.Getenv("STEWARD_REQUIRE_CHROMIUM") == "1"
	if testing.Short() && !required {
		t.Skip("browser tests are slow: skipped with -short (STEWARD_REQUIRE_CHROMIUM=1 runs them)")
	}
	p, err := chromiumPath()
	if err != nil {
		if required {
			t.Fatalf("STEWARD_REQUIRE_CHROMIUM=1: %v", err)
		}
		t.Skip(err)
	}
	return p
}

// browser is one headless Chromium with one tab, belonging to one test.
type browser struct {
	t    *testing.T
	ctx  context.Context // the tab; the browser has started
	base string          // the collector's URL
	// errs are the uncaught script exceptions of the pages (the vendored
	// NHS.UK frontend must run cleanly on ours); the test fails on any
	// unless it takes them.
	mu   sync.Mutex
	errs []string
}

// scriptErrors returns and forgets the uncaught exceptions seen so far.
func (b *browser) scriptErrors() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	e := b.errs
	b.errs = nil
	return e
}

// setup finds the browser (or skips), starts a seeded collector and a
// browser pointed at it.
func setup(t *testing.T) (*fixture, *browser) {
	t.Helper()
	exe := requireChromium(t)
	f := newFixture(t)
	return f, startBrowser(t, exe, f.url)
}

// startBrowser starts the Chromium at exe for t, pointed at the collector
// at base. It closes when the test ends; if the test failed, the end of the
// browser's output is logged.
func startBrowser(t *testing.T, exe, base string) *browser {
	t.Helper()
	out := &tail{max: 32 << 10}
	// The defaults of chromedp (no first run, background networking,
	// extensions, sync, translate and the like off), with the flags a
	// container running as root needs spelled out. The allocator gives
	// every browser a fresh temporary --user-data-dir and removes it (after
	// killing any leftover child process) when the browser ends.
	opts := append(slices.Clone(chromedp.DefaultExecAllocatorOptions[:]),
		chromedp.ExecPath(exe),
		chromedp.Flag("headless", "new"),
		chromedp.NoSandbox,
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-extensions", true),
		chromedp.NoFirstRun,
		chromedp.WindowSize(1280, 1024),
		chromedp.CombinedOutput(out),
	)
	life, endLife := context.WithTimeout(context.Background(), browserTimeout)
	alloc, endAlloc := chromedp.NewExecAllocator(life, opts...)
	logf := func(format string, args ...any) { fmt.Fprintf(out, "chromedp: "+format+"\n", args...) }
	tab, endTab := chromedp.NewContext(alloc, chromedp.WithErrorf(logf), chromedp.WithLogf(logf))
	t.Cleanup(func() {
		endTab() // closes the browser
		endAlloc()
		endLife()
		if t.Failed() {
			t.Logf("chromium output (last %d bytes):\n%s", out.max, out)
		}
	})
	// The first Do starts the browser, which lives as long as tab: it cannot
	// run under a step's timeout, so wait for it here.
	started := make(chan error, 1)
	go func() { started <- chromedp.Do(tab) }()
	select {
	case err := <-started:
		if err != nil {
			t.Fatalf("start %s: %v", exe, err)
		}
	case <-time.After(stepTimeout):
		endAlloc()
		t.Fatalf("%s did not start within %v", exe, stepTimeout)
	}
	b := &browser{t: t, ctx: tab, base: base}
	if err := chromedp.Listen(tab, func(ev any) {
		if e, ok := ev.(*runtime.EventExceptionThrown); ok && e.ExceptionDetails != nil {
			msg := e.ExceptionDetails.Text
			if e.ExceptionDetails.Exception != nil && e.ExceptionDetails.Exception.Description != "" {
				msg += " " + e.ExceptionDetails.Exception.Description
			}
			b.mu.Lock()
			b.errs = append(b.errs, fmt.Sprintf("%s (%s:%d)", msg, e.ExceptionDetails.URL, e.ExceptionDetails.LineNumber))
			b.mu.Unlock()
		}
	}); err != nil {
		t.Fatalf("listen to the tab: %v", err)
	}
	t.Cleanup(func() {
		if errs := b.scriptErrors(); len(errs) > 0 {
			t.Errorf("uncaught script exceptions in the pages:\n  %s", strings.Join(errs, "\n  "))
		}
	})
	return b
}

// run runs one action under stepTimeout and returns its value; an error
// fails the test.
func run[T any](b *browser, what string, a chromedp.Action[T]) T {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, stepTimeout)
	defer cancel()
	v, err := chromedp.Run(ctx, a)
	if err != nil {
		b.t.Fatalf("%s: %v", what, err)
	}
	return v
}

// do runs actions that return nothing, under one stepTimeout.
func (b *browser) do(what string, actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	run(b, what, chromedp.Steps(actions...))
}

// open navigates to path on the collector, waits for the page to load and
// returns the response to the document (after any redirect).
func (b *browser) open(path string) *network.Response {
	b.t.Helper()
	return run(b, "open "+path, chromedp.NavigateResponse(b.base+path))
}

// submit runs actions that submit a form (a click), waits for the page the
// form leads to and returns its response.
func (b *browser) submit(what string, actions ...chromedp.Action[chromedp.Void]) *network.Response {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, stepTimeout)
	defer cancel()
	resp, err := chromedp.RunResponse(ctx, actions...)
	if err != nil {
		b.t.Fatalf("%s: %v", what, err)
	}
	return resp
}

// path is the path of the page the tab shows.
func (b *browser) path() string {
	b.t.Helper()
	loc := run(b, "read location", chromedp.Evaluate[string](`location.pathname + location.search`))
	return loc
}

// eval evaluates a JavaScript expression in the page and decodes its value.
func eval[T any](b *browser, what, js string) T {
	b.t.Helper()
	return run(b, what, chromedp.Evaluate[T](js))
}

// text is the rendered text of the page's body.
func (b *browser) text() string {
	b.t.Helper()
	return eval[string](b, "read page text", `document.body ? document.body.innerText : ""`)
}

// cookie returns the browser's cookie called name for the collector, or
// nil. It sees HttpOnly cookies, which the page cannot.
func (b *browser) cookie(name string) *network.Cookie {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, stepTimeout)
	defer cancel()
	res, err := chromedp.Call(ctx, network.GetCookies, network.GetCookiesParams{URLs: []string{b.base + "/"}})
	if err != nil {
		b.t.Fatalf("read cookies: %v", err)
	}
	for _, c := range res.Cookies {
		if c.Name == name {
			return c
		}
	}
	return nil
}

// screenshot saves a full-page PNG of the tab as name.png in t's artifact
// directory, checks that it decodes and is not blank, and returns its size.
// Every page screenshotted is first checked with axe-core (issue #19): a
// serious or critical accessibility violation fails the test.
func (b *browser) screenshot(t *testing.T, name string) image.Point {
	t.Helper()
	b.axe(t, name)
	data := run(b, "screenshot "+name, chromedp.FullScreenshot(100)) // quality 100: PNG
	path := filepath.Join(t.ArtifactDir(), name+".png")
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	img, format, err := image.Decode(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("screenshot %s does not decode: %v", path, err)
	}
	size := img.Bounds().Size()
	t.Logf("screenshot %s: %s (%dx%d, %d bytes)", name, path, size.X, size.Y, len(data))
	if format != "png" || size.X < 800 || size.Y < 200 {
		t.Fatalf("screenshot %s is a %dx%d %s, want a PNG at least 800x200", path, size.X, size.Y, format)
	}
	// A page with text on it has many colours (anti-aliasing); a blank or
	// failed render has one or two.
	colours := map[[4]uint32]bool{}
	for y := img.Bounds().Min.Y; y < img.Bounds().Max.Y && len(colours) < 16; y += 3 {
		for x := img.Bounds().Min.X; x < img.Bounds().Max.X; x += 3 {
			r, g, bl, a := img.At(x, y).RGBA()
			colours[[4]uint32{r, g, bl, a}] = true
		}
	}
	if len(colours) < 16 {
		t.Fatalf("screenshot %s has %d colours: the page did not render", path, len(colours))
	}
	return size
}

// tail keeps the last max bytes written to it; safe for concurrent use.
type tail struct {
	mu  sync.Mutex
	max int
	b   []byte
}

func (w *tail) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.b = append(w.b, p...)
	if over := len(w.b) - w.max; over > 0 {
		w.b = append(w.b[:0], w.b[over:]...)
	}
	return len(p), nil
}

func (w *tail) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return string(w.b)
}
