package lang

import (
	"errors"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/nhs-steward/steward/searches/model"
)

var update = flag.Bool("update", false, "rewrite the .err golden files of testdata/invalid")

// load loads a search file, or a pack when the file is a pack manifest.
func load(t *testing.T, path string) error {
	t.Helper()
	src, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if Version(src) == VersionPack {
		_, err = LoadPack(path)
	} else {
		_, err = LoadSearch(path)
	}
	return err
}

// TestInvalid loads each testdata/invalid/*.yaml and compares its problems
// with the .err file beside it, exactly.
func TestInvalid(t *testing.T) {
	files, err := filepath.Glob("testdata/invalid/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no invalid fixtures: %v", err)
	}
	for _, f := range files {
		f = filepath.ToSlash(f)
		name := strings.TrimSuffix(filepath.Base(f), ".yaml")
		t.Run(name, func(t *testing.T) {
			err := load(t, f)
			if err == nil {
				t.Fatalf("load %s: no error", f)
			}
			var es Errors
			if !errors.As(err, &es) {
				t.Fatalf("load %s: error %v is not an Errors", f, err)
			}
			got := err.Error() + "\n"
			golden := strings.TrimSuffix(f, ".yaml") + ".err"
			if *update {
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test ./searches/lang -update)", err)
			}
			if got != strings.ReplaceAll(string(want), "\r\n", "\n") {
				t.Errorf("load %s:\ngot:\n%s\nwant:\n%s", f, got, want)
			}
		})
	}
}

func TestValid(t *testing.T) {
	files, err := filepath.Glob("testdata/valid/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no valid fixtures: %v", err)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			if err := load(t, f); err != nil {
				t.Fatalf("load %s:\n%v", f, err)
			}
		})
	}
}

func loadMedsip(t *testing.T) *model.Search {
	t.Helper()
	s, err := LoadSearch("testdata/valid/medsip.yaml")
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestMedsipModel(t *testing.T) {
	s := loadMedsip(t)
	if got, want := s.ID, "medsip"; got != want {
		t.Errorf("ID = %q, want %q", got, want)
	}
	if got, want := s.AgeBands, []int{18, 40, 65, 80}; !slices.Equal(got, want) {
		t.Errorf("AgeBands = %v, want %v", got, want)
	}
	if got, want := len(s.Parameters), 1; got != want || s.Parameters[0].Default != 120 {
		t.Fatalf("Parameters = %+v", s.Parameters)
	}
	for _, c := range s.Codelists {
		if !slices.IsSorted(c.Codes) || len(slices.Compact(slices.Clone(c.Codes))) != len(c.Codes) {
			t.Errorf("codelist %s: codes not sorted and distinct", c.Name)
		}
		for _, code := range c.Codes {
			if !isDigits(code) {
				t.Errorf("codelist %s: code %q", c.Name, code)
			}
		}
		for _, f := range c.Files {
			if len(f.SHA256) != 64 || f.Version == "" {
				t.Errorf("codelist %s file %s: sha %q version %q", c.Name, f.Path, f.SHA256, f.Version)
			}
		}
	}
	opioids := s.Codelists[0]
	if got, want := opioids.Name, "opioids"; got != want {
		t.Fatalf("first codelist %q, want %q", got, want)
	}
	// The transdermal fentanyl patch is in; a methadone (040704) product would be out.
	if _, ok := slices.BinarySearch(opioids.Codes, "36120011000001101"); !ok {
		t.Errorf("opioids lacks 36120011000001101")
	}
	if got := opioids.Files[1].Include["bnf_code"]; !slices.Equal(got, []string{"0407"}) {
		t.Errorf("include = %v", got)
	}
	if got, want := s.Codelists[1].Column, "id"; got != want {
		t.Errorf("cancer column = %q, want %q", got, want)
	}
	ome := s.References[0]
	if got, want := ome.Values["36120011000001101"], 60.0; got != want {
		t.Errorf("ome value = %v, want %v", got, want)
	}

	daily := s.Variable("daily_ome").Expr.(*model.Aggregate)
	if daily.Op != model.OpSum || daily.Value != model.ValueQuantityRef || daily.Ref != ome || !daily.PerDay ||
		!reflect.DeepEqual(daily.Window, model.Window{Kind: model.WindowMonths, N: 3, End: model.AnchorCurrent}) {
		t.Errorf("daily_ome = %+v", daily)
	}
	if w := s.Variable("new_since_baseline").Expr.(*model.Aggregate).Window; w.Kind != model.WindowBetween || w.Start != model.AnchorBaseline || w.End != model.AnchorCurrent {
		t.Errorf("after baseline window = %+v", w)
	}
	if w := s.Variable("on_opioids_at_baseline").Expr.(*model.Aggregate).Window; w.End != model.AnchorBaseline {
		t.Errorf("ending baseline window = %+v", w)
	}
	if got, want := s.Variable("last_review").Expr.Type(), model.Date; got != want {
		t.Errorf("last_review type = %v, want %v", got, want)
	}

	byID := map[string]*model.Measure{}
	for _, m := range s.Measures {
		byID[m.ID] = m
	}
	r := byID["ome_per_1000"]
	if r.Kind != model.KindRatio || r.Per != 1000 || r.Numerator.Kind != model.KindSum || r.Denominator.Kind != model.KindCount {
		t.Errorf("ome_per_1000 = %+v", r)
	}
	if r.Numerator == byID["ome_total_mg"].Value {
		t.Errorf("a {measure: id} part must be a copy, not the measure's own Agg")
	}
	if b := byID["long_term_baseline"]; b.At != model.AnchorBaseline || b.Value.At != model.AnchorBaseline || len(b.Stratify) != 3 {
		t.Errorf("long_term_baseline = %+v", b)
	}
	if got, want := byID["long_term_reviewed"].Per, 1.0; got != want {
		t.Errorf("default per = %v, want %v", got, want)
	}
	if !byID["high_dose"].Publishable {
		t.Errorf("high_dose not publishable")
	}
	if s.Worklist == nil || len(s.Worklist.Columns) != 3 || s.Worklist.Columns[1].Expr.Type() != model.Date {
		t.Errorf("worklist = %+v", s.Worklist)
	}
	if _, err := model.Resolve(s); err != nil {
		t.Fatalf("Resolve: %v", err)
	}
}

func TestPack(t *testing.T) {
	p, err := LoadPack("testdata/valid")
	if err != nil {
		t.Fatal(err)
	}
	if p.ID != "medsip" || p.Version != "2026.1.0" || len(p.Searches) != 2 {
		t.Errorf("pack = %+v", p)
	}
	// A single search file is a pack of one.
	p, err = LoadPack("testdata/valid/reviews.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if p.ID != "reviews" || len(p.Searches) != 1 {
		t.Errorf("one-search pack = %+v", p)
	}
}

const inlineHead = "steward: search/v1\nid: inline\ncodelists:\n  opioids:\n    files:\n      - path: ../../../codelists/opensafely-opioid-containing-medicines-transdermal-excluding-drugs-for-substance-misuse-dmd.csv\n        version: 02b4622b\n"

// TestExpressionColumns checks that errors point inside plain, quoted,
// multi-line and block scalars.
func TestExpressionColumns(t *testing.T) {
	for _, c := range []struct {
		name, vars, want string
	}{
		{"plain", "  x: registered and agee > 3\n", "x.yaml:6:21: undefined name \"agee\" (did you mean \"age\"?)"},
		{"double quoted", "  x: \"registered and agee > 3\"\n", "x.yaml:6:22: undefined name \"agee\" (did you mean \"age\"?)"},
		{"single quoted escape", "  x: 'registered and ''a'' and agee'\n", "x.yaml:6:22: unexpected quote inside an expression (expressions have no strings: use names, numbers, true and false)"},
		{"folded plain", "  x: registered and\n    agee > 3\n", "x.yaml:7:5: undefined name \"agee\" (did you mean \"age\"?)"},
		{"literal block", "  x: |\n    registered and\n      agee > 3\n", "x.yaml:8:7: undefined name \"agee\" (did you mean \"age\"?)"},
		{"folded block", "  x: >\n    registered and\n    (age > 3\n", "x.yaml:8:13: missing \")\" (add \")\" to close the \"(\" opened earlier)"},
		{"end of expression", "  x: registered and\n", "x.yaml:6:20: unexpected end of expression (complete the expression after the last operator)"},
		{"params", "  x: age > params.hihg\n", "x.yaml:6:19: undefined parameter \"hihg\" (did you mean \"high\"?)"},
	} {
		t.Run(c.name, func(t *testing.T) {
			src := "steward: search/v1\nid: inline\nparameters:\n  high: {default: 1}\nvariables:\n" + c.vars + "measures:\n  - id: m\n    count: registered\n"
			_, err := ParseSearch("x.yaml", []byte(src), ".")
			if err == nil {
				t.Fatalf("no error for\n%s", src)
			}
			if got := err.Error(); got != c.want {
				t.Errorf("got  %s\nwant %s\nsource:\n%s", got, c.want, src)
			}
		})
	}
}

func TestParseSearchInline(t *testing.T) {
	src := inlineHead + "variables:\n  on_patch:\n    exists: {issues: opioids, window: {days: 28}}\nmeasures:\n  - id: on_patch\n    count: on_patch and registered\n"
	s, err := ParseSearch("inline.yaml", []byte(src), "testdata/valid")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := len(s.Codelists[0].Codes), 150; got < want {
		t.Errorf("transdermal codes = %d, want at least %d", got, want)
	}
}

func TestErrorsFormat(t *testing.T) {
	es := sortErrors(Errors{
		{Pos: model.Pos{File: "b.yaml", Line: 1, Col: 1}, Msg: "third"},
		{Pos: model.Pos{File: "a.yaml", Line: 3, Col: 2}, Msg: "second", Fix: "fix it"},
		{Pos: model.Pos{File: "a.yaml", Line: 3, Col: 1}, Msg: "first"},
	})
	want := "a.yaml:3:1: first\na.yaml:3:2: second (fix it)\nb.yaml:1:1: third"
	if got := es.Error(); got != want {
		t.Errorf("Errors.Error() =\n%s\nwant\n%s", got, want)
	}
}

// TestPackFirstAsOf: a pack may name the first month end its figures are
// valid for; anything but a month end is refused at its line.
func TestPackFirstAsOf(t *testing.T) {
	p, err := LoadPack("../packs/medsip")
	if err != nil {
		t.Fatal(err)
	}
	if p.FirstAsOf != "2015-04-30" {
		t.Errorf("medsip first_as_of = %q", p.FirstAsOf)
	}
	dir := t.TempDir()
	src, err := os.ReadFile("testdata/valid/pack.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"medsip.yaml", "reviews.yaml"} {
		b, err := os.ReadFile(filepath.Join("testdata/valid", name))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	bad := strings.Replace(string(src), "title: MedSIP\n", "title: MedSIP\nfirst_as_of: 2015-04-15\n", 1)
	if err := os.WriteFile(filepath.Join(dir, "pack.yaml"), []byte(bad), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = LoadPack(dir)
	if err == nil || !strings.Contains(err.Error(), `pack.yaml:5:14: first_as_of "2015-04-15" is not a month end`) {
		t.Fatalf("LoadPack with first_as_of mid-month: %v", err)
	}
}
