package browsertest_test

import (
	"bytes"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/nhs-steward/steward/reporting/results"
)

type equityRow struct {
	Stratum    string `json:"stratum"`
	Published  string `json:"published"`
	Suppressed string `json:"suppressed"`
	Reporting  string `json:"reporting"`
	Text       string `json:"text"`
}

// TestEquityView: each stratum of long_term across the ICB adds the
// published cells of the practices' stored results documents, counts the
// practices that suppressed it, and shows a suppressed cell as
// "suppressed" (or the sum as "at least"), never as zero; the caveat is
// on the page.
func TestEquityView(t *testing.T) {
	f, b := setup(t)
	b.signIn(analyst, password)
	if resp := b.open("/equity?measure=long_term"); resp.Status != http.StatusOK {
		t.Fatalf("GET /equity: %d", resp.Status)
	}
	b.screenshot(t, "equity")
	if caveat := b.text(); !strings.Contains(caveat, "A suppressed cell is not zero") || !strings.Contains(caveat, "lower bound") {
		t.Error("the caveat is not on the page")
	}
	got := eval[map[string][]equityRow](b, "read the equity tables", `Object.fromEntries([...document.querySelectorAll('section.equity-dimension')].map(s =>
		[s.dataset.dimension, [...s.querySelectorAll('table.equity-table tbody tr')].map(r => ({stratum: r.dataset.stratum, published: r.dataset.published,
			suppressed: r.dataset.suppressed, reporting: r.dataset.reporting, text: r.querySelector('[data-field="value"]').textContent.trim()}))]))`)
	// By hand, from the store.
	type sums struct {
		published      float64
		supp, reported int
	}
	want := map[string]map[string]*sums{}
	for _, ods := range []string{odsLong, odsShort} {
		doc, err := results.Decode(bytes.NewReader(f.latest(t, ods).Body))
		if err != nil {
			t.Fatal(err)
		}
		for _, st := range doc.Find("long_term").Strata {
			if want[st.Dimension] == nil {
				want[st.Dimension] = map[string]*sums{}
			}
			for _, c := range st.Cells {
				s := want[st.Dimension][c.Stratum]
				if s == nil {
					s = &sums{}
					want[st.Dimension][c.Stratum] = s
				}
				s.reported++
				if c.Suppressed {
					s.supp++
				} else {
					s.published += *c.Value
				}
			}
		}
	}
	for _, dim := range []string{"imd_quintile", "sex", "age_band"} {
		rows := got[dim]
		if len(rows) != len(want[dim]) {
			t.Errorf("%s: %d strata shown, %d stored", dim, len(rows), len(want[dim]))
		}
		for _, r := range rows {
			w := want[dim][r.Stratum]
			if w == nil {
				t.Errorf("%s %s: shown, not stored", dim, r.Stratum)
				continue
			}
			pub, _ := strconv.ParseFloat(r.Published, 64)
			if pub != w.published || r.Suppressed != strconv.Itoa(w.supp) || r.Reporting != strconv.Itoa(w.reported) {
				t.Errorf("%s %s: published %s, suppressed %s of %s; the store: %v, %d of %d", dim, r.Stratum, r.Published, r.Suppressed, r.Reporting, w.published, w.supp, w.reported)
			}
			wantText := strconv.FormatFloat(w.published, 'f', 0, 64)
			switch {
			case w.supp == w.reported:
				wantText = "suppressed"
			case w.supp > 0:
				wantText = "at least " + wantText
			}
			if r.Text != wantText {
				t.Errorf("%s %s: shown %q, want %q", dim, r.Stratum, r.Text, wantText)
			}
			if w.supp > 0 && (r.Text == "0" || r.Text == "—") {
				t.Errorf("%s %s: a suppressed cell shown as %q", dim, r.Stratum, r.Text)
			}
		}
	}
	if resp := b.open("/equity?measure=ome_per_1000"); resp.Status != http.StatusBadRequest {
		t.Errorf("an unstratified measure: %d", resp.Status)
	}
	// The help page, linked from every page's header.
	b.open("/")
	if resp := b.submit("follow the help link", chromedp.Click(chromedp.CSS(`header a[href="/help"]`))); resp.Status != http.StatusOK || !strings.Contains(b.text(), "Making Data Count") {
		t.Fatalf("help: %d", resp.Status)
	}
	b.screenshot(t, "help")
}
