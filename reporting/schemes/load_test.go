package schemes

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// parseFixture loads testdata/name, naming it by its base name so messages
// do not depend on where the tests run.
func parseFixture(t *testing.T, name string) (*Scheme, error) {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return Parse(name, data)
}

// TestLoadInvalid checks every class of loader problem with its exact
// message. Each fixture reports all its problems in one pass, in file order.
func TestLoadInvalid(t *testing.T) {
	tests := []struct {
		file string
		want string
	}{
		{"invalid-anchors.yaml", `invalid-anchors.yaml:16:12: YAML anchors and aliases are not allowed (write the value out in full where it applies)`},
		{"invalid-duplicates.yaml", `invalid-duplicates.yaml:4:1: key "title" appears twice (keep one of them)
invalid-duplicates.yaml:17:21: practices[1]: Y01001 is listed twice (list each practice once)
invalid-duplicates.yaml:19:9: gateway[0].id: "figures" is reserved for Steward's own gateway checks (choose another id)
invalid-duplicates.yaml:24:9: gateway[2].id: id "lead" is used twice (give each an id of its own)
invalid-duplicates.yaml:33:9: elements[1].id: id "reviews" is used twice (give each an id of its own)
invalid-duplicates.yaml:40:31: sign_off.declare[1]: role "practice_manager" is listed twice (list each role once)
invalid-duplicates.yaml:41:23: sign_off.approve[1]: role "steward" is Steward itself (name a person's role)`},
		{"invalid-empty.yaml", `invalid-empty.yaml:1:1: the file is empty (start with version: 1)`},
		{"invalid-measure-refs.yaml", `invalid-measure-refs.yaml:20:14: gateway[0].measure: unknown field "total" of measure eligible_adults (use .numerator, .denominator or .value, or the bare id for the value)
invalid-measure-refs.yaml:21:9: gateway[0].op: "=>" is not a comparison (use one of > >= < <= == !=)
invalid-measure-refs.yaml:28:12: elements[0].count: long_term_reviewed is a ratio, not a count of patients (name its numerator or denominator, e.g. long_term_reviewed.numerator)
invalid-measure-refs.yaml:34:12: elements[1].count: ome_total_mg is not a count of patients (use a count measure, or a ratio's .numerator or .denominator)
invalid-measure-refs.yaml:40:12: elements[2].count: long_term is a count and has no numerator (use the bare id long_term)
invalid-measure-refs.yaml:47:14: elements[3].current: ome_per_1000.denominator is not a count of patients (use a count measure, or a ratio's .numerator or .denominator)`},
		{"invalid-measure-unknown.yaml", `invalid-measure-unknown.yaml:22:12: elements[0].count: unknown measure "long_term_reviewd" (did you mean "long_term_reviewed"?)`},
		{"invalid-missing-keys.yaml", `invalid-missing-keys.yaml:1:1: missing key "title" (add title: at the top level)
invalid-missing-keys.yaml:5:3: pack: missing key "versions" (add versions: under pack)
invalid-missing-keys.yaml:8:3: periods: missing key "submission_deadline_days" (add submission_deadline_days: under periods)
invalid-missing-keys.yaml:15:5: elements[0]: missing key "upper_threshold" (add upper_threshold: under elements[0])
invalid-missing-keys.yaml:15:5: elements[0]: missing key "national_average_list" (add national_average_list: under elements[0])
invalid-missing-keys.yaml:25:5: elements[1]: missing key "type" (add type: one of per_patient, per_registered_patient, points, reduction)
invalid-missing-keys.yaml:25:5: elements[1]: missing key "id" (add id: under elements[1])
invalid-missing-keys.yaml:28:3: sign_off: missing key "pay" (add pay: under sign_off)`},
		{"invalid-missing-version.yaml", `invalid-missing-version.yaml:1:1: missing key "version" (add version: 1 as the first line)`},
		{"invalid-second-document.yaml", `invalid-second-document.yaml:28:1: a second YAML document (---) is not allowed (a scheme file holds one document; remove the --- and what follows, or move it to its own file)`},
		{"invalid-syntax.yaml", `invalid-syntax.yaml:1:1: invalid YAML: did not find expected ',' or ']' (check the indentation, colons and brackets around this line)`},
		{"invalid-types.yaml", `invalid-types.yaml:4:6: icb: must be a string, not the number 123 (quote it: "123")
invalid-types.yaml:14:29: periods.submission_deadline_days: must be a whole number, not the text "ten" (write a whole number from 0 to 366)
invalid-types.yaml:16:12: practices: must be all or a list of ODS codes, not the boolean true (write practices: all, or one - Y01234 line per practice)
invalid-types.yaml:19:12: elements[0].title: must be a string, not the boolean true (quote it: "true")
invalid-types.yaml:21:11: elements[0].paid: must be a string, not a list (write a single value)
invalid-types.yaml:23:24: elements[0].pence_per_patient: must be a number, not the text "1500" (remove the quotes)`},
		{"invalid-unknown-keys.yaml", `invalid-unknown-keys.yaml:1:1: missing key "title" (add title: at the top level)
invalid-unknown-keys.yaml:3:1: unknown key "titel" in the scheme (did you mean "title"?)
invalid-unknown-keys.yaml:18:5: elements[0]: missing key "pence_per_patient" (add pence_per_patient: under elements[0])
invalid-unknown-keys.yaml:23:5: elements[0]: unknown key "pence_per_patent" in a payment element (did you mean "pence_per_patient"?)
invalid-unknown-keys.yaml:28:3: sign_off: unknown key "audit" in sign_off (allowed keys: declare, approve, pay, declaration)`},
		{"invalid-values.yaml", `invalid-values.yaml:2:5: id: "Test Scheme" is not a valid id (use lower-case letters, digits, - and _, starting with a letter)
invalid-values.yaml:4:6: icb: "qxx" is not a valid icb (use the ICB's ODS code, e.g. QXX)
invalid-values.yaml:6:7: pack.id: pack "medsop" is not known (schemes are written against pack medsip)
invalid-values.yaml:7:13: pack.versions: "2026.1.0" has no comparison (>=, >, <=, < or =) (write comparisons separated by spaces, e.g. ">=2026.1.0 <2027.0.0")
invalid-values.yaml:8:11: baseline: 2026-03-30 is not the last day of a month (use a month end, e.g. 2026-03-31)
invalid-values.yaml:10:9: periods.from: "2026-4" is not a month (write YYYY-MM, e.g. 2026-04)
invalid-values.yaml:12:27: periods.final_achievement_date: "2027-04-31" is not a date (write YYYY-MM-DD, e.g. 2026-03-31)
invalid-values.yaml:13:23: periods.payment_period_end: "2026-13-01" is not a date (write YYYY-MM-DD, e.g. 2026-03-31)
invalid-values.yaml:14:29: periods.submission_deadline_days: 400 is out of range (write a whole number from 0 to 366)
invalid-values.yaml:15:21: periods.late_submissions: "sometimes" is not a late-submission policy (use pay or withhold)
invalid-values.yaml:16:21: practices[1]: "y1" is not an ODS code (use the practice's ODS code in capitals, e.g. Y01234)
invalid-values.yaml:20:11: elements[0].type: unknown type "pointz" (did you mean "points"?)
invalid-values.yaml:21:11: elements[0].paid: "yearly" is not a payment timing (use final or monthly)
invalid-values.yaml:32:15: elements[1].tiers[1].from: 40 is not above the previous tier's 60 (list tiers in ascending order of from)
invalid-values.yaml:34:15: elements[1].tiers[2].from: must be at most 100, not 101 (use a value in range)
invalid-values.yaml:43:22: elements[2].upper_threshold: upper threshold 50 is not above the lower threshold 80 (make upper_threshold greater than lower_threshold)
invalid-values.yaml:44:13: elements[2].points: must be greater than 0, not 0 (use a positive number)
invalid-values.yaml:45:22: elements[2].pence_per_point: "220.621234567" has more than 6 decimal places (write a plain decimal with at most 6 decimal places, e.g. 220.62)
invalid-values.yaml:47:28: elements[2].national_average_list: "1e4" is not a plain decimal number (write a plain decimal with at most 6 decimal places, e.g. 220.62)
invalid-values.yaml:48:16: elements[2].cap_pence: -5 is out of range (write a whole number from 1 to 1000000000000)
invalid-values.yaml:50:13: sign_off.declare[0]: "Practice Manager" is not a role name (use lower-case letters, digits and _, e.g. practice_manager)
invalid-values.yaml:51:12: sign_off.approve: no roles (name at least one role)
invalid-values.yaml:52:8: sign_off.pay: pay must be a list, not the text "icb_finance" (write one - item per entry)`},
		{"invalid-version-type.yaml", `invalid-version-type.yaml:1:10: version: must be a whole number (write version: 1)`},
		{"invalid-version.yaml", `invalid-version.yaml:1:10: version: version 2 is not supported (this Steward reads version 1)`},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			_, err := parseFixture(t, tt.file)
			if err == nil {
				t.Fatal("Parse succeeded, want problems")
			}
			if !errors.Is(err, ErrInvalid) {
				t.Errorf("errors.Is(err, ErrInvalid) = false for %T", err)
			}
			if got := err.Error(); got != tt.want {
				t.Errorf("problems:\n%s\nwant:\n%s", got, tt.want)
			}
		})
	}
}

func TestLoadValidMinimal(t *testing.T) {
	s, err := parseFixture(t, "valid-minimal.yaml")
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	if got, want := s.ID, "test-scheme"; got != want {
		t.Errorf("ID = %q, want %q", got, want)
	}
	if got, want := len(s.Practices), 2; got != want {
		t.Errorf("practices = %d, want %d", got, want)
	}
	e := s.Elements[0]
	if got, want := e.Count.String(), "long_term_reviewed.numerator"; got != want {
		t.Errorf("count = %q, want %q", got, want)
	}
	if got, want := e.RatePence, (Decimal{Units: 1500}); got != want {
		t.Errorf("rate = %v, want %v", got, want)
	}
	if !s.Pack.Accepts("medsip", "2026.3.1") || s.Pack.Accepts("medsip", "2027.0.0") || s.Pack.Accepts("other", "2026.1.0") {
		t.Error("pack range >=2026.1.0 <2027.0.0 misjudged")
	}
}

func TestProblemsAreTyped(t *testing.T) {
	_, err := parseFixture(t, "invalid-version.yaml")
	var ps Problems
	if !errors.As(err, &ps) {
		t.Fatalf("error %T is not Problems", err)
	}
	if got, want := ps[0].Pos, (Pos{File: "invalid-version.yaml", Line: 1, Col: 10}); got != want {
		t.Errorf("pos = %v, want %v", got, want)
	}
	if got, want := ps[0].Path, "version"; got != want {
		t.Errorf("path = %q, want %q", got, want)
	}
}

func TestParseDecimal(t *testing.T) {
	tests := []struct {
		in   string
		want Decimal
		err  bool
	}{
		{"12", Decimal{12, 0}, false},
		{"220.62", Decimal{22062, 2}, false},
		{"-0.5", Decimal{-5, 1}, false},
		{"0.000001", Decimal{1, 6}, false},
		{"0.0000001", Decimal{}, true},
		{"1e3", Decimal{}, true},
		{"1_000", Decimal{}, true},
		{".5", Decimal{}, true},
		{"5.", Decimal{}, true},
		{"", Decimal{}, true},
	}
	for _, tt := range tests {
		got, err := ParseDecimal(tt.in)
		if (err != nil) != tt.err || got != tt.want {
			t.Errorf("ParseDecimal(%q) = %v, %v; want %v, error %v", tt.in, got, err, tt.want, tt.err)
		}
	}
}

// TestSignOffDeclaration: sign_off.declaration is optional, folded to one
// line, and refused when too long, holding markup or an unknown
// placeholder.
func TestSignOffDeclaration(t *testing.T) {
	base, err := os.ReadFile("../../schemes/medsip-local-example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	with := func(decl string) string {
		return strings.Replace(string(base), "  pay: [icb_finance]", "  pay: [icb_finance]\n  declaration: "+decl, 1)
	}
	sc, err := Parse("scheme.yaml", []byte(with(`"I, for {practice} ({ods}),
    declare {amount} for {period} under {scheme}."`)))
	if err != nil {
		t.Fatal(err)
	}
	if want := "I, for {practice} ({ods}), declare {amount} for {period} under {scheme}."; sc.SignOff.Declaration != want {
		t.Fatalf("declaration %q, want %q", sc.SignOff.Declaration, want)
	}
	if sc, err := Parse("scheme.yaml", base); err != nil || sc.SignOff.Declaration != "" {
		t.Fatalf("a scheme without a declaration: %v, %q", err, sc.SignOff.Declaration)
	}
	for _, tc := range []struct{ decl, want string }{
		{`"I declare {total}."`, "unknown placeholder {total} in the declaration"},
		{`"I declare <b>this</b>."`, "holds < or >"},
		{`"` + strings.Repeat("word ", 401) + `"`, "characters long"},
		{`[a, b]`, "sign_off.declaration"},
	} {
		_, err := Parse("scheme.yaml", []byte(with(tc.decl)))
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "scheme.yaml:") {
			t.Errorf("declaration %.30s: %v; want a problem at its line naming %q", tc.decl, err, tc.want)
		}
	}
}
