package server_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/nhs-steward/steward/reporting/collector"
	"github.com/nhs-steward/steward/reporting/collector/claims"
	"github.com/nhs-steward/steward/reporting/collector/server"
	"github.com/nhs-steward/steward/reporting/collector/store"
	"github.com/nhs-steward/steward/reporting/collector/storetest"
	"github.com/nhs-steward/steward/reporting/wire"
)

// get sends a GET signed by a over an empty body, at signedAt.
func (a *agent) get(t *testing.T, url, path string, signedAt time.Time) (*http.Response, []byte) {
	t.Helper()
	req := mustRequest(t, "GET", url+path, nil)
	wire.Sign(req, a.priv, a.ods, nil, signedAt)
	return do(t, req)
}

// An agent learns which schemes include its practice, with their baseline,
// pack range and periods; a practice reads only its own.
func TestPracticeSchemesAPI(t *testing.T) {
	eachEngine(t, func(t *testing.T, e *env) {
		mine := e.enrolled(t, "Y01001", "QXX")
		e.enrolled(t, "Y01002", "QXX")
		stranger := e.enrolled(t, "Y07777", "QZZ")
		yaml, err := os.ReadFile("../../../schemes/medsip-local-example.yaml")
		if err != nil {
			t.Fatal(err)
		}
		all := strings.NewReplacer("id: example-icb-opioid-mos-2026-27", "id: qxx-all-2025-26",
			"  - Y01001\n  - Y01002\n  - Y01003\n  - Y01004\n", "", "practices:\n", "practices: all\n",
			"baseline: 2026-03-31", "baseline: 2025-03-31", "from: 2026-04", "from: 2025-04", "to: 2027-03", "to: 2026-03",
			"final_achievement_date: 2027-03-31", "final_achievement_date: 2026-03-31", "payment_period_end: 2027-06-30", "payment_period_end: 2026-06-30").Replace(string(yaml))
		for id, text := range map[string]string{"example-icb-opioid-mos-2026-27": string(yaml), "qxx-all-2025-26": all} {
			if err := e.db.AddScheme(ctx, store.StoredScheme{ID: id, YAML: text, AddedBy: "test"}); err != nil {
				t.Fatal(err)
			}
		}
		if err := e.db.RetireScheme(ctx, "qxx-all-2025-26", "test", "year over", time.Now()); err != nil {
			t.Fatal(err)
		}

		resp, body := mine.get(t, e.url, wire.PracticeSchemesPath("Y01001"), time.Now())
		if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "application/json" {
			t.Fatalf("GET own schemes: %d %s", resp.StatusCode, body)
		}
		var got wire.PracticeSchemes
		dec := json.NewDecoder(strings.NewReader(string(body)))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&got); err != nil {
			t.Fatalf("%s: %v", body, err)
		}
		if len(got.Schemes) != 2 {
			t.Fatalf("schemes = %+v", got)
		}
		ex, old := got.Schemes[0], got.Schemes[1]
		if ex.ID != "example-icb-opioid-mos-2026-27" || ex.Baseline != "2026-03-31" || ex.Pack != "medsip" || ex.Versions != ">=2026.1.0 <2027.0.0" ||
			len(ex.Periods) != 12 || ex.Periods[0] != "2026-04" || ex.Periods[11] != "2027-03" || ex.Retired {
			t.Errorf("example scheme = %+v", ex)
		}
		if old.ID != "qxx-all-2025-26" || old.Baseline != "2025-03-31" || !old.Retired || old.Periods[0] != "2025-04" {
			t.Errorf("retired scheme = %+v", old)
		}
		// The field names agents read.
		for _, field := range []string{`"schemes":[`, `"id":`, `"baseline":"2026-03-31"`, `"pack":"medsip"`, `"versions":`, `"periods":["2026-04"`, `"retired":false`, `"retired":true`} {
			if !strings.Contains(string(body), field) {
				t.Errorf("body lacks %s: %s", field, body)
			}
		}
		// A practice in no scheme gets an empty list, not null.
		if resp, body := stranger.get(t, e.url, wire.PracticeSchemesPath("Y07777"), time.Now()); resp.StatusCode != http.StatusOK ||
			strings.TrimSpace(string(body)) != `{"schemes":[]}` {
			t.Fatalf("GET for a practice in no scheme: %d %s", resp.StatusCode, body)
		}

		// Refused: another practice's schemes, unsigned, signed for
		// another path, stale, a body.
		resp, body = mine.get(t, e.url, wire.PracticeSchemesPath("Y01002"), time.Now())
		if p := problem(t, resp, body); resp.StatusCode != http.StatusForbidden || p.Type != server.ProblemForbidden || !strings.Contains(p.Detail, "a practice reads only its own schemes") {
			t.Fatalf("GET another practice's schemes: %d %+v", resp.StatusCode, p)
		}
		resp, body = do(t, mustRequest(t, "GET", e.url+wire.PracticeSchemesPath("Y01001"), nil))
		if p := problem(t, resp, body); resp.StatusCode != http.StatusUnauthorized || p.Type != server.ProblemUnauthorised {
			t.Fatalf("unsigned GET: %d %+v", resp.StatusCode, p)
		}
		req := mustRequest(t, "GET", e.url+wire.PracticeSchemesPath("Y01001"), nil)
		wire.Sign(req, mine.priv, "Y01001", nil, time.Now())
		req.URL.Path = wire.PracticeSchemesPath("Y01002")
		if resp, body := do(t, req); resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("GET with a signature for another path: %d %s", resp.StatusCode, body)
		}
		resp, body = mine.get(t, e.url, wire.PracticeSchemesPath("Y01001"), time.Now().Add(-time.Hour))
		if p := problem(t, resp, body); resp.StatusCode != http.StatusUnauthorized || p.Type != server.ProblemStale {
			t.Fatalf("stale GET: %d %+v", resp.StatusCode, p)
		}
		req = mustRequest(t, "GET", e.url+wire.PracticeSchemesPath("Y01001"), []byte("{}"))
		wire.Sign(req, mine.priv, "Y01001", []byte("{}"), time.Now())
		if resp, body := do(t, req); resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(body), "takes no body") {
			t.Fatalf("GET with a body: %d %s", resp.StatusCode, body)
		}
	})
}

// atClock serves e's store again with the clock at now (for pages only:
// agents' signatures are checked against it).
func (e *env) atClock(t *testing.T, now time.Time) *env {
	t.Helper()
	srv := server.New(server.Options{Store: e.db, Claims: &claims.Service{DB: e.db}, Logger: quiet, Now: func() time.Time { return now }})
	ts := httptest.NewServer(srv.Handler())
	t.Cleanup(ts.Close)
	return &env{db: e.db, url: ts.URL}
}

// summary returns the overview's scheme summary line, tags removed.
func summary(page string) string {
	m := regexp.MustCompile(`(?s)<p id="scheme-summary">(.*?)</p>`).FindStringSubmatch(page)
	if m == nil {
		return "(none)"
	}
	return strings.Join(strings.Fields(regexp.MustCompile(`<[^>]*>`).ReplaceAllString(m[1], "")), " ")
}

// The overview opens on the latest period whose month has ended by the
// collector's clock, never one still running, even when a later period
// has been calculated. A claim with nothing payable shows closed, and its
// page offers no sign-off.
func TestOverviewOpensOnLatestEndedPeriod(t *testing.T) {
	eachEngine(t, func(t *testing.T, e *env) {
		e.enrolled(t, "Y01001", "QXX")
		svc, sc := e.calculatedMarch(t) // March 2027, the final period
		analyst := e.tokenFor(t, collector.User{Name: "ana", Role: collector.RoleICBAnalyst, ICB: "QXX"})
		pm := e.tokenFor(t, collector.User{Name: "pm", Role: collector.RolePractice, ICB: "QXX", Practice: "Y01001", SignOff: []string{"practice_manager"}})

		december := e.atClock(t, time.Date(2026, 12, 4, 18, 0, 0, 0, time.UTC))
		_, body := december.getAs(t, analyst, "/")
		if got, want := summary(string(body)), sc.Title+": 2026-11, the latest month that has ended, is not calculated yet (steward-collector reconcile --scheme "+sc.ID+" --period 2026-11)."; got != want {
			t.Fatalf("overview in December before November is calculated:\n%s\nwant\n%s", got, want)
		}
		if strings.Contains(string(body), `data-field="payable"`) {
			t.Fatal("the overview shows the unfinished March's payments")
		}

		// November's figures arrive and are calculated: nothing is payable
		// before the final period, so the claim is closed.
		if _, err := e.db.Ingest(ctx, storetest.MedsipSubmission(t, "Y01001", "nov", "2026-11-30", time.Date(2026, 12, 2, 9, 0, 0, 0, time.UTC),
			storetest.MedsipFigures{Reviewed: 28, LongTerm: 40, Stopped: 4, HighDoseBaseline: 10})); err != nil {
			t.Fatal(err)
		}
		if _, err := svc.Calculate(ctx, sc, "2026-11", "test"); err != nil {
			t.Fatal(err)
		}
		_, body = december.getAs(t, analyst, "/")
		page := string(body)
		if got := summary(page); !strings.HasPrefix(got, sc.Title+", November 2026 (figures as of November 2026") || !strings.Contains(got, "0 declared") || !strings.Contains(got, "1 closed with nothing payable") {
			t.Fatalf("overview in December: %s", got)
		}
		if got := cell(t, page, "Y01001", "claim"); got != "closed" {
			t.Fatalf("Y01001's claim = %q, want closed", got)
		}
		if got := cell(t, page, "Y01001", "payable"); got != "0.00" {
			t.Fatalf("Y01001 payable = %q", got)
		}
		// The practice manager sees the closed claim, why, and no button.
		_, body = december.getAs(t, pm, "/practices/Y01001")
		section := regexp.MustCompile(`(?s)<section class="claim[^"]*" id="claim-` + sc.ID + `-2026-11".*?</section>`).FindString(string(body))
		if section == "" || strings.Contains(section, "Mark ") || strings.Contains(section, `action="/claims/move"`) ||
			!strings.Contains(section, `data-field="claim">closed`) || !strings.Contains(section, "Closed: nothing to sign off (nothing payable: no element is payable in 2026-11") {
			t.Fatalf("practice page's November claim:\n%s", section)
		}
		// March, still to come, offers its buttons only when asked for.
		if !strings.Contains(string(body), `value="declared">Declare the claim`) {
			t.Fatalf("the payable March claim offers no declare button:\n%s", body)
		}

		// After the scheme year the overview opens on its last period.
		_, body = e.atClock(t, time.Date(2027, 6, 1, 0, 0, 0, 0, time.UTC)).getAs(t, analyst, "/")
		if got := summary(string(body)); !strings.HasPrefix(got, sc.Title+", March 2027 (figures as of March 2027") {
			t.Fatalf("overview after the year: %s", got)
		}
		// Before its first month has ended there is nothing to open on.
		_, body = e.atClock(t, time.Date(2026, 4, 30, 23, 59, 0, 0, time.UTC)).getAs(t, analyst, "/")
		if got := summary(string(body)); got != sc.Title+": no month of it has ended yet (its first period is 2026-04); choose a calculated period above." {
			t.Fatalf("overview before the first month ended: %s", got)
		}
	})
}

// A move posted from a page drawn before the scheme was retired is a
// conflict with the reason, not a server error.
func TestMoveOnRetiredScheme(t *testing.T) {
	eachEngine(t, func(t *testing.T, e *env) {
		e.enrolled(t, "Y01001", "QXX")
		_, sc := e.calculatedMarch(t)
		pm := e.tokenFor(t, collector.User{Name: "pm", Role: collector.RolePractice, ICB: "QXX", Practice: "Y01001", SignOff: []string{"practice_manager"}})
		if err := e.db.RetireScheme(ctx, sc.ID, "test", "replaced", time.Now()); err != nil {
			t.Fatal(err)
		}
		resp, body := e.postAs(t, pm, "/claims/move", map[string][]string{"scheme": {sc.ID}, "period": {"2027-03"}, "practice": {"Y01001"},
			"to": {"declared"}, "version": {"1"}, "confirm": {"yes"}})
		if resp.StatusCode != http.StatusConflict || !strings.Contains(string(body), "retired") {
			t.Fatalf("move on a retired scheme = %d %s", resp.StatusCode, body)
		}
		// Its claims are no longer on the practice page.
		if _, body := e.getAs(t, pm, "/practices/Y01001"); strings.Contains(string(body), `id="claim-`+sc.ID) {
			t.Fatal("the practice page shows a retired scheme's claims")
		}
	})
}
