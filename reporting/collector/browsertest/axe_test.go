package browsertest_test

import (
	_ "embed"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

// axeSource is axe-core (testdata/axe/README.md), injected into the pages
// under test; the collector never serves it.
//
//go:embed testdata/axe/axe.min.js
var axeSource string

// axeViolation is one rule axe-core found broken on a page.
type axeViolation struct {
	ID     string `json:"id"`
	Impact string `json:"impact"`
	Help   string `json:"help"`
	Nodes  []struct {
		Target  []any  `json:"target"`
		Summary string `json:"failureSummary"`
	} `json:"nodes"`
}

// axe runs axe-core on the page the tab shows, against the WCAG 2.0, 2.1
// and 2.2 A and AA rules, and fails t on any serious or critical
// violation; it returns every violation found.
func (b *browser) axe(t *testing.T, page string) []axeViolation {
	t.Helper()
	vs := b.axeRun(t)
	var bad, minor []string
	for _, v := range vs {
		var where []string
		for _, n := range v.Nodes[:min(3, len(v.Nodes))] {
			where = append(where, fmt.Sprint(n.Target)+": "+n.Summary)
		}
		line := fmt.Sprintf("%s (%s, %d elements): %s; %s", v.ID, v.Impact, len(v.Nodes), v.Help, strings.Join(where, " | "))
		if v.Impact == "serious" || v.Impact == "critical" {
			bad = append(bad, line)
		} else {
			minor = append(minor, line)
		}
	}
	t.Logf("axe-core on %s: %d serious or critical violations, %d others%s", page, len(bad), len(minor), strings.Join(append([]string{""}, minor...), "\n  "))
	if len(bad) > 0 {
		t.Errorf("axe-core on %s: serious or critical accessibility violations:\n  %s", page, strings.Join(bad, "\n  "))
	}
	return vs
}

// axeRun runs axe-core on the page and returns its violations.
func (b *browser) axeRun(t *testing.T) []axeViolation {
	t.Helper()
	// Evaluated through the DevTools protocol, which the page's
	// Content-Security-Policy does not govern.
	if !eval[bool](b, "inject axe-core", "(() => { if (!window.axe) { "+axeSource+"\n}; return !!window.axe; })()") {
		t.Fatal("axe-core did not load")
	}
	raw := run(b, "run axe-core", chromedp.Evaluate[string](`axe.run(document, {runOnly: {type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'wcag22aa']}, resultTypes: ['violations']})
		.then(r => JSON.stringify(r.violations))`, chromedp.EvalAwaitPromise))
	var vs []axeViolation
	if err := json.Unmarshal([]byte(raw), &vs); err != nil {
		t.Fatalf("axe-core's answer: %v", err)
	}
	return vs
}

// TestAxeFindsViolations: the check can fail: an image without a text
// alternative and an unlabelled field planted on the sign-in page are
// found as critical violations.
func TestAxeFindsViolations(t *testing.T) {
	_, b := setup(t)
	b.open("/login")
	b.do("plant violations", chromedp.Evaluate[chromedp.Void](`document.querySelector('main').insertAdjacentHTML('beforeend', '<img src="/static/x.png"><input type="text" name="unlabelled">')`))
	found := map[string]string{}
	for _, v := range b.axeRun(t) {
		found[v.ID] = v.Impact
	}
	if found["image-alt"] != "critical" || found["label"] != "critical" {
		t.Fatalf("axe-core found %v, want image-alt and label, critical", found)
	}
	// The check on script errors can fail too.
	b.do("throw", chromedp.Evaluate[chromedp.Void](`setTimeout(() => { throw new Error("planted exception") }, 0)`))
	b.open("/login")
	if errs := b.scriptErrors(); len(errs) != 1 || !strings.Contains(errs[0], "planted exception") {
		t.Fatalf("uncaught exceptions seen: %q, want the planted one", errs)
	}
}
