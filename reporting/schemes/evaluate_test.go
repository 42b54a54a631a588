package schemes

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"
)

func cnt(id string, v float64) Measure { return Measure{ID: id, Kind: "count", Value: &v} }

func rat(id string, n, d float64) Measure {
	m := Measure{ID: id, Kind: "ratio", Numerator: &n, Denominator: &d}
	if d != 0 {
		v := n / d
		m.Value = &v
	}
	return m
}

func listSize(n int64) *int64 { return &n }

// practiceFigures is a practice with an on-time medsip submission as of
// 2027-03-31 and the opioid_lead_named declaration.
func practiceFigures(ods string, list int64, ms ...Measure) PracticeFigures {
	return PracticeFigures{
		ODS: ods, SubmissionID: "sub-" + ods, ReceivedAt: time.Date(2027, 4, 3, 9, 0, 0, 0, time.UTC),
		PackID: "medsip", PackVersion: "2026.1.0", AsOf: "2027-03-31", Baseline: "2026-03-31",
		ListSize: listSize(list), Declarations: []string{"opioid_lead_named"}, Measures: ms,
	}
}

// testScheme builds a scheme from the head of valid-minimal.yaml plus the
// given practices, gateway and elements YAML.
func testScheme(t *testing.T, tail string) *Scheme {
	t.Helper()
	head := `version: 1
id: test-scheme
title: Test scheme
icb: QXX
pack:
  id: medsip
  versions: ">=2026.1.0 <2027.0.0"
baseline: 2026-03-31
periods:
  from: 2026-04
  to: 2027-03
  final_achievement_date: 2027-03-31
  payment_period_end: 2027-06-30
  submission_deadline_days: 10
  late_submissions: withhold
sign_off:
  declare: [practice_manager]
  approve: [icb_lead]
  pay: [icb_finance]
`
	s, err := Parse("test.yaml", []byte(head+tail))
	if err != nil {
		t.Fatalf("Parse:\n%v", err)
	}
	return s
}

const pointsScheme = `practices: all
elements:
  - id: pts
    title: Points
    type: points
    paid: final
    numerator: long_term_reviewed.numerator
    denominator: long_term_reviewed.denominator
    exclusions: baseline_lost
    lower_threshold: 50
    upper_threshold: 80
    points: 20
    pence_per_point: 22062
    list_size: registered_patients
    national_average_list: 9964
`

func evalOne(t *testing.T, s *Scheme, f PracticeFigures) *PracticeResult {
	t.Helper()
	rec, err := Evaluate(s, "2027-03", []PracticeFigures{f})
	if err != nil {
		t.Fatalf("Evaluate: %v", err)
	}
	return &rec.Practices[0]
}

func fixedString(f *Fixed) string {
	if f == nil {
		return "nil"
	}
	return f.String()
}

// TestQOFPoints checks points and money against hand calculations with
// E = 50, F = 80, G = 20, GBP 220.62 a point and a national average list of
// 9,964.
func TestQOFPoints(t *testing.T) {
	s := testScheme(t, pointsScheme)
	tests := []struct {
		name         string
		a, b, c      float64
		list         int64
		achievement  string
		points       string
		amount       int64
		noteContains string
	}{
		// D = 30 / (45 - 5) = 75%; H = (75 - 50) / 30 x 20 = 50/3 points;
		// 50/3 x 22062 = 367,700 pence exactly at the average list.
		{"between E and F, average list", 30, 45, 5, 9964, "75.0000", "16.6667", 367700, ""},
		// 367,700 x 7,000 / 9,964 = 258,319.95 -> 258,320.
		{"between E and F, smaller list", 30, 45, 5, 7000, "75.0000", "16.6667", 258320, ""},
		// 10 / 40 = 25% < E: no points.
		{"below E", 10, 40, 0, 9964, "25.0000", "0.0000", 0, "below the lower threshold"},
		// D = E exactly: (50 - 50) / 30 x 20 = 0 points.
		{"at E", 20, 40, 0, 9964, "50.0000", "0.0000", 0, ""},
		// D = F exactly: all 20 points; 20 x 22062 = 441,240.
		{"at F", 32, 40, 0, 9964, "80.0000", "20.0000", 441240, ""},
		// 36 / 40 = 90% > F: capped at G.
		{"above F", 36, 40, 0, 9964, "90.0000", "20.0000", 441240, ""},
		// 2 / 3 = 66.6667%; H = (200/3 - 50) / 30 x 20 = 100/9 = 11.1111;
		// 100/9 x 22062 = 245,133.33 -> 245,133.
		{"recurring achievement", 2, 3, 0, 9964, "66.6667", "11.1111", 245133, ""},
		// B - C = 0: no achievement, nothing paid.
		{"B - C = 0", 0, 5, 5, 9964, "nil", "nil", 0, "B - C = 0"},
		{"C > B", 0, 5, 6, 9964, "nil", "nil", 0, "exclusions (C) exceed"},
		{"A > B - C", 5, 5, 1, 9964, "nil", "nil", 0, "numerator (A) exceeds"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pr := evalOne(t, s, practiceFigures("Y01001", tt.list, rat("long_term_reviewed", tt.a, tt.b), cnt("baseline_lost", tt.c)))
			er := pr.Elements[0]
			if got := fixedString(er.Achievement); got != tt.achievement {
				t.Errorf("achievement = %s, want %s", got, tt.achievement)
			}
			if got := fixedString(er.Points); got != tt.points {
				t.Errorf("points = %s, want %s", got, tt.points)
			}
			if got := er.AmountPence; got != tt.amount {
				t.Errorf("amount = %d, want %d", got, tt.amount)
			}
			if !strings.Contains(er.Note, tt.noteContains) {
				t.Errorf("note = %q, want it to contain %q", er.Note, tt.noteContains)
			}
			if got, want := *er.A, int64(tt.a); got != want {
				t.Errorf("A = %d, want %d", got, want)
			}
		})
	}
}

func TestQOFPrevalenceAndMeasureListSize(t *testing.T) {
	s := testScheme(t, `practices: all
elements:
  - id: pts
    title: Points
    type: points
    paid: final
    numerator: long_term_reviewed.numerator
    denominator: long_term_reviewed.denominator
    lower_threshold: 50
    upper_threshold: 80
    points: 20
    pence_per_point: 220.62
    list_size: registered_adults
    national_average_list: 9964
    prevalence:
      register: long_term
      national_prevalence: 0.012
`)
	// The element's pence per point is 220.62 (pence), a hundredth of the
	// usual value, to check decimal parameters. 36/40 = 90%: 20 points.
	// List index 10,000 / 9,964; prevalence (120 / 10,000) / 0.012 = 1.
	// 20 x 220.62 x 10,000 / 9,964 = 4,428.342 -> 4,428.
	pr := evalOne(t, s, practiceFigures("Y01001", 0,
		rat("long_term_reviewed", 36, 40), cnt("registered_adults", 10000), cnt("long_term", 120)))
	if got, want := pr.Elements[0].AmountPence, int64(4428); got != want {
		t.Errorf("amount = %d, want %d", got, want)
	}
	// Twice the national prevalence doubles it: 8,856.68 -> 8,857.
	pr = evalOne(t, s, practiceFigures("Y01001", 0,
		rat("long_term_reviewed", 36, 40), cnt("registered_adults", 10000), cnt("long_term", 240)))
	if got, want := pr.Elements[0].AmountPence, int64(8857); got != want {
		t.Errorf("amount = %d, want %d", got, want)
	}
}

func TestTiers(t *testing.T) {
	s := testScheme(t, `practices: all
elements:
  - id: tiered
    title: Tiered
    type: per_registered_patient
    paid: monthly
    numerator: long_term_reviewed.numerator
    denominator: long_term_reviewed.denominator
    list_size: registered_patients
    tiers:
      - from: 40
        pence_per_patient: 10
      - from: 60
        pence_per_patient: 25
      - from: 80
        pence_per_patient: 40.5
`)
	tests := []struct {
		a, b   float64
		tier   int
		amount int64
	}{
		{1, 5, 0, 0},         // 20%: below the lowest tier
		{2, 5, 1, 81230},     // 40%: 8,123 x 10
		{5, 9, 1, 81230},     // 55.56%: still tier 1
		{3, 5, 2, 203075},    // 60% exactly: 8,123 x 25
		{4, 5, 3, 328982},    // 80%: 8,123 x 40.5 = 328,981.5 -> 328,982 (halves up)
		{79, 100, 2, 203075}, // 79%
	}
	for _, tt := range tests {
		pr := evalOne(t, s, practiceFigures("Y01001", 8123, rat("long_term_reviewed", tt.a, tt.b)))
		er := pr.Elements[0]
		if er.Tier != tt.tier || er.AmountPence != tt.amount {
			t.Errorf("%v/%v: tier %d amount %d, want tier %d amount %d", tt.a, tt.b, er.Tier, er.AmountPence, tt.tier, tt.amount)
		}
	}
	// No list size supplied: nothing paid, and the note says why.
	f := practiceFigures("Y01001", 0, rat("long_term_reviewed", 4, 5))
	f.ListSize = nil
	er := evalOne(t, s, f).Elements[0]
	if er.AmountPence != 0 || !strings.Contains(er.Note, "list size") {
		t.Errorf("no list size: amount %d note %q", er.AmountPence, er.Note)
	}
}

const capsScheme = `practices: [Y01001]
caps:
  practice_pence: 100000
elements:
  - id: reviews
    title: Reviews
    type: per_patient
    paid: final
    count: long_term_reviewed.numerator
    pence_per_patient: 1500
    cap_pence: 60000
  - id: reduction
    title: Fewer high-dose patients than at baseline
    type: reduction
    paid: final
    baseline: high_dose_baseline
    current: high_dose
    pence_per_unit: 2500.5
  - id: stopped
    title: High-dose baseline patients stopped
    type: per_patient
    paid: final
    count: high_dose_baseline_stopped.numerator
    pence_per_patient: 5000
`

func TestCapsAndReduction(t *testing.T) {
	s := testScheme(t, capsScheme)
	// reviews: 50 x 1,500 = 75,000, element cap 60,000.
	// reduction: baseline 12, now 9: 3 x 2,500.5 = 7,501.5 -> 7,502.
	// stopped: 8 x 5,000 = 40,000; practice cap 100,000 leaves
	// 100,000 - 60,000 - 7,502 = 32,498.
	pr := evalOne(t, s, practiceFigures("Y01001", 5000,
		rat("long_term_reviewed", 50, 60), cnt("high_dose_baseline", 12), cnt("high_dose", 9),
		rat("high_dose_baseline_stopped", 8, 11)))
	want := []struct {
		calc, amount     int64
		elemCap, pracCap bool
	}{
		{75000, 60000, true, false},
		{7502, 7502, false, false},
		{40000, 32498, false, true},
	}
	for i, w := range want {
		er := pr.Elements[i]
		if er.CalculatedPence != w.calc || er.AmountPence != w.amount || er.ElementCapApplied != w.elemCap || er.PracticeCapApplied != w.pracCap {
			t.Errorf("%s: calc %d amount %d caps %v/%v, want %d %d %v/%v", er.ID, er.CalculatedPence, er.AmountPence,
				er.ElementCapApplied, er.PracticeCapApplied, w.calc, w.amount, w.elemCap, w.pracCap)
		}
	}
	if got, want := pr.TotalPence, int64(100000); got != want {
		t.Errorf("total = %d, want %d", got, want)
	}
	if !pr.PracticeCapApplied {
		t.Error("PracticeCapApplied = false")
	}
	// More high-dose patients than at baseline is no reduction, not a
	// negative amount.
	pr = evalOne(t, s, practiceFigures("Y01001", 5000,
		rat("long_term_reviewed", 1, 2), cnt("high_dose_baseline", 3), cnt("high_dose", 5),
		rat("high_dose_baseline_stopped", 0, 3)))
	if er := pr.Elements[1]; er.AmountPence != 0 || er.Note != "no reduction against baseline" {
		t.Errorf("increase: amount %d note %q", er.AmountPence, er.Note)
	}
}

const gatewayScheme = `practices: [Y01001, Y01002, Y01003, Y01004, Y01005]
gateway:
  - id: submitted
    type: submission
  - id: has_eligible_adults
    type: threshold
    measure: eligible_adults
    op: ">"
    value: 0
  - id: opioid_lead_named
    type: declaration
    declaration: opioid_lead_named
elements:
  - id: reviews
    title: Reviews
    type: per_patient
    paid: monthly
    count: long_term_reviewed.numerator
    pence_per_patient: 100
`

func TestGatewayMissingLateWrongPack(t *testing.T) {
	s := testScheme(t, gatewayScheme)
	ok := practiceFigures("Y01001", 1000, cnt("eligible_adults", 800), rat("long_term_reviewed", 10, 20))
	empty := practiceFigures("Y01002", 1000, cnt("eligible_adults", 0), rat("long_term_reviewed", 10, 20))
	empty.Declarations = nil
	// Deadline for 2027-03: 10 days after 31 March, so late from
	// 2027-04-11T00:00:00Z.
	late := practiceFigures("Y01003", 1000, cnt("eligible_adults", 800), rat("long_term_reviewed", 10, 20))
	late.ReceivedAt = time.Date(2027, 4, 11, 0, 0, 0, 0, time.UTC)
	onTime := late
	onTime.ODS = "Y01005"
	onTime.ReceivedAt = time.Date(2027, 4, 10, 23, 59, 59, 0, time.UTC)
	wrongPack := practiceFigures("Y01004", 1000, cnt("eligible_adults", 800), rat("long_term_reviewed", 10, 20))
	wrongPack.PackVersion = "2027.0.0"
	stranger := practiceFigures("Y09999", 1000, cnt("eligible_adults", 800))

	rec, err := Evaluate(s, "2027-03", []PracticeFigures{stranger, wrongPack, onTime, late, empty, ok})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := rec.Deadline, time.Date(2027, 4, 11, 0, 0, 0, 0, time.UTC); !got.Equal(want) {
		t.Errorf("deadline = %v, want %v", got, want)
	}
	if got, want := rec.Late, []string{"Y01003"}; !reflect.DeepEqual(got, want) {
		t.Errorf("late = %v, want %v", got, want)
	}
	if got, want := rec.WrongPack, []string{"Y01004"}; !reflect.DeepEqual(got, want) {
		t.Errorf("wrong pack = %v, want %v", got, want)
	}
	if got, want := rec.NotEnrolled, []string{"Y09999"}; !reflect.DeepEqual(got, want) {
		t.Errorf("not enrolled = %v, want %v", got, want)
	}
	if rec.Missing != nil {
		t.Errorf("missing = %v, want none", rec.Missing)
	}
	var ods []string
	for _, pr := range rec.Practices {
		ods = append(ods, pr.ODS)
	}
	if want := []string{"Y01001", "Y01002", "Y01003", "Y01004", "Y01005"}; !reflect.DeepEqual(ods, want) {
		t.Errorf("practices = %v, want %v", ods, want)
	}
	want := map[string]struct {
		failed []string
		total  int64
	}{
		"Y01001": {nil, 1000},
		"Y01002": {[]string{"has_eligible_adults", "opioid_lead_named"}, 0},
		"Y01003": {[]string{"deadline"}, 0},
		"Y01004": {[]string{"pack_version"}, 0},
		"Y01005": {nil, 1000},
	}
	for _, pr := range rec.Practices {
		w := want[pr.ODS]
		if got := pr.Gateway.Failed(); !reflect.DeepEqual(got, w.failed) || pr.TotalPence != w.total {
			t.Errorf("%s: failed %v total %d, want %v %d", pr.ODS, got, pr.TotalPence, w.failed, w.total)
		}
	}
	reasons := map[string]string{}
	for _, pr := range rec.Practices {
		for _, c := range pr.Gateway.Checks {
			if !c.Pass {
				reasons[pr.ODS+" "+c.ID] = c.Reason
			}
		}
	}
	wantReasons := map[string]string{
		"Y01002 has_eligible_adults": "eligible_adults is 0; needs > 0",
		"Y01002 opioid_lead_named":   "practice has not declared opioid_lead_named",
		"Y01003 deadline":            "received 2027-04-11T00:00:00Z, deadline 2027-04-11T00:00:00Z; the scheme withholds late figures",
		"Y01004 pack_version":        "pack medsip 2027.0.0 is not medsip >=2026.1.0 <2027.0.0",
	}
	if !reflect.DeepEqual(reasons, wantReasons) {
		t.Errorf("reasons:\n%v\nwant\n%v", reasons, wantReasons)
	}
	if got, want := rec.Practices[1].Elements[0].Note, "gateway failed: has_eligible_adults, opioid_lead_named"; got != want {
		t.Errorf("note = %q, want %q", got, want)
	}
	if got, want := rec.Summary.GatewayFailed, 3; got != want {
		t.Errorf("summary gateway failed = %d, want %d", got, want)
	}
	if got, want := rec.Summary.PayablePence, int64(2000); got != want {
		t.Errorf("summary payable = %d, want %d", got, want)
	}

	// Only two practices report; the other three are missing, listed and
	// paid nothing; a missing practice's claim stays open.
	rec, err = Evaluate(s, "2027-03", []PracticeFigures{ok, onTime})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := rec.Missing, []string{"Y01002", "Y01003", "Y01004"}; !reflect.DeepEqual(got, want) {
		t.Errorf("missing = %v, want %v", got, want)
	}
	m := rec.Practices[1]
	if !m.Missing || m.State != Open || m.Gateway.Pass || m.Gateway.Checks[0].Reason != "no figures received for 2027-03" {
		t.Errorf("missing practice result = %+v", m)
	}
	if got, want := rec.Summary, (Summary{Enrolled: 5, WithFigures: 2, Missing: 3, GatewayFailed: 3, PayablePence: 2000,
		Elements: []ElementTotal{{ID: "reviews", Practices: 2, PayablePence: 2000}}}); !reflect.DeepEqual(got, want) {
		t.Errorf("summary = %+v, want %+v", got, want)
	}
}

func TestLatePaidWhenSchemeSaysSo(t *testing.T) {
	s := testScheme(t, gatewayScheme)
	s.Periods.Late = LatePay
	f := practiceFigures("Y01001", 1000, cnt("eligible_adults", 800), rat("long_term_reviewed", 10, 20))
	f.ReceivedAt = time.Date(2027, 5, 1, 0, 0, 0, 0, time.UTC)
	pr := evalOne(t, s, f)
	if !pr.Late || !pr.Gateway.Pass || pr.TotalPence != 1000 {
		t.Errorf("late under pay policy: late %v pass %v total %d", pr.Late, pr.Gateway.Pass, pr.TotalPence)
	}
}

func TestFiguresProblems(t *testing.T) {
	s := testScheme(t, gatewayScheme)
	f := practiceFigures("Y01001", 1000, cnt("eligible_adults", 800), rat("long_term_reviewed", 10.5, 20))
	f.AsOf = "2027-02-28"
	pr := evalOne(t, s, f)
	if got, want := pr.Gateway.Checks[0].Reason, "figures are as of 2027-02-28, not 2027-03-31"; got != want {
		t.Errorf("figures reason = %q, want %q", got, want)
	}
	if got, want := pr.Elements[0].Note, "long_term_reviewed.numerator is 10.5, not a whole number of patients up to 1000000000; gateway failed: figures"; got != want {
		t.Errorf("note = %q, want %q", got, want)
	}
	f = practiceFigures("Y01001", 1000, cnt("eligible_adults", 800))
	if got, want := evalOne(t, s, f).Elements[0].Note, "long_term_reviewed missing from the submission"; got != want {
		t.Errorf("note = %q, want %q", got, want)
	}
}

func TestEvaluateErrors(t *testing.T) {
	s := testScheme(t, gatewayScheme)
	for _, p := range []string{"2026-03", "2027-04", "2026-4", "April"} {
		if _, err := Evaluate(s, p, nil); !errors.Is(err, ErrPeriod) {
			t.Errorf("Evaluate(%q) error = %v, want ErrPeriod", p, err)
		}
	}
	f := practiceFigures("Y01001", 1, cnt("eligible_adults", 1))
	if _, err := Evaluate(s, "2026-04", []PracticeFigures{f, f}); !errors.Is(err, ErrFigures) {
		t.Errorf("duplicate practice: error = %v, want ErrFigures", err)
	}
}

// exampleFigures are hand-made figures for the example scheme's final
// period; the expected amounts are worked in TestExampleScheme.
func exampleFigures() []PracticeFigures {
	y1 := practiceFigures("Y01001", 9964, cnt("eligible_adults", 7800),
		rat("long_term_reviewed", 30, 40), rat("high_dose_baseline_stopped", 4, 9))
	y1.Name = "Riverside Surgery"
	y2 := practiceFigures("Y01002", 12000, cnt("eligible_adults", 9500),
		rat("long_term_reviewed", 150, 160), rat("high_dose_baseline_stopped", 25, 30))
	y2.Name = "Hillview Medical Centre"
	y3 := practiceFigures("Y01003", 6000, cnt("eligible_adults", 4700),
		rat("long_term_reviewed", 20, 30), rat("high_dose_baseline_stopped", 1, 2))
	y3.Name = "Old Mill Practice, Eastgate"
	y3.ReceivedAt = time.Date(2027, 4, 11, 9, 0, 0, 0, time.UTC)
	return []PracticeFigures{y3, y1, y2}
}

func TestExampleScheme(t *testing.T) {
	s, err := Load("../../schemes/medsip-local-example.yaml")
	if err != nil {
		t.Fatalf("Load:\n%v", err)
	}
	rec, err := Evaluate(s, "2027-03", exampleFigures())
	if err != nil {
		t.Fatal(err)
	}
	if !rec.Final {
		t.Fatal("2027-03 is the final achievement period")
	}
	// Y01001: reviews 30 x 1,500 = 45,000; points (75 - 50) / 30 x 20 =
	// 16.6667 x 22,062 x 9,964 / 9,964 = 367,700; stopped 4 x 5,000 =
	// 20,000. Total 432,700.
	// Y01002: reviews 150 x 1,500 = 225,000, capped at 150,000; points
	// 93.75% >= 80%: 20 x 22,062 x 12,000 / 9,964 = 531,401.04 -> 531,401;
	// stopped 25 x 5,000 = 125,000, capped at 100,000. Practice cap
	// 600,000 in element order: points 450,000, stopped 0.
	// Y01003: received after 2027-04-11T00:00Z; the scheme withholds.
	// Y01004: no figures.
	want := map[string][]int64{
		"Y01001": {45000, 367700, 20000},
		"Y01002": {150000, 450000, 0},
		"Y01003": {0, 0, 0},
		"Y01004": {0, 0, 0},
	}
	for _, pr := range rec.Practices {
		var got []int64
		for _, er := range pr.Elements {
			got = append(got, er.AmountPence)
		}
		if !reflect.DeepEqual(got, want[pr.ODS]) {
			t.Errorf("%s amounts = %v, want %v", pr.ODS, got, want[pr.ODS])
		}
	}
	if got, want := rec.Summary.PayablePence, int64(432700+600000); got != want {
		t.Errorf("payable = %d, want %d", got, want)
	}
	if got, want := rec.Practices[1].Elements[1].CalculatedPence, int64(531401); got != want {
		t.Errorf("Y01002 points calculated = %d, want %d", got, want)
	}
	if got, want := rec.Missing, []string{"Y01004"}; !reflect.DeepEqual(got, want) {
		t.Errorf("missing = %v, want %v", got, want)
	}

	// Earlier periods are indicative: the elements are paid on the final
	// achievement date only.
	figs := exampleFigures()
	for i := range figs {
		figs[i].AsOf = "2026-10-31"
		figs[i].ReceivedAt = time.Date(2026, 11, 2, 0, 0, 0, 0, time.UTC)
	}
	rec, err = Evaluate(s, "2026-10", figs)
	if err != nil {
		t.Fatal(err)
	}
	if rec.Final || rec.Summary.PayablePence != 0 || rec.Practices[0].IndicativePence != 432700 {
		t.Errorf("2026-10: final %v payable %d indicative %d", rec.Final, rec.Summary.PayablePence, rec.Practices[0].IndicativePence)
	}
}
