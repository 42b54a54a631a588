package browsertest_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/nhs-steward/steward/reporting/collector"
	"github.com/nhs-steward/steward/reporting/collector/claims"
	"github.com/nhs-steward/steward/reporting/collector/store"
	"github.com/nhs-steward/steward/reporting/schemes"
)

// signOffScheme pays £15 a month for each long-term opioid user reviewed,
// for every practice of ICB A.
const signOffScheme = `version: 1
id: qwe-reviews-2025-26
title: QWE opioid reviews 2025/26
icb: QWE
pack:
  id: medsip
  versions: ">=2026.1.0 <2027.0.0"
baseline: 2023-03-31
periods:
  from: 2025-04
  to: 2026-03
  final_achievement_date: 2026-03-31
  payment_period_end: 2026-06-30
  submission_deadline_days: 10
  late_submissions: pay
practices: all
gateway:
  - id: submitted
    type: submission
elements:
  - id: reviews
    title: Reviews of long-term opioid users
    type: per_patient
    paid: monthly
    count: long_term_reviewed.numerator
    pence_per_patient: 1500
sign_off:
  declare: [practice_manager]
  approve: [icb_medicines_optimisation_lead]
  pay: [icb_finance]
`

// claimState reads the state of the practice page's claim section.
func (b *browser) claimState(section string) string {
	b.t.Helper()
	return eval[string](b, "read the claim's state", `(() => {
		const s = document.querySelector('`+section+` [data-field="claim"]');
		return s ? s.textContent.trim() : "";
	})()`)
}

// calculateSignOff adds the sign-off scheme and calculates its claims for
// December 2025.
func calculateSignOff(t *testing.T, f *fixture) (*claims.Service, *schemes.Scheme, *claims.Outcome) {
	t.Helper()
	ctx := t.Context()
	if err := f.db.AddScheme(ctx, store.StoredScheme{ID: "qwe-reviews-2025-26", YAML: signOffScheme, AddedBy: "test"}); err != nil {
		t.Fatal(err)
	}
	svc := &claims.Service{DB: f.db}
	sc, err := svc.Scheme(ctx, "qwe-reviews-2025-26")
	if err != nil {
		t.Fatal(err)
	}
	out, err := svc.Calculate(ctx, sc, "2025-12", "test")
	if err != nil {
		t.Fatal(err)
	}
	return svc, sc, out
}

// TestSignOffInTheBrowser: the practice manager declares the calculated
// claim with the practice page's button, the ICB's lead sees it declared
// on the overview; new figures arrive while the lead's page is open, so
// the lead's approval is refused and the claim is back at calculated; on
// the fresh page the lead approves.
func TestSignOffInTheBrowser(t *testing.T) {
	f, b := setup(t)
	ctx := t.Context()
	svc, sc, out := calculateSignOff(t, f)
	var mine schemes.PracticeResult
	for _, pr := range out.Rec.Practices {
		if pr.ODS == odsLong {
			mine = pr
		}
	}
	reviewed := seedFor(odsLong).months[len(seedFor(odsLong).months)-1].reviewed
	if mine.State != schemes.Calculated || mine.TotalPence != int64(reviewed)*1500 {
		t.Fatalf("calculated claim = %+v", mine)
	}
	for _, u := range []collector.User{
		{Name: "pm", Role: collector.RolePractice, Practice: odsLong, ICB: icbA, SignOff: []string{"practice_manager"}},
		{Name: "lead", Role: collector.RoleICBAnalyst, ICB: icbA, SignOff: []string{"icb_medicines_optimisation_lead"}},
	} {
		u.PasswordHash = passwordHash(t)
		if _, err := f.db.AddUser(ctx, u, "test"); err != nil {
			t.Fatal(err)
		}
	}
	section := `#claim-qwe-reviews-2025-26-2025-12`
	button := func(to string) chromedp.Action[chromedp.Void] {
		return chromedp.Click(chromedp.CSS(section + ` form.move button[value="` + to + `"]`))
	}

	// The practice manager declares.
	b.signIn("pm", password)
	b.open("/practices/" + odsLong)
	if got := b.claimState(section); got != "calculated" {
		t.Fatalf("practice manager sees the claim %q", got)
	}
	payable := eval[string](b, "read payable", `document.querySelector('`+section+` [data-field="payable"]').textContent`)
	if payable != schemes.FormatPence(mine.TotalPence) {
		t.Fatalf("page shows payable £%s, the store £%s", payable, schemes.FormatPence(mine.TotalPence))
	}
	// Issue #19: the declaration's wording is shown, and declaring without
	// ticking to confirm it is refused with an error summary, nothing
	// declared.
	declaration := eval[string](b, "read the declaration", `document.querySelector('`+section+` [data-field="declaration"]').textContent`)
	if !strings.Contains(declaration, "on behalf of Riverside Surgery ("+odsLong+")") || !strings.Contains(declaration, "£"+schemes.FormatPence(mine.TotalPence)) {
		t.Fatalf("declaration %q", declaration)
	}
	if resp := b.submit("declare unconfirmed", button("declared")); resp.Status != http.StatusUnprocessableEntity ||
		!strings.Contains(b.text(), "Tick the box to confirm the declaration") {
		t.Fatalf("declaring without confirming: %d\n%s", resp.Status, b.text())
	}
	if n := eval[int](b, "find the error summary", `document.querySelectorAll('.nhsuk-error-summary').length`); n != 1 {
		t.Fatalf("%d error summaries", n)
	}
	b.screenshot(t, "claim-declaration-unconfirmed")
	b.open("/practices/" + odsLong)
	if got := b.claimState(section); got != "calculated" {
		t.Fatalf("after an unconfirmed declaration the claim is %q", got)
	}
	b.do("tick the declaration", chromedp.Click(chromedp.CSS(section+` input[name="confirm"]`)))
	// The page after the move names it in its query, for the message.
	if resp := b.submit("declare", button("declared")); resp.Status != http.StatusOK || strings.Split(b.path(), "?")[0] != "/practices/"+odsLong {
		t.Fatalf("declare: %d at %s", resp.Status, b.path())
	}
	if got := b.claimState(section); got != "declared" {
		t.Fatalf("after declaring the claim is %q", got)
	}
	// A success message says what happened.
	if msg := eval[string](b, "read the success message", `(document.querySelector('#success') || {}).textContent || ""`); !strings.Contains(msg, "is declared") {
		t.Fatalf("no success message after declaring: %q", msg)
	}
	b.screenshot(t, "claim-declared")
	b.signOut()

	// The lead sees it declared on the overview and opens the practice.
	b.signIn("lead", password)
	b.open("/?scheme=qwe-reviews-2025-26&period=2025-12")
	cell := func(field string) string {
		return eval[string](b, "read "+field, `document.querySelector('tr[data-ods="`+odsLong+`"] [data-field="`+field+`"]').textContent.trim()`)
	}
	if cell("claim") != "declared" || cell("payable") != schemes.FormatPence(mine.TotalPence) {
		t.Fatalf("overview shows claim %q, payable %q", cell("claim"), cell("payable"))
	}
	b.screenshot(t, "overview-claims")
	b.open("/practices/" + odsLong)

	// Meanwhile the practice's agent resubmits December with one more
	// review: the lead's approval of the page they see is refused.
	last := seedFor(odsLong).months[len(seedFor(odsLong).months)-1]
	last.reviewed++
	body, err := json.Marshal(last.document(odsLong))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.agents[odsLong].Submit(ctx, odsLong+"-"+last.asOf+"-again", body); err != nil {
		t.Fatal(err)
	}
	if resp := b.submit("approve stale figures", button("approved")); resp.Status != http.StatusConflict ||
		!strings.Contains(b.text(), "recalculated since you looked") {
		t.Fatalf("approving stale figures: %d\n%s", resp.Status, b.text())
	}
	b.screenshot(t, "claim-stale")
	b.open("/practices/" + odsLong)
	if got := b.claimState(section); got != "calculated" {
		t.Fatalf("after new figures the claim is %q, want calculated", got)
	}
	history := eval[string](b, "read the claim's history", `document.querySelector('`+section+` table.history').textContent`)
	if !strings.Contains(history, "figures changed: reviews.a 26 -> 27") {
		t.Fatalf("the history does not say why:\n%s", history)
	}
	// The lead holds no declare role: no button to declare for the
	// practice; once the manager declares again, the lead approves.
	if n := eval[int](b, "count buttons", `document.querySelectorAll('`+section+` form.move').length`); n != 0 {
		t.Fatalf("the lead sees %d move buttons on a calculated claim", n)
	}
	// ... and the page says why.
	if why := eval[string](b, "read why", `(document.querySelector('`+section+` [data-field="no-moves"]') || {}).textContent || ""`); !strings.Contains(why, "only practice_manager may") {
		t.Fatalf("no reason for the missing buttons: %q", why)
	}
	pm, err := f.db.UserByName(ctx, "pm")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Move(ctx, claims.MoveRequest{Scheme: sc.ID, Period: "2025-12", Practice: odsLong, To: schemes.Declared}, pm); err != nil {
		t.Fatal(err)
	}
	b.open("/practices/" + odsLong)
	if resp := b.submit("approve", button("approved")); resp.Status != http.StatusOK {
		t.Fatalf("approve: %d\n%s", resp.Status, b.text())
	}
	if got := b.claimState(section); got != "approved" {
		t.Fatalf("after approving the claim is %q", got)
	}
	rec, _, err := svc.Calculated(ctx, sc, "2025-12")
	if err != nil {
		t.Fatal(err)
	}
	for _, pr := range rec.Practices {
		if pr.ODS == odsLong && (pr.State != schemes.Approved || pr.TotalPence != int64(last.reviewed)*1500) {
			t.Fatalf("stored claim = %s, £%s", pr.State, schemes.FormatPence(pr.TotalPence))
		}
	}
	b.screenshot(t, "claim-approved")
}
