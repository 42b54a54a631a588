package browsertest_test

import (
	"maps"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/nhs-steward/steward/reporting/collector"
	"github.com/nhs-steward/steward/reporting/collector/auth"
	"github.com/nhs-steward/steward/reporting/collector/web"
)

// signIn fills in and submits the sign-in form and returns the response to
// the page it leads to.
func (b *browser) signIn(name, pw string) *network.Response {
	b.t.Helper()
	b.open("/login")
	b.do("fill in the sign-in form",
		chromedp.SendKeys(chromedp.CSS(`input[name="name"]`), name),
		chromedp.SendKeys(chromedp.CSS(`input[name="password"]`), pw),
	)
	return b.submit("sign in as "+name, chromedp.Click(chromedp.CSS(`form[action="/login"] button[type="submit"]`)))
}

// signOut presses the header's sign-out button.
func (b *browser) signOut() *network.Response {
	b.t.Helper()
	return b.submit("sign out", chromedp.Click(chromedp.CSS(`form[action="/logout"] button[type="submit"]`)))
}

// signedInAs is the header's account line, "" when nobody is signed in.
func (b *browser) signedInAs() string {
	b.t.Helper()
	return eval[string](b, "read the header", `(() => {
		const f = document.querySelector('header form[action="/logout"]');
		if (!f || !f.querySelector('button[type="submit"]')) return "";
		return f.querySelector('span').textContent.trim();
	})()`)
}

// TestSignIn signs in through the form in Chromium: signed out, the
// dashboard sends the browser to the form; a wrong password shows the error
// and starts no session; the right one lands on the overview, signed in,
// with an HttpOnly, SameSite=Strict session cookie.
func TestSignIn(t *testing.T) {
	f, b := setup(t)

	if resp := b.open("/"); resp.Status != http.StatusOK || b.path() != "/login" {
		t.Fatalf("signed out, / gave %d at %s, want the sign-in form at /login", resp.Status, b.path())
	}
	b.screenshot(t, "login")

	resp := b.signIn(analyst, "not the password at all")
	if resp.Status != http.StatusUnauthorized || b.path() != "/login" {
		t.Fatalf("wrong password: %d at %s, want 401 at /login", resp.Status, b.path())
	}
	if got, want := run(b, "read the error", chromedp.Text(chromedp.CSS(`p.error[role="alert"]`))), "The name or password is wrong."; got != want {
		t.Fatalf("wrong password: error %q, want %q", got, want)
	}
	if c := b.cookie(web.SessionCookie); c != nil {
		t.Fatalf("wrong password: the browser has a session cookie %+v", c)
	}
	if who := b.signedInAs(); who != "" {
		t.Fatalf("wrong password: the header says signed in as %q", who)
	}
	b.screenshot(t, "login-error")

	resp = b.signIn(analyst, password)
	if resp.Status != http.StatusOK || b.path() != "/" {
		t.Fatalf("sign in: %d at %s, want 200 at /", resp.Status, b.path())
	}
	if got, want := b.signedInAs(), analyst+" (icb_analyst, "+icbA+")"; got != want {
		t.Fatalf("signed in as %q, want %q", got, want)
	}
	c := b.cookie(web.SessionCookie)
	if c == nil {
		t.Fatal("signed in, but the browser has no session cookie")
	}
	if !c.HTTPOnly || c.SameSite != network.CookieSameSiteStrict || c.Secure || c.Path != "/" || len(c.Value) < 40 {
		t.Fatalf("session cookie %+v: want HttpOnly, SameSite=Strict, not Secure (plain http), Path=/ and a long random value", c)
	}
	if _, u, err := f.db.Session(t.Context(), auth.HashSecret(c.Value), time.Now()); err != nil || u.Name != analyst {
		t.Fatalf("the store's session for the cookie: user %q, %v; want %s", u.Name, err, analyst)
	}
	// Signed in, the sign-in form sends the browser on to the overview.
	if b.open("/login"); b.path() != "/" {
		t.Fatalf("signed in, /login went to %s, want /", b.path())
	}
}

// TestOverviewShowsOnlyOwnICB: an ICB analyst's overview lists the
// practices of the ICB and no other; another ICB's practice, opened by its
// URL, is refused with nothing of it shown. The admin sees every ICB.
func TestOverviewShowsOnlyOwnICB(t *testing.T) {
	f, b := setup(t)
	b.signIn(analyst, password)
	checkOverview(t, b, f, []string{odsLong, odsShort}, []string{odsOther})
	b.screenshot(t, "overview")

	other := seedFor(odsOther)
	last := other.months[len(other.months)-1].asOf
	for _, path := range []string{"/practices/" + odsOther, "/v1/practices/" + odsOther + "/measure-reports/" + last} {
		resp := b.open(path)
		text := b.text()
		if resp.Status != http.StatusNotFound && resp.Status != http.StatusForbidden {
			t.Errorf("analyst of %s opening %s: %d, want 403 or 404", icbA, path, resp.Status)
		}
		if !strings.Contains(text, "you may not see it") || strings.Contains(text, other.name) || strings.Contains(text, "MeasureReport") {
			t.Errorf("analyst of %s opening %s: the page says %q, want a refusal and nothing of the practice", icbA, path, text)
		}
	}

	b.open("/") // the refusals have no header to sign out from
	b.signOut()
	b.signIn(admin, password)
	if got, want := b.signedInAs(), admin+" (admin)"; got != want {
		t.Fatalf("signed in as %q, want %q", got, want)
	}
	checkOverview(t, b, f, []string{odsLong, odsShort, odsOther}, nil)
	if resp := b.open("/practices/" + odsOther); resp.Status != http.StatusOK {
		t.Errorf("admin opening /practices/%s: %d, want 200", odsOther, resp.Status)
	}
}

// overviewRow is one practice of the overview page.
type overviewRow struct {
	ODS  string `json:"ods"`
	Text string `json:"text"`
	// Fields are the row's data-field cells by name, trimmed text.
	Fields map[string]string `json:"fields"`
}

// readOverview reads the practices of the overview page: rows marked
// data-ods with their data-field cells if the page marks them, else every
// practice the page links to.
func readOverview(b *browser) (rows []overviewRow, marked bool) {
	b.t.Helper()
	v := eval[struct {
		Marked bool          `json:"marked"`
		Rows   []overviewRow `json:"rows"`
	}](b, "read the overview", `(() => {
		const rows = [...document.querySelectorAll('tr[data-ods]')];
		if (rows.length) return {marked: true, rows: rows.map(r => ({
			ods: r.dataset.ods, text: r.innerText,
			fields: Object.fromEntries([...r.querySelectorAll('[data-field]')].map(c => [c.dataset.field, c.innerText.trim()])),
		}))};
		const seen = new Map();
		for (const a of document.querySelectorAll('main a[href^="/practices/"]')) {
			const ods = a.getAttribute('href').slice('/practices/'.length).split(/[/?#]/)[0];
			if (!seen.has(ods)) seen.set(ods, {ods, text: (a.closest('tr') || a).innerText, fields: {}});
		}
		return {marked: false, rows: [...seen.values()]};
	})()`)
	return v.Rows, v.Marked
}

// overviewFieldChecks check a data-field cell of an overview row by the
// field's name; a field named after a measure id is checked against the
// practice's latest stored value without an entry here. Add an entry as the
// overview grows a column.
var overviewFieldChecks = map[string]func(t *testing.T, f *fixture, ods, text string){
	"ods": func(t *testing.T, f *fixture, ods, text string) {
		if text != ods {
			t.Errorf("overview row %s: ods cell %q", ods, text)
		}
	},
	"name": func(t *testing.T, f *fixture, ods, text string) {
		if want := seedFor(ods).name; text != want {
			t.Errorf("overview row %s: name %q, want %q", ods, text, want)
		}
	},
	"status": func(t *testing.T, f *fixture, ods, text string) {
		want := "never heard from" // enrolled, no heartbeat
		if seedFor(ods).heartbeat {
			want = "ok"
		}
		if text != want {
			t.Errorf("overview row %s: status %q, want %q", ods, text, want)
		}
	},
	"heartbeat": func(t *testing.T, f *fixture, ods, text string) {
		ok := text == "—"
		if seedFor(ods).heartbeat {
			ok = strings.HasSuffix(text, " UTC (2 pending)")
		}
		if !ok {
			t.Errorf("overview row %s: heartbeat %q (the agent sent one: %v)", ods, text, seedFor(ods).heartbeat)
		}
	},
	"as_of": func(t *testing.T, f *fixture, ods, text string) {
		// Months read "December 2025" (issue #19), not 2025-12-31.
		if want := web.Month(f.latest(t, ods).AsOf); text != want {
			t.Errorf("overview row %s: as_of %q, want %s", ods, text, want)
		}
	},
	"figures-from": func(t *testing.T, f *fixture, ods, text string) {
		if want := f.latest(t, ods).PackVersion; text != want {
			t.Errorf("overview row %s: figures from pack version %q, want %s", ods, text, want)
		}
	},
}

// checkOverview opens the overview and checks that it lists exactly the
// practices visible (with their names) and none of hidden; where its rows
// carry data-field cells, it checks them (overviewFieldChecks, and latest
// figures against the store).
func checkOverview(t *testing.T, b *browser, f *fixture, visible, hidden []string) {
	t.Helper()
	if resp := b.open("/"); resp.Status != http.StatusOK || b.path() != "/" {
		t.Fatalf("overview: %d at %s", resp.Status, b.path())
	}
	rows, marked := readOverview(b)
	var got []string
	for _, r := range rows {
		got = append(got, r.ODS)
	}
	slices.Sort(got)
	want := slices.Sorted(slices.Values(visible))
	if !slices.Equal(got, want) {
		t.Fatalf("overview lists %v, want %v", got, want)
	}
	page := b.text()
	for _, ods := range hidden {
		if s := seedFor(ods); strings.Contains(page, ods) || strings.Contains(page, s.name) {
			t.Errorf("overview shows %s (%s) of another ICB", ods, s.name)
		}
	}
	for _, r := range rows {
		if name := seedFor(r.ODS).name; !strings.Contains(r.Text, name) {
			t.Errorf("overview row %s: %q lacks the name %q", r.ODS, r.Text, name)
		}
		checkOverviewFields(t, f, r)
	}
	if !marked {
		t.Logf("the overview marks no rows with data-ods: checked the practices it links to, no figures")
	}
}

func checkOverviewFields(t *testing.T, f *fixture, r overviewRow) {
	t.Helper()
	if len(r.Fields) == 0 {
		return
	}
	latest := map[string]collector.MeasureRow{}
	for _, m := range f.latest(t, r.ODS).Measures {
		latest[m.MeasureID] = m
	}
	var checked []string
	for _, field := range slices.Sorted(maps.Keys(r.Fields)) {
		text := r.Fields[field]
		if check, ok := overviewFieldChecks[field]; ok {
			check(t, f, r.ODS, text)
			checked = append(checked, field)
			continue
		}
		m, ok := latest[field]
		if !ok {
			t.Logf("overview row %s: field %s = %q not checked (add it to overviewFieldChecks)", r.ODS, field, text)
			continue
		}
		if m.Value == nil || !shows(text, *m.Value) {
			t.Errorf("overview row %s: %s shows %q, the latest stored value (as of %s) is %v", r.ODS, field, text, m.AsOf, fmtValue(m.Value))
		}
		checked = append(checked, field+"="+text)
	}
	t.Logf("overview row %s: checked %s", r.ODS, strings.Join(checked, ", "))
}

// shows reports whether text displays v to the precision it shows: "41",
// "0.7317", "12,400", "73.2%" (of 0.7317).
func shows(text string, v float64) bool {
	s := strings.ReplaceAll(strings.TrimSpace(text), ",", "")
	if p, ok := strings.CutSuffix(s, "%"); ok {
		s, v = strings.TrimSpace(p), v*100
	}
	got, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return false
	}
	decimals := 0
	if _, frac, ok := strings.Cut(s, "."); ok {
		decimals = len(frac)
	}
	return math.Abs(got-v) <= 0.5*math.Pow10(-decimals)+1e-9
}

func fmtValue(v *float64) string {
	if v == nil {
		return "none"
	}
	return strconv.FormatFloat(*v, 'f', -1, 64)
}

// TestSignOut: the header's sign-out button ends the session: the cookie
// is cleared, the dashboard sends the browser back to the sign-in form, and
// the old session id no longer works even when replayed.
func TestSignOut(t *testing.T) {
	f, b := setup(t)
	b.signIn(analyst, password)
	c := b.cookie(web.SessionCookie)
	if c == nil {
		t.Fatal("signed in, but the browser has no session cookie")
	}

	if resp := b.signOut(); resp.Status != http.StatusOK || b.path() != "/login" {
		t.Fatalf("sign out: %d at %s, want the sign-in form at /login", resp.Status, b.path())
	}
	if got := b.cookie(web.SessionCookie); got != nil {
		t.Fatalf("signed out, the browser still has the session cookie %+v", got)
	}
	if who := b.signedInAs(); who != "" {
		t.Fatalf("signed out, the header says signed in as %q", who)
	}
	for _, path := range []string{"/", "/practices/" + odsLong} {
		if b.open(path); b.path() != "/login" {
			t.Errorf("signed out, %s went to %s, want /login", path, b.path())
		}
	}

	// The server forgot the session: replaying the old cookie is not
	// signed in.
	req, err := http.NewRequestWithContext(t.Context(), "GET", f.url+"/", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.AddCookie(&http.Cookie{Name: web.SessionCookie, Value: c.Value})
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/login" {
		t.Fatalf("the old session cookie after sign-out: %d to %q, want 303 to /login", resp.StatusCode, resp.Header.Get("Location"))
	}
	b.screenshot(t, "signed-out")
}
