package schemes

import (
	"os"
	"strings"
	"testing"
)

// exampleEnv is a collector of ICB QXX holding the example scheme's four
// practices, one practice of another ICB, and only the built-in pack.
func exampleEnv() *Environment {
	return &Environment{
		ICB: "QXX",
		Practices: map[string]string{"Y01001": "QXX", "Y01002": "QXX", "Y01003": "QXX", "Y01004": "QXX",
			"Y07777": "QZZ"},
		PackVersions: []PackVersion{{Version: "2026.1.0", Source: "built in", Current: true}},
	}
}

func TestValidateExample(t *testing.T) {
	s, err := Load("../../schemes/medsip-local-example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	problems, warnings := Validate(s, exampleEnv())
	if len(problems) != 0 || len(warnings) != 0 {
		t.Fatalf("the example scheme: problems\n%v\nwarnings\n%v", problems, warnings)
	}
}

// Each case edits the example scheme and names every problem Validate
// must find, exactly, each at its line with the fix.
func TestValidateProblems(t *testing.T) {
	data, err := os.ReadFile("../../schemes/medsip-local-example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	example := string(data)
	for _, tc := range []struct {
		name    string
		edits   []string // pairs: old, new
		env     func(*Environment)
		want    []string
		warning []string
	}{
		{
			name:  "another ICB",
			edits: []string{"icb: QXX", "icb: QZZ"},
			want: []string{
				`x.yaml:8:6: icb: the scheme is for ICB QZZ, but this collector serves ICB QXX (write icb: QXX if the scheme is this ICB's, or add it at ICB QZZ's collector)`,
				`x.yaml:27:5: practices: practice Y01001 belongs to ICB QXX, not the scheme's ICB QZZ (remove it from the list: a scheme pays its own ICB's practices only)`,
				`x.yaml:28:5: practices: practice Y01002 belongs to ICB QXX, not the scheme's ICB QZZ (remove it from the list: a scheme pays its own ICB's practices only)`,
				`x.yaml:29:5: practices: practice Y01003 belongs to ICB QXX, not the scheme's ICB QZZ (remove it from the list: a scheme pays its own ICB's practices only)`,
				`x.yaml:30:5: practices: practice Y01004 belongs to ICB QXX, not the scheme's ICB QZZ (remove it from the list: a scheme pays its own ICB's practices only)`,
			},
		},
		{
			name:  "unknown practice and another ICB's",
			edits: []string{"  - Y01003\n", "  - Y01009\n", "  - Y01004\n", "  - Y07777\n"},
			want: []string{
				`x.yaml:29:5: practices: practice Y01009 is not in the collector (add it with 'steward-collector practice add --ods Y01009 --name NAME --icb QXX', or correct the code)`,
				`x.yaml:30:5: practices: practice Y07777 belongs to ICB QZZ, not the scheme's ICB QXX (remove it from the list: a scheme pays its own ICB's practices only)`,
			},
		},
		{
			name:  "no bundle in range, no TUF repository",
			edits: []string{`versions: ">=2026.1.0 <2027.0.0"`, `versions: ">=2027.1.0"`},
			want: []string{
				`x.yaml:12:13: pack.versions: no version of pack medsip that agents can run is in the range ">=2027.1.0"; known: 2026.1.0 (built in); this collector has no search-bundle repository (tuf_repository), so the built-in pack is the only version agents have (widen the range to include the built-in version, or configure tuf_repository and publish a bundle in the range)`,
			},
		},
		{
			name:  "no bundle in range, with a TUF repository",
			edits: []string{`versions: ">=2026.1.0 <2027.0.0"`, `versions: ">=2027.1.0"`},
			env: func(e *Environment) {
				e.TUF = true
				e.PackVersions = append(e.PackVersions, PackVersion{Version: "2026.2.0", Source: "published"})
			},
			want: []string{
				`x.yaml:12:13: pack.versions: no version of pack medsip that agents can run is in the range ">=2027.1.0"; known: 2026.1.0 (built in), 2026.2.0 (published) (widen the range to include a known version, or publish a bundle in the range ('steward search sign', then 'steward search publish'))`,
			},
		},
		{
			name:  "a published bundle in range",
			edits: []string{`versions: ">=2026.1.0 <2027.0.0"`, `versions: ">=2026.2.0"`},
			env: func(e *Environment) {
				e.TUF = true
				e.PackVersions = []PackVersion{{Version: "2026.1.0", Source: "built in"}, {Version: "2026.2.0", Source: "published", Current: true}}
			},
		},
		{
			name:  "a published bundle in range, but agents run a newer one",
			edits: []string{`versions: ">=2026.1.0 <2027.0.0"`, `versions: ">=2026.2.0 <2026.3.0"`},
			env: func(e *Environment) {
				e.TUF = true
				e.PackVersions = []PackVersion{{Version: "2026.1.0", Source: "built in"}, {Version: "2026.2.0", Source: "published"},
					{Version: "2026.3.0", Source: "published", Current: true}}
			},
			warning: []string{
				`x.yaml:12:13: pack.versions: agents run pack medsip 2026.3.0 (published) now, which is outside the range ">=2026.2.0 <2026.3.0": their figures fail the pack_version gateway (check the range is the one meant, or publish a bundle in the range)`,
			},
		},
		{
			name: "two years of periods",
			edits: []string{"to: 2027-03", "to: 2028-03", "final_achievement_date: 2027-03-31", "final_achievement_date: 2028-03-31",
				"payment_period_end: 2027-06-30", "payment_period_end: 2028-06-30"},
			want: []string{
				`x.yaml:19:7: periods.to: the periods 2026-04 to 2028-03 are 24 months; a scheme runs for one scheme year, 12 months at most (end it by 2027-03, and add the next year as a scheme of its own with a new id)`,
			},
		},
		{
			name:  "a baseline years before",
			edits: []string{"baseline: 2026-03-31", "baseline: 2016-03-31"},
			want: []string{
				`x.yaml:15:11: baseline: the baseline 2016-03-31 is 121 months before the first period 2026-04 (more than 36) (check the year: the baseline is usually the month end before the first period, 2026-03-31)`,
			},
		},
		{
			name:  "payment before the final figures are due",
			edits: []string{"payment_period_end: 2027-06-30", "payment_period_end: 2027-04-05"},
			want: []string{
				`x.yaml:21:23: periods.payment_period_end: the payment period ends 2027-04-05, but figures for the final period are on time until 2027-04-10 (end the payment period after the submission deadline, or shorten submission_deadline_days)`,
			},
		},
		{
			name:  "payment years after",
			edits: []string{"payment_period_end: 2027-06-30", "payment_period_end: 2029-06-30"},
			want: []string{
				`x.yaml:21:23: periods.payment_period_end: the payment period ends 2029-06-30, 27 months after the final achievement date 2027-03-31 (more than 12) (check the year: payment usually ends within a few months of the final achievement date)`,
			},
		},
		{
			name:  "a role that declares and approves",
			edits: []string{"approve: [icb_medicines_optimisation_lead]", "approve: [practice_manager]"},
			want: []string{
				`x.yaml:88:13: sign_off.approve: role "practice_manager" both declares (a practice role) and approves (an ICB role) (give practice staff and ICB staff roles of different names)`,
			},
		},
		{
			name:  "a role another scheme uses the other way",
			edits: []string{"pay: [icb_finance]", "pay: [icb_finance, pcn_lead]"},
			env: func(e *Environment) {
				other := testScheme(t, "practices: [Y01001]\nelements:\n  - {id: r, title: R, type: per_patient, paid: monthly, count: long_term_reviewed.numerator, pence_per_patient: 1}\n")
				other.ID, other.SignOff.Declare = "other", []string{"pcn_lead"}
				e.Stored = []*Scheme{other}
			},
			want: []string{
				`x.yaml:89:22: sign_off.pay: role "pcn_lead" is a practice role (declare) in scheme other, so it cannot pay here (give practice staff and ICB staff roles of different names)`,
			},
			warning: []string{
				`x.yaml:18:3: periods: scheme other also pays practices Y01001 for 2026-04 to 2027-03 (if this scheme replaces it, retire it ('steward-collector scheme retire --scheme other') so no month is paid twice)`,
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			text := example
			for i := 0; i < len(tc.edits); i += 2 {
				if !strings.Contains(text, tc.edits[i]) {
					t.Fatalf("the example has no %q", tc.edits[i])
				}
				text = strings.Replace(text, tc.edits[i], tc.edits[i+1], 1)
			}
			s, err := Parse("x.yaml", []byte(text))
			if err != nil {
				t.Fatalf("the edited scheme does not load:\n%v", err)
			}
			env := exampleEnv()
			if tc.env != nil {
				tc.env(env)
			}
			problems, warnings := Validate(s, env)
			if got, want := lines(problems), strings.Join(tc.want, "\n"); got != want {
				t.Errorf("problems:\n%s\nwant:\n%s", got, want)
			}
			if got, want := lines(warnings), strings.Join(tc.warning, "\n"); got != want {
				t.Errorf("warnings:\n%s\nwant:\n%s", got, want)
			}
		})
	}
}

func lines(ps Problems) string {
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = p.String()
	}
	return strings.Join(out, "\n")
}

// A scheme for every practice of an ICB the collector has no practice of
// is accepted with a warning; without an environment only the scheme
// itself is checked.
func TestValidateAllPractices(t *testing.T) {
	s := testScheme(t, pointsScheme)
	env := exampleEnv()
	env.Practices = map[string]string{"Y07777": "QZZ"}
	problems, warnings := Validate(s, env)
	if len(problems) != 0 || len(warnings) != 1 || !strings.Contains(warnings[0].Msg, "no practice of ICB QXX is in the collector yet") {
		t.Fatalf("problems %v, warnings %v", problems, warnings)
	}
	if problems, warnings := Validate(s, nil); len(problems) != 0 || len(warnings) != 0 {
		t.Fatalf("without an environment: problems %v, warnings %v", problems, warnings)
	}
}
