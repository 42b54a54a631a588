package browsertest_test

import (
	"strings"
	"testing"

	"github.com/nhs-steward/steward/reporting/collector/store"
	"github.com/nhs-steward/steward/reporting/spc"
)

// targetScheme adds to the sign-off scheme a points element on the
// proportion reviewed, full points at 80%: the chart's target.
var targetScheme = strings.Replace(strings.Replace(signOffScheme, "id: qwe-reviews-2025-26", "id: qwe-targets-2025-26", 1), "sign_off:", `  - id: lt_reviews
    title: Long-term users reviewed
    type: points
    paid: final
    numerator: long_term_reviewed.numerator
    denominator: long_term_reviewed.denominator
    lower_threshold: 50
    upper_threshold: 80
    points: 20
    pence_per_point: 22062
    list_size: registered_patients
    national_average_list: 9964
sign_off:`, 1)

// TestChartTarget: where a scheme sets a target for a measure, the
// practice's run chart draws and labels it, and the assurance icon
// compares it with the process limits: the reviewed proportion's limits
// (45.1% to 57.2%) lie below 80%, so the process consistently fails it.
func TestChartTarget(t *testing.T) {
	f, b := setup(t)
	if err := f.db.AddScheme(t.Context(), store.StoredScheme{ID: "qwe-targets-2025-26", YAML: targetScheme, AddedBy: "test"}); err != nil {
		t.Fatal(err)
	}
	b.signIn(analyst, password)
	b.open("/practices/" + odsLong)
	got := eval[struct {
		Target    string   `json:"target"`
		Labels    []string `json:"labels"`
		Assurance string   `json:"assurance"`
		Shown     string   `json:"shown"`
		Others    int      `json:"others"`
	}](b, "read the target", `(() => {
		const s = document.querySelector('#chart-long_term_reviewed');
		const t = s.querySelector('line.target');
		return {target: t ? t.querySelector('title').textContent : "", labels: [...s.querySelectorAll('text.line-label')].map(e => e.textContent),
			assurance: s.querySelector('g.icon.assurance').dataset.assurance, shown: (s.querySelector('[data-field="target"]') || {}).textContent || "",
			others: document.querySelectorAll('section.chart:not(#chart-long_term_reviewed) line.target').length};
	})()`)
	if got.Target != "target 80.0%" || !strings.Contains(strings.Join(got.Labels, "|"), "Target 80.0%") || got.Shown != "80.0%" {
		t.Errorf("target line %q, labels %v, caption %q; want 80.0%%", got.Target, got.Labels, got.Shown)
	}
	if got.Assurance != string(spc.AssuranceConsistentlyFail) {
		t.Errorf("assurance %q, want %s", got.Assurance, spc.AssuranceConsistentlyFail)
	}
	if got.Others != 0 {
		t.Errorf("%d target lines on charts the scheme sets no target for", got.Others)
	}
	b.screenshot(t, "practice-with-target")
}
