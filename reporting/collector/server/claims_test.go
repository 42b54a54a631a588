package server_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/nhs-steward/steward/reporting/collector"
	"github.com/nhs-steward/steward/reporting/collector/claims"
	"github.com/nhs-steward/steward/reporting/collector/store"
	"github.com/nhs-steward/steward/reporting/collector/storetest"
	"github.com/nhs-steward/steward/reporting/schemes"
	"github.com/nhs-steward/steward/reporting/wire"
)

// cell returns the text of the cell data-field=field in the overview row
// of practice ods.
func cell(t *testing.T, page, ods, field string) string {
	t.Helper()
	row := regexp.MustCompile(`(?s)<tr data-ods="` + ods + `"[^>]*>(.*?)</tr>`).FindStringSubmatch(page)
	if row == nil {
		return "(no row)"
	}
	m := regexp.MustCompile(`(?s)data-field="` + field + `"[^>]*>(.*?)</td>`).FindStringSubmatch(row[1])
	if m == nil {
		return "(no cell)"
	}
	return strings.TrimSpace(m[1])
}

// movedTo reports whether a form post was answered by a redirect to path
// (the client follows it).
func movedTo(resp *http.Response, path string) bool {
	return resp.StatusCode == http.StatusOK && resp.Request.Method == "GET" && resp.Request.URL.Path == path
}

// calculatedMarch adds the example scheme, stores Y01001's March 2027
// figures (on time) and declaration, and calculates March. The figures are
// stored directly: signed submission over HTTP is tested elsewhere.
func (e *env) calculatedMarch(t *testing.T) (*claims.Service, *schemes.Scheme) {
	t.Helper()
	yaml, err := os.ReadFile("../../../schemes/medsip-local-example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if err := e.db.AddScheme(ctx, store.StoredScheme{ID: "example-icb-opioid-mos-2026-27", YAML: string(yaml), AddedBy: "test"}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.db.Ingest(ctx, storetest.MedsipSubmission(t, "Y01001", "k1", "2027-03-31", time.Date(2027, 4, 5, 9, 0, 0, 0, time.UTC),
		storetest.MedsipFigures{Reviewed: 30, LongTerm: 40, Stopped: 5, HighDoseBaseline: 10})); err != nil {
		t.Fatal(err)
	}
	if err := e.db.RecordDeclaration(ctx, store.Declaration{Scheme: "example-icb-opioid-mos-2026-27", Practice: "Y01001",
		Declaration: "opioid_lead_named", FromPeriod: "2026-04", Made: true, RecordedAt: time.Now(), RecordedBy: "test"}); err != nil {
		t.Fatal(err)
	}
	svc := &claims.Service{DB: e.db}
	sc, err := svc.Scheme(ctx, "example-icb-opioid-mos-2026-27")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Calculate(ctx, sc, "2027-03", "test"); err != nil {
		t.Fatal(err)
	}
	return svc, sc
}

func (e *env) postAs(t *testing.T, tok, path string, form url.Values) (*http.Response, []byte) {
	t.Helper()
	req := mustRequest(t, "POST", e.url+path, []byte(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Authorization", "Bearer "+tok)
	return do(t, req)
}

// The overview shows each practice's agent status, latest figures, and
// the selected scheme's payment and claim state; the practice page offers
// each user the moves their sign-off roles allow, and the moves land.
func TestOverviewAndClaimMoves(t *testing.T) {
	eachEngine(t, func(t *testing.T, e *env) {
		a := e.enrolled(t, "Y01001", "QXX")
		e.addPractice(t, "Y01002", "QXX", time.Hour)
		e.addPractice(t, "Y07777", "QZZ", time.Hour)
		hb, _ := json.Marshal(wire.Heartbeat{Practice: "Y01001", AgentVersion: "1.0.0", Pending: 2, SentAt: time.Now().UTC().Format(time.RFC3339)})
		if resp, body := a.post(t, e.url, wire.PathHeartbeats, "", hb, time.Now()); resp.StatusCode != http.StatusNoContent {
			t.Fatalf("heartbeat: %d %s", resp.StatusCode, body)
		}
		svc, sc := e.calculatedMarch(t)

		analyst := e.tokenFor(t, collector.User{Name: "ana", Role: collector.RoleICBAnalyst, ICB: "QXX"})
		lead := e.tokenFor(t, collector.User{Name: "lead", Role: collector.RoleICBAnalyst, ICB: "QXX", SignOff: []string{"icb_medicines_optimisation_lead"}})
		pm := e.tokenFor(t, collector.User{Name: "pm", Role: collector.RolePractice, ICB: "QXX", Practice: "Y01001", SignOff: []string{"practice_manager"}})
		outsider := e.tokenFor(t, collector.User{Name: "zed", Role: collector.RoleICBAnalyst, ICB: "QZZ", SignOff: []string{"icb_medicines_optimisation_lead"}})

		// March 2027 is asked for: by default the overview opens on the
		// latest month that has ended by the clock (TestOverviewOpensOnLatestEndedPeriod).
		resp, body := e.getAs(t, analyst, "/?period=2027-03")
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("overview: %d %s", resp.StatusCode, body)
		}
		page := string(body)
		for _, c := range []struct{ ods, field, want string }{
			{"Y01001", "status", "ok"},
			{"Y01001", "as_of", `<time datetime="2027-03-31">March 2027</time>`},
			{"Y01001", "long_term", "40"},
			{"Y01001", "long_term_reviewed", "75.0%"},
			{"Y01001", "gateway", "pass"},
			// March is the final period: all payable; no list size was
			// recorded, so the points element pays nothing.
			{"Y01001", "payable", "700.00"},
			{"Y01001", "indicative", "0.00"},
			{"Y01001", "claim", "calculated"},
			{"Y01002", "status", "not enrolled"},
			{"Y01002", "long_term", "—"},
			{"Y01002", "gateway", "missing"},
			{"Y01002", "claim", "open"},
		} {
			if got := cell(t, page, c.ods, c.field); got != c.want {
				t.Errorf("overview %s %s = %q, want %q", c.ods, c.field, got, c.want)
			}
		}
		if strings.Contains(page, "Y07777") {
			t.Error("overview shows another ICB's practice")
		}
		if !strings.Contains(page, "1 reporting") || !strings.Contains(page, "1 not enrolled") {
			t.Errorf("overview summary wrong:\n%s", page)
		}

		// Only the practice's own manager sees a declare button.
		move := func(tok, to string, version string) (*http.Response, []byte) {
			return e.postAs(t, tok, "/claims/move", url.Values{"scheme": {sc.ID}, "period": {"2027-03"}, "practice": {"Y01001"},
				"to": {to}, "version": {version}, "confirm": {"yes"}}) // declaring needs the declaration confirmed (issue #19)
		}
		_, body = e.getAs(t, pm, "/practices/Y01001")
		if !strings.Contains(string(body), `value="declared">Declare the claim`) {
			t.Fatalf("practice manager sees no declare button:\n%s", body)
		}
		_, body = e.getAs(t, analyst, "/practices/Y01001")
		if strings.Contains(string(body), `class="move"`) || !strings.Contains(string(body), `data-field="claim">calculated`) {
			t.Fatalf("analyst without sign-off role sees move buttons or no claim:\n%s", body)
		}
		if resp, body := move(analyst, "declared", "1"); resp.StatusCode != http.StatusForbidden || !strings.Contains(string(body), "needs one of") {
			t.Fatalf("analyst declaring = %d %s", resp.StatusCode, body)
		}
		if resp, _ := move(outsider, "approved", "1"); resp.StatusCode != http.StatusNotFound {
			t.Fatalf("another ICB's lead = %d", resp.StatusCode)
		}
		if resp, body := move(pm, "declared", "1"); !movedTo(resp, "/practices/Y01001") {
			t.Fatalf("declare = %d %s", resp.StatusCode, body)
		}
		if resp, _ := move(pm, "declared", "1"); resp.StatusCode != http.StatusConflict {
			t.Fatalf("declaring twice = %d", resp.StatusCode)
		}

		// New figures after the declaration: the claim goes back to
		// calculated, and the lead approving what they saw is refused.
		if _, err := e.db.Ingest(ctx, storetest.MedsipSubmission(t, "Y01001", "k2", "2027-03-31", time.Date(2027, 4, 6, 9, 0, 0, 0, time.UTC),
			storetest.MedsipFigures{Reviewed: 35, LongTerm: 40, Stopped: 5, HighDoseBaseline: 10})); err != nil {
			t.Fatal(err)
		}
		if resp, body := move(lead, "approved", "1"); resp.StatusCode != http.StatusConflict || !strings.Contains(string(body), "recalculated since you looked") {
			t.Fatalf("approving stale figures = %d %s", resp.StatusCode, body)
		}
		rec, version, err := svc.Calculated(ctx, sc, "2027-03")
		if err != nil || version != 2 || rec.Practices[0].State != schemes.Calculated {
			t.Fatalf("after new figures: version %d, %+v, %v", version, rec.Practices[0].State, err)
		}
		_, body = e.getAs(t, analyst, "/practices/Y01001")
		if !strings.Contains(string(body), "figures changed: lt_reviews.a 30 -&gt; 35") {
			t.Fatalf("practice page history lacks the reason:\n%s", body)
		}
		if resp, body := move(pm, "declared", "2"); !movedTo(resp, "/practices/Y01001") {
			t.Fatalf("declare again = %d %s", resp.StatusCode, body)
		}
		if resp, body := move(lead, "approved", "2"); !movedTo(resp, "/practices/Y01001") {
			t.Fatalf("approve = %d %s", resp.StatusCode, body)
		}
		resp, body = e.getAs(t, analyst, "/?period=2027-03")
		if got := cell(t, string(body), "Y01001", "claim"); resp.StatusCode != http.StatusOK || got != "approved" {
			t.Fatalf("overview claim after approval = %q", got)
		}
	})
}

// A paid claim keeps the amount paid; figures that change after payment
// show beside it, and the approver may not also pay.
func TestPaidClaimOnThePage(t *testing.T) {
	eachEngine(t, func(t *testing.T, e *env) {
		e.enrolled(t, "Y01001", "QXX")
		at := time.Date(2027, 4, 5, 9, 0, 0, 0, time.UTC)
		svc, sc := e.calculatedMarch(t)
		pm := e.tokenFor(t, collector.User{Name: "pm", Role: collector.RolePractice, ICB: "QXX", Practice: "Y01001", SignOff: []string{"practice_manager"}})
		both := e.tokenFor(t, collector.User{Name: "both", Role: collector.RoleICBAnalyst, ICB: "QXX", SignOff: []string{"icb_medicines_optimisation_lead", "icb_finance"}})
		finance := e.tokenFor(t, collector.User{Name: "fin", Role: collector.RoleICBAnalyst, ICB: "QXX", SignOff: []string{"icb_finance"}})
		move := func(tok, to string) (*http.Response, []byte) {
			return e.postAs(t, tok, "/claims/move", url.Values{"scheme": {sc.ID}, "period": {"2027-03"}, "practice": {"Y01001"}, "to": {to}, "version": {"1"}, "confirm": {"yes"}})
		}
		for _, m := range []struct{ tok, to string }{{pm, "declared"}, {both, "approved"}} {
			if resp, body := move(m.tok, m.to); !movedTo(resp, "/practices/Y01001") {
				t.Fatalf("%s: %d %s", m.to, resp.StatusCode, body)
			}
		}
		if resp, body := move(both, "paid"); resp.StatusCode != http.StatusForbidden || !strings.Contains(string(body), "separation of duties") {
			t.Fatalf("approver paying = %d %s", resp.StatusCode, body)
		}
		if resp, body := move(finance, "paid"); !movedTo(resp, "/practices/Y01001") {
			t.Fatalf("pay: %d %s", resp.StatusCode, body)
		}
		_, body := e.getAs(t, finance, "/practices/Y01001")
		if !strings.Contains(string(body), `£<span data-field="paid">700.00</span>`) || strings.Contains(string(body), "paid-differs") {
			t.Fatalf("paid claim on the page:\n%s", body)
		}
		// A late resubmission after payment.
		if _, err := e.db.Ingest(ctx, storetest.MedsipSubmission(t, "Y01001", "k2", "2027-03-31", at.Add(time.Hour),
			storetest.MedsipFigures{Reviewed: 35, LongTerm: 40, Stopped: 5, HighDoseBaseline: 10})); err != nil {
			t.Fatal(err)
		}
		if _, err := svc.RecalculateAll(ctx); err != nil {
			t.Fatal(err)
		}
		_, body = e.getAs(t, finance, "/practices/Y01001")
		if !strings.Contains(string(body), `data-field="claim">paid`) || !strings.Contains(string(body), `data-field="paid-differs"`) ||
			!strings.Contains(string(body), `£<span data-field="payable">775.00</span>`) {
			t.Fatalf("paid claim after new figures:\n%s", body)
		}
		// A practice user sees no ICB totals on the overview.
		_, body = e.getAs(t, pm, "/")
		if strings.Contains(string(body), "payable-total") {
			t.Fatalf("practice user sees the scheme's totals:\n%s", body)
		}
	})
}
