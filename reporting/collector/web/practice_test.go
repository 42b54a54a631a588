package web

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nhs-steward/steward/reporting/collector"
	"github.com/nhs-steward/steward/reporting/results"
	"github.com/nhs-steward/steward/reporting/schemes"
)

// addSeries stores n monthly submissions of practice ods, the last with a
// spike in long_term, and returns the last as-of date.
func addSeries(t *testing.T, f *fakeStore, ods string, n int) string {
	t.Helper()
	var asOf string
	for i := range n {
		asOf = time.Date(2024, time.Month(i+2), 0, 0, 0, 0, 0, time.UTC).Format(time.DateOnly)
		longTerm := float64(40 + 2*(i%2))
		if i == n-1 {
			longTerm = 70
		}
		reviewed := float64(20 + i%3)
		ome, eligible := 60000.0+float64(1000*(i%4)), 5000.0
		doc := results.Document{
			Schema: results.Schema, Practice: ods, Pack: results.PackRef{ID: DefaultPack, Version: "2026.1.0"}, AsOf: asOf,
			Measures: []results.Measure{
				{ID: "high_dose", Kind: results.KindCount, Value: results.F(float64(5 + i%2))},
				{ID: "long_term", Kind: results.KindCount, Value: results.F(longTerm)},
				{ID: "long_term_reviewed", Kind: results.KindRatio, Numerator: &reviewed, Denominator: results.F(longTerm), Value: results.F(results.Round4(reviewed / longTerm))},
				{ID: "ome_per_1000", Kind: results.KindRatio, Numerator: &ome, Denominator: &eligible, Per: 1000, Value: results.F(results.Round4(ome / (eligible / 1000)))},
			},
			Producer: results.Producer{Name: "steward-agent", Version: "test"},
		}
		body, err := json.Marshal(doc)
		if err != nil {
			t.Fatal(err)
		}
		sub := collector.Submission{ID: int64(i + 1), Practice: ods, Pack: DefaultPack, PackVersion: "2026.1.0", AsOf: asOf, Body: body}
		for _, m := range doc.Measures {
			sub.Measures = append(sub.Measures, collector.MeasureRow{
				SubmissionID: sub.ID, Practice: ods, Pack: DefaultPack, PackVersion: sub.PackVersion, AsOf: asOf, MeasureID: m.ID, Kind: m.Kind,
				Numerator: m.Numerator, Denominator: m.Denominator, Per: m.Per, Value: m.Value, Suppressed: m.Suppressed,
			})
		}
		f.subs = append(f.subs, sub)
	}
	return asOf
}

func get(t *testing.T, h http.Handler, f *fakeStore, userID int64, path string) *httptest.ResponseRecorder {
	t.Helper()
	id, _ := session(f, userID)
	req := httptest.NewRequest("GET", path, nil)
	req.AddCookie(&http.Cookie{Name: SessionCookie, Value: id})
	return serve(h, req)
}

func TestPracticePage(t *testing.T) {
	f, _, h := newFake(t)
	f.users["zed"] = collector.User{ID: 3, Name: "zed", Role: collector.RoleICBAnalyst, ICB: "QXY"}
	hbAt := time.Date(2025, 3, 4, 5, 6, 0, 0, time.UTC)
	f.beats = map[string]collector.Heartbeat{"Y01111": {Practice: "Y01111", ReceivedAt: hbAt, AgentVersion: "1.2.3"}}
	last := addSeries(t, f, "Y01111", 18)

	rec := get(t, h, f, 1, "/practices/Y01111")
	if rec.Code != http.StatusOK {
		t.Fatalf("GET /practices/Y01111 as ana = %d %s", rec.Code, rec.Body)
	}
	body := rec.Body.String()
	for _, want := range []string{"Riverside Surgery", "QWE", "4 March 2025, 05:06 UTC", "as of <time datetime=\"" + last + "\">" + Month(last) + "</time>"} {
		if !strings.Contains(body, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	if n := strings.Count(body, "<svg"); n != 4 {
		t.Errorf("%d charts, want 4", n)
	}
	if n := strings.Count(body, "<circle"); n != 4*18 {
		t.Errorf("%d points, want %d", n, 4*18)
	}
	if !strings.Contains(body, "Special cause concern (high)") {
		t.Error("the long_term spike is not shown as a concern")
	}
	// The only script is the NHS.UK frontend's, served by the collector
	// itself (issue #19 brings it): none inline, none from elsewhere.
	if n := strings.Count(body, "<script"); n != 1 || !strings.Contains(body, `<script src="/static/nhsuk-frontend/nhsuk.min.js" defer></script>`) {
		t.Errorf("the page has %d scripts, want only the collector's own NHS.UK frontend", n)
	}
	// The figures are those of the latest submission.
	latest := f.subs[len(f.subs)-1]
	for _, m := range latest.Measures {
		// Shown by title (here, with no pack catalogue, the id) in a
		// row header, the id in its title attribute.
		row := fmt.Sprintf(`<tr id="figure-%s" data-measure="%s" data-kind="%s"><th scope="row" title="%s">%s</th>`, m.MeasureID, m.MeasureID, m.Kind, m.MeasureID, m.MeasureID)
		i := strings.Index(body, row)
		if i < 0 {
			t.Errorf("no figure row for %s", m.MeasureID)
			continue
		}
		end := strings.Index(body[i:], "</tr>")
		want := `<td class="value">` + FormatFigure(m.Value, m.Suppressed, UnitOf(m.MeasureID, m.Kind, m.Per, nil)) + `</td>`
		if !strings.Contains(body[i:i+end], want) {
			t.Errorf("figure %s: %s, want %s", m.MeasureID, body[i:i+end], want)
		}
	}

	// Another ICB's analyst, and an unknown practice: 404.
	if rec := get(t, h, f, 3, "/practices/Y01111"); rec.Code != http.StatusNotFound || strings.Contains(rec.Body.String(), "Riverside") {
		t.Fatalf("GET /practices/Y01111 as an analyst of QXY = %d", rec.Code)
	}
	if rec := get(t, h, f, 1, "/practices/NOPE1"); rec.Code != http.StatusNotFound {
		t.Fatalf("GET /practices/NOPE1 = %d", rec.Code)
	}
	// The admin sees it; signed out goes to /login.
	if rec := get(t, h, f, 2, "/practices/Y01111"); rec.Code != http.StatusOK {
		t.Fatalf("GET /practices/Y01111 as admin = %d", rec.Code)
	}
	if rec := serve(h, httptest.NewRequest("GET", "/practices/Y01111", nil)); rec.Code != http.StatusSeeOther {
		t.Fatalf("signed out = %d", rec.Code)
	}
	// A practice with no results.
	if rec := get(t, h, f, 3, "/practices/Z02222"); rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), "No results received yet") {
		t.Fatalf("GET /practices/Z02222 = %d", rec.Code)
	}
}

func TestIndexLinksPractices(t *testing.T) {
	f, _, h := newFake(t)
	if body := get(t, h, f, 1, "/").Body.String(); !strings.Contains(body, `href="/practices/Y01111"`) {
		t.Fatalf("index has no link to the practice:\n%s", body)
	}
}

func TestMeasureReport(t *testing.T) {
	f, _, h := newFake(t)
	f.users["zed"] = collector.User{ID: 3, Name: "zed", Role: collector.RoleICBAnalyst, ICB: "QXY"}
	last := addSeries(t, f, "Y01111", 3)
	path := "/v1/practices/Y01111/measure-reports/" + last
	rec := get(t, h, f, 1, path)
	if rec.Code != http.StatusOK {
		t.Fatalf("GET %s = %d %s", path, rec.Code, rec.Body)
	}
	if ct := rec.Header().Get("Content-Type"); ct != "application/fhir+json" {
		t.Fatalf("Content-Type %q", ct)
	}
	var mr struct {
		ResourceType string `json:"resourceType"`
		Reporter     struct {
			Identifier struct{ System, Value string }
		}
		Period struct{ End string }
		Group  []json.RawMessage
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &mr); err != nil {
		t.Fatal(err)
	}
	if mr.ResourceType != "MeasureReport" || mr.Reporter.Identifier.Value != "Y01111" || mr.Period.End != last || len(mr.Group) != 4 {
		t.Fatalf("MeasureReport %s", rec.Body)
	}
	for _, tc := range []struct {
		user int64
		path string
		want int
	}{
		{3, path, http.StatusNotFound},
		{1, "/v1/practices/Y01111/measure-reports/2020-01-31", http.StatusNotFound},
		{1, "/v1/practices/Y01111/measure-reports/yesterday", http.StatusBadRequest},
		{1, path + "?pack=BAD%20PACK", http.StatusBadRequest},
	} {
		rec := get(t, h, f, tc.user, tc.path)
		if rec.Code != tc.want || rec.Header().Get("Content-Type") != "application/problem+json" {
			t.Errorf("GET %s as %d = %d %s, want %d", tc.path, tc.user, rec.Code, rec.Header().Get("Content-Type"), tc.want)
		}
	}
	// No credentials: 401, not a redirect.
	if rec := serve(h, httptest.NewRequest("GET", path, nil)); rec.Code != http.StatusUnauthorized {
		t.Fatalf("signed out = %d", rec.Code)
	}
}

// TestPracticePageShowsHeldMonthsAndCorrections: what the agent holds back
// (from its heartbeat) and the corrections the practice sent, with their
// reasons, are on the practice page and the overview.
func TestPracticePageShowsHeldMonthsAndCorrections(t *testing.T) {
	f, _, h := newFake(t)
	body, _ := json.Marshal(map[string]any{"practice": "Y01111", "held": []map[string]string{
		{"as_of": "2025-04-30", "reason": "held: 0 registered adults (fewer than 1): the registrations table looks empty or half refreshed"}},
		"problems": []string{"outbox item x.json is unreadable"}})
	f.beats = map[string]collector.Heartbeat{"Y01111": {Practice: "Y01111", ReceivedAt: time.Now(), AgentVersion: "1.2.3", Body: body}}
	addSeries(t, f, "Y01111", 3)
	f.subs[1].Corrects, f.subs[1].CorrectionReason, f.subs[1].IdempotencyKey = "orig-1", "baseline corrected to 2024-03-31", "fix-1"
	page := get(t, h, f, 1, "/practices/Y01111").Body.String()
	for _, want := range []string{"held 2025-04-30: held: 0 registered adults", "outbox item x.json is unreadable",
		`<td data-field="reason">baseline corrected to 2024-03-31</td>`, "orig-1"} {
		if !strings.Contains(page, want) {
			t.Errorf("practice page lacks %q", want)
		}
	}
	if overview := get(t, h, f, 1, "/").Body.String(); !strings.Contains(overview, "held 2025-04-30") {
		t.Error("the overview does not show the held month")
	}
}

// Each chart's data downloads as CSV, raw numbers for a spreadsheet; a
// measure not charted and a practice of another ICB are refused.
func TestSeriesCSV(t *testing.T) {
	f, _, h := newFake(t)
	f.users["zed"] = collector.User{ID: 3, Name: "zed", Role: collector.RoleICBAnalyst, ICB: "QXY"}
	addSeries(t, f, "Y01111", 3)
	rec := get(t, h, f, 1, "/practices/Y01111/series/long_term_reviewed")
	if rec.Code != http.StatusOK || rec.Header().Get("Content-Type") != "text/csv; charset=utf-8" ||
		!strings.Contains(rec.Header().Get("Content-Disposition"), `filename="Y01111-long_term_reviewed.csv"`) {
		t.Fatalf("GET series = %d %v", rec.Code, rec.Header())
	}
	lines := strings.Split(strings.TrimSpace(rec.Body.String()), "\n")
	if len(lines) != 4 || lines[0] != "practice,pack,pack_version,measure,as_of,numerator,denominator,value,suppressed" {
		t.Fatalf("csv:\n%s", rec.Body)
	}
	rows, _ := f.MeasureSeries(t.Context(), "Y01111", DefaultPack, "long_term_reviewed")
	for i, r := range rows {
		if !strings.Contains(lines[i+1], ","+r.AsOf+",") || !strings.HasSuffix(lines[i+1], strconv.FormatFloat(*r.Value, 'f', -1, 64)+",false") {
			t.Errorf("row %d: %s, want %s %v", i, lines[i+1], r.AsOf, *r.Value)
		}
	}
	if rec := get(t, h, f, 1, "/practices/Y01111/series/registered_adults"); rec.Code != http.StatusNotFound {
		t.Errorf("a measure not charted: %d", rec.Code)
	}
	if rec := get(t, h, f, 3, "/practices/Y01111/series/long_term"); rec.Code != http.StatusNotFound {
		t.Errorf("another ICB's practice: %d", rec.Code)
	}
}

// A points element on a ratio sets its upper threshold as the target; a
// gateway threshold on a measure's value sets that.
func TestSchemeTarget(t *testing.T) {
	sc := &schemes.Scheme{Elements: []schemes.Element{{Type: schemes.Points,
		Numerator: schemes.Ref{Measure: "long_term_reviewed", Field: schemes.FieldNumerator}, Denominator: schemes.Ref{Measure: "long_term_reviewed", Field: schemes.FieldDenominator},
		UpperThreshold: schemes.Decimal{Units: 805, Scale: 1}}},
		Gateway: []schemes.Condition{{Type: schemes.CondThreshold, Measure: schemes.Ref{Measure: "high_dose", Field: schemes.FieldValue}, Op: "<=", Value: schemes.Decimal{Units: 12}}}}
	if got := SchemeTarget(sc, "long_term_reviewed"); got == nil || *got != 0.805 {
		t.Errorf("points target = %v, want 0.805", got)
	}
	if got := SchemeTarget(sc, "high_dose"); got == nil || *got != 12 {
		t.Errorf("gateway target = %v, want 12", got)
	}
	if got := SchemeTarget(sc, "long_term"); got != nil {
		t.Errorf("no target = %v", *got)
	}
}
