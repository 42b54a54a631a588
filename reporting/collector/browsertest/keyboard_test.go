package browsertest_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/nhs-steward/steward/reporting/collector"
)

// tabTo presses Tab until the focused element matches the CSS selector,
// at most limit times, and returns how many presses it took.
func (b *browser) tabTo(t *testing.T, selector string, limit int) int {
	t.Helper()
	for i := 1; i <= limit; i++ {
		b.do("press Tab", chromedp.KeyEvent("\t"))
		if eval[bool](b, "check the focus", `!!document.activeElement && document.activeElement.matches(`+jsString(selector)+`)`) {
			return i
		}
	}
	t.Fatalf("%d presses of Tab never reached %s (focus on %s)", limit, selector,
		eval[string](b, "read the focus", `document.activeElement ? document.activeElement.outerHTML.slice(0, 200) : "none"`))
	return 0
}

func jsString(s string) string { return "'" + strings.ReplaceAll(s, "'", `\'`) + "'" }

// TestKeyboardOnlySignOff: a practice manager signs in and declares a
// claim with the keyboard alone: the first Tab reaches the skip link,
// Tab reaches the declaration's checkbox, Space ticks it, Tab reaches the
// button and Enter declares; the success message follows.
func TestKeyboardOnlySignOff(t *testing.T) {
	f, b := setup(t)
	ctx := t.Context()
	calculateSignOff(t, f)
	u := collector.User{Name: "pm", Role: collector.RolePractice, Practice: odsLong, ICB: icbA, SignOff: []string{"practice_manager"}, PasswordHash: passwordHash(t)}
	if _, err := f.db.AddUser(ctx, u, "test"); err != nil {
		t.Fatal(err)
	}
	// Sign in by keyboard: Tab to each field, type, Enter.
	b.open("/login")
	b.tabTo(t, "#name", 30)
	b.do("type the name", chromedp.KeyEvent("pm"))
	b.tabTo(t, "#password", 5)
	b.do("type the password", chromedp.KeyEvent(password))
	if resp := b.submit("press Enter to sign in", chromedp.KeyEvent("\r")); resp.Status != http.StatusOK || b.path() != "/" {
		t.Fatalf("sign in by keyboard: %d at %s", resp.Status, b.path())
	}

	b.open("/practices/" + odsLong)
	if n := b.tabTo(t, "a.nhsuk-skip-link", 1); n != 1 {
		t.Fatalf("the skip link is Tab stop %d, want 1", n)
	}
	section := "#claim-qwe-reviews-2025-26-2025-12"
	presses := b.tabTo(t, section+` input[name="confirm"]`, 200)
	b.do("press Space to tick", chromedp.KeyEvent(" "))
	if !eval[bool](b, "read the checkbox", `document.querySelector('`+section+` input[name="confirm"]').checked`) {
		t.Fatal("Space did not tick the declaration")
	}
	b.tabTo(t, section+` button[value="declared"]`, 3)
	if resp := b.submit("press Enter to declare", chromedp.KeyEvent("\r")); resp.Status != http.StatusOK {
		t.Fatalf("declare by keyboard: %d", resp.Status)
	}
	if got := b.claimState(section); got != "declared" {
		t.Fatalf("after declaring by keyboard the claim is %q", got)
	}
	if msg := b.text(); !strings.Contains(msg, "is declared") {
		t.Fatalf("no success message:\n%s", msg)
	}
	t.Logf("declared with the keyboard alone: %d presses of Tab to the declaration", presses)
	b.screenshot(t, "claim-declared-by-keyboard")
}
