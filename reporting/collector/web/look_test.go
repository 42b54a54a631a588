package web

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/nhs-steward/steward/reporting/collector"
	"github.com/nhs-steward/steward/reporting/schemes"
)

// The NHS.UK frontend is served by the collector itself, to anyone (the
// sign-in page needs it); nothing outside static/ is reachable.
func TestStaticFiles(t *testing.T) {
	_, _, h := newFake(t)
	for path, ctype := range map[string]string{
		"/static/nhsuk-frontend/nhsuk.min.css": "text/css; charset=utf-8",
		"/static/nhsuk-frontend/nhsuk.min.js":  "text/javascript; charset=utf-8",
		"/static/steward.css":                  "text/css; charset=utf-8",
	} {
		rec := serve(h, httptest.NewRequest("GET", path, nil))
		if rec.Code != http.StatusOK || rec.Header().Get("Content-Type") != ctype || rec.Body.Len() < 500 {
			t.Errorf("GET %s = %d %q (%d bytes), want 200 %s", path, rec.Code, rec.Header().Get("Content-Type"), rec.Body.Len(), ctype)
		}
	}
	for _, path := range []string{"/static/", "/static/nhsuk-frontend", "/static/nope.css", "/static/../web.go", "/static/%2e%2e/web.go", "/static/nhsuk-frontend/../../templates/layout.html"} {
		if rec := serve(h, httptest.NewRequest("GET", path, nil)); rec.Code == http.StatusOK {
			t.Errorf("GET %s = 200, want refused", path)
		}
	}
}

// Every page: the CSP allows nothing from elsewhere and no inline script
// or style; the header names the service and the user's ICB; there is a
// skip link.
func TestPageChrome(t *testing.T) {
	f, _, h := newFake(t)
	rec := get(t, h, f, 1, "/")
	if got := rec.Header().Get("Content-Security-Policy"); got != ContentSecurityPolicy || strings.Contains(got, "unsafe-inline") || strings.Contains(got, "http") {
		t.Errorf("CSP %q", got)
	}
	body := rec.Body.String()
	for _, want := range []string{`<a class="nhsuk-skip-link" href="#maincontent">Skip to main content</a>`, `data-field="service">` + DefaultServiceName + `<`,
		`data-field="icb">Integrated care board QWE<`, `id="maincontent"`, `href="/static/nhsuk-frontend/nhsuk.min.css"`, `href="/help"`} {
		if !strings.Contains(body, want) {
			t.Errorf("the overview lacks %s", want)
		}
	}
	if strings.Contains(body, "<style") || strings.Contains(body, " style=") {
		t.Error("an inline style, which the CSP refuses")
	}
	if rec := get(t, h, f, 1, "/help"); rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), "Making Data Count") {
		t.Errorf("GET /help = %d", rec.Code)
	}
}

// Why a user has no sign-off button: a misspelt role, a role of the wrong
// step, another practice, nothing payable, paid.
func TestNoMovesWhy(t *testing.T) {
	sc := &schemes.Scheme{ICB: "QWE", Title: "S", SignOff: schemes.SignOff{Declare: []string{"practice_manager"}, Approve: []string{"icb_lead"}, Pay: []string{"icb_finance"}}}
	calc := schemes.Claim{Practice: "Y01111", State: schemes.Calculated}
	for _, c := range []struct {
		u     collector.User
		claim schemes.Claim
		pence int64
		want  []string
	}{
		{collector.User{ICB: "QWE", Practice: "Y01111", SignOff: []string{"practise_manager"}}, calc, 100,
			[]string{"You cannot declare this claim: only practice_manager may, and your sign-off roles are practise_manager.", "The scheme names no role practise_manager", "misspelling"}},
		{collector.User{ICB: "QWE", SignOff: []string{"icb_lead"}}, calc, 100, []string{"only practice_manager may, and your sign-off roles are icb_lead."}},
		{collector.User{ICB: "QWE"}, schemes.Claim{Practice: "Y01111", State: schemes.Declared}, 100, []string{"You cannot approve this claim: only icb_lead may, and you have no sign-off role."}},
		{collector.User{ICB: "QWE", Practice: "Y02222", SignOff: []string{"practice_manager"}}, calc, 100, []string{"only someone of the practice itself may, and you are not of Y01111."}},
		{collector.User{ICB: "QWE", Practice: "Y01111", SignOff: []string{"practice_manager"}}, calc, 0, []string{"Nothing is payable on this claim"}},
		{collector.User{ICB: "QWE", SignOff: []string{"icb_finance"}}, schemes.Claim{State: schemes.Paid}, 100, []string{"This claim is paid"}},
		{collector.User{ICB: "QXY", SignOff: []string{"icb_lead"}}, schemes.Claim{State: schemes.Declared}, 100, []string{"you are not of the scheme's ICB, QWE."}},
	} {
		got := noMovesWhy(sc, &c.u, c.claim, c.pence)
		for _, w := range c.want {
			if !strings.Contains(got, w) {
				t.Errorf("%+v on %s: %q lacks %q", c.u, c.claim.State, got, w)
			}
		}
	}
	d := DeclarationText(&schemes.Scheme{Title: "QWE reviews"}, collector.Practice{ODS: "Y01111", Name: "Riverside"}, "2025-12", 123456)
	for _, w := range []string{"on behalf of Riverside (Y01111)", "QWE reviews for December 2025", "£1,234.56", "true record"} {
		if !strings.Contains(d, w) {
			t.Errorf("declaration %q lacks %q", d, w)
		}
	}
	// A scheme's own wording, with its placeholders filled in.
	own := &schemes.Scheme{Title: "QWE reviews", SignOff: schemes.SignOff{
		Declaration: "{practice} ({ods}) declares {amount} under {scheme} for {period}."}}
	if got, want := DeclarationText(own, collector.Practice{ODS: "Y01111", Name: "Riverside"}, "2025-12", 123456),
		"Riverside (Y01111) declares £1,234.56 under QWE reviews for December 2025."; got != want {
		t.Errorf("scheme's declaration = %q, want %q", got, want)
	}
}

// The ICB view renders whole for an analyst (a template error would cut
// the page short) and is refused to a practice user.
func TestICBViewRenders(t *testing.T) {
	f, _, h := newFake(t)
	addSeries(t, f, "Y01111", 18)
	rec := get(t, h, f, 1, "/icb")
	body := rec.Body.String()
	if rec.Code != http.StatusOK || !strings.HasSuffix(strings.TrimSpace(body), "</html>") {
		t.Fatalf("GET /icb = %d, complete page: %v", rec.Code, strings.HasSuffix(strings.TrimSpace(body), "</html>"))
	}
	for _, m := range ICBMeasures {
		if !strings.Contains(body, `id="icb-`+m.ID+`"`) {
			t.Errorf("no section for %s", m.ID)
		}
	}
	if !strings.Contains(body, `class="funnel-chart"`) || !strings.Contains(body, `class="ranked-chart"`) {
		t.Error("no funnel plot or ranking")
	}
	if rec := get(t, h, f, 1, "/icb?pcn=Nowhere"); rec.Code != http.StatusBadRequest {
		t.Errorf("unknown PCN = %d", rec.Code)
	}
	// The ICB's run chart as a table and as CSV: the sums of the practices'
	// figures, month by month.
	if !strings.Contains(body, `href="/icb/series/long_term_reviewed?icb=QWE&amp;pcn="`) || !strings.Contains(body, `class="nhsuk-table icb-series"`) {
		t.Error("the ICB's run chart has no data table or CSV link")
	}
	rec = get(t, h, f, 1, "/icb/series/long_term_reviewed?icb=QWE")
	if rec.Code != http.StatusOK || !strings.HasPrefix(rec.Header().Get("Content-Type"), "text/csv") {
		t.Fatalf("GET /icb/series/long_term_reviewed = %d %s", rec.Code, rec.Header().Get("Content-Type"))
	}
	lines := strings.Split(strings.TrimSpace(rec.Body.String()), "\n")
	if len(lines) != 19 || lines[0] != "icb,pcn,pack,measure,as_of,numerator_sum,denominator_sum,value" {
		t.Fatalf("CSV has %d lines, header %q; want 18 months", len(lines), lines[0])
	}
	// The first month of addSeries: 20 reviewed of 40 long-term users.
	if want := "QWE,," + DefaultPack + ",long_term_reviewed,2024-01-31,20,40,0.5"; lines[1] != want {
		t.Errorf("first month %q, want %q", lines[1], want)
	}
	if rec := get(t, h, f, 1, "/icb/series/nonsense"); rec.Code != http.StatusNotFound {
		t.Errorf("unknown measure = %d", rec.Code)
	}
	if rec := get(t, h, f, 1, "/icb/series/long_term?pcn=Nowhere"); rec.Code != http.StatusBadRequest {
		t.Errorf("ICB series for an unknown PCN = %d", rec.Code)
	}
}

// A suppressed stratum is never shown as zero.
func TestEquityCellText(t *testing.T) {
	for _, c := range []struct {
		cell EquityCell
		want string
	}{
		{EquityCell{Published: 0, Suppressed: 2, Reporting: 2}, "suppressed"},
		{EquityCell{Published: 15, Suppressed: 1, Reporting: 2}, "at least 15"},
		{EquityCell{Published: 0, Reporting: 2}, "0"},
		{EquityCell{Published: 1234, Reporting: 3}, "1,234"},
		{EquityCell{}, "—"},
	} {
		if got := c.cell.Text(); got != c.want {
			t.Errorf("%+v: %q, want %q", c.cell, got, c.want)
		}
	}
	f, _, h := newFake(t)
	addSeries(t, f, "Y01111", 3)
	if rec := get(t, h, f, 1, "/equity"); rec.Code != http.StatusOK || !strings.HasSuffix(strings.TrimSpace(rec.Body.String()), "</html>") {
		t.Errorf("GET /equity = %d", rec.Code)
	}
}

// A practice user has no ICB view or equity view, in the header or by
// address; an analyst of one ICB may not choose another's.
func TestICBViewsAreForICBStaff(t *testing.T) {
	f, _, h := newFake(t)
	f.users["pam"] = collector.User{ID: 4, Name: "pam", Role: collector.RolePractice, ICB: "QWE", Practice: "Y01111"}
	body := get(t, h, f, 4, "/practices/Y01111").Body.String()
	if strings.Contains(body, `href="/icb"`) || strings.Contains(body, `href="/equity"`) {
		t.Error("a practice user's header links the ICB views")
	}
	for _, path := range []string{"/icb", "/equity"} {
		if rec := get(t, h, f, 4, path); rec.Code != http.StatusForbidden {
			t.Errorf("GET %s as a practice user = %d, want 403", path, rec.Code)
		}
		if rec := get(t, h, f, 1, path+"?icb=QXY"); rec.Code != http.StatusBadRequest || strings.Contains(rec.Body.String(), "Hilltop") {
			t.Errorf("GET %s?icb=QXY as an analyst of QWE = %d, want 400", path, rec.Code)
		}
		if rec := get(t, h, f, 2, path+"?icb=QXY"); rec.Code != http.StatusOK {
			t.Errorf("GET %s?icb=QXY as an administrator = %d", path, rec.Code)
		}
	}
}
