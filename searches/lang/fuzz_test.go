package lang

import (
	"bytes"
	"context"
	"errors"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/nhs-steward/steward/internal/fuzzcheck"
	"github.com/nhs-steward/steward/searches/compile"
	"github.com/nhs-steward/steward/searches/dataset"
	"github.com/nhs-steward/steward/searches/dialect/postgres"
	"github.com/nhs-steward/steward/searches/dialect/sqlite"
	"github.com/nhs-steward/steward/searches/dialect/sqlserver"
	"github.com/nhs-steward/steward/searches/engine"
	"github.com/nhs-steward/steward/searches/eval"
	"github.com/nhs-steward/steward/searches/model"
	"github.com/nhs-steward/steward/searches/profile"
)

// FuzzParseExpr gives the expression parser arbitrary text, as a search
// author writes it in a variable, a measure or a worklist. Seeds:
// testdata/fuzz/FuzzParseExpr (every expression of the test searches and
// mistakes the parser explains).
//
// Properties:
//   - a syntax error is at an offset inside the text (or at its end) and
//     says what is wrong and how to fix it;
//   - a parsed expression spans the whole text but its surrounding blanks,
//     each node's text lies inside its parent's;
//   - the tree printed back with every operand in parentheses parses to the
//     same tree.
func FuzzParseExpr(f *testing.F) {
	f.Fuzz(func(t *testing.T, src string) {
		a, err := parseExpr(src)
		if err != nil {
			if a != nil {
				t.Fatalf("parseExpr(%q) returned a tree and the error %v", src, err)
			}
			if err.off < 0 || err.off > len(src) || err.msg == "" || err.fix == "" {
				t.Fatalf("parseExpr(%q): error %+v", src, *err)
			}
			return
		}
		if strings.TrimSpace(src[:a.off]) != "" || strings.TrimSpace(src[a.end:]) != "" {
			t.Fatalf("parseExpr(%q) spans [%d, %d), not all of the text", src, a.off, a.end)
		}
		checkSpans(t, src, a, 0, len(src))
		printed := printExpr(a)
		b, err := parseExpr(printed)
		if err != nil {
			t.Fatalf("parseExpr(%q) printed as %q, which does not parse: %v", src, printed, err)
		}
		if x, y := bare(a), bare(b); !reflect.DeepEqual(x, y) {
			t.Fatalf("parseExpr(%q) printed as %q parses to another tree:\n%+v\n%+v", src, printed, x, y)
		}
	})
}

// checkSpans checks that a and its operands lie inside [lo, hi).
func checkSpans(t *testing.T, src string, a *ast, lo, hi int) {
	t.Helper()
	if a == nil {
		return
	}
	if a.off < lo || a.end > hi || a.off >= a.end {
		t.Fatalf("in %q: node %q spans [%d, %d) outside [%d, %d)", src, a.op+a.name, a.off, a.end, lo, hi)
	}
	checkSpans(t, src, a.l, a.off, a.end)
	checkSpans(t, src, a.r, a.off, a.end)
}

// printExpr writes a back as expression text, every operand in
// parentheses.
func printExpr(a *ast) string {
	switch a.kind {
	case aNum:
		return strconv.FormatFloat(a.num, 'f', -1, 64)
	case aBool:
		return strconv.FormatBool(a.b)
	case aName:
		if a.at != "" {
			return a.name + "@" + a.at
		}
		return a.name
	case aParam:
		return "params." + a.name
	case aNot:
		return "not (" + printExpr(a.l) + ")"
	case aNeg:
		return "-(" + printExpr(a.l) + ")"
	case aParen:
		return "(" + printExpr(a.l) + ")"
	case aBin:
		return "(" + printExpr(a.l) + ") " + a.op + " (" + printExpr(a.r) + ")"
	}
	return "?"
}

// bareAST is an ast without positions and parentheses.
type bareAST struct {
	Kind     astKind
	Op, Name string
	At       string
	Num      float64
	B        bool
	L, R     *bareAST
}

func bare(a *ast) *bareAST {
	for a != nil && a.kind == aParen {
		a = a.l
	}
	if a == nil {
		return nil
	}
	return &bareAST{Kind: a.kind, Op: a.op, Name: a.name, At: a.at, Num: a.num, B: a.b, L: bare(a.l), R: bare(a.r)}
}

// searchDir lays out, under a temporary folder, copies of the files the
// test searches refer to, as in the repository, each large codelist cut to
// a sample of its rows so that a search loads in well under a millisecond.
// It returns the place of testdata/valid, where FuzzParseSearch reads
// searches from.
func searchDir(f *testing.F) string {
	root := f.TempDir()
	for from, to := range map[string]string{
		"testdata/codelists": "searches/lang/testdata/codelists",
		"testdata/reference": "searches/lang/testdata/reference",
		"../codelists":       "searches/codelists",
		"../reference":       "searches/reference",
	} {
		if err := copySample(from, filepath.Join(root, filepath.FromSlash(to))); err != nil {
			f.Fatal(err)
		}
	}
	dir := filepath.Join(root, "searches", "lang", "testdata", "valid")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		f.Fatal(err)
	}
	return dir
}

// copySample copies the CSV files of folder from into to (made if need
// be), keeping the header and at most 60 rows of each, evenly spread.
func copySample(from, to string) error {
	if err := os.MkdirAll(to, 0o755); err != nil {
		return err
	}
	names, _ := filepath.Glob(filepath.Join(from, "*.csv"))
	for _, name := range names {
		b, err := os.ReadFile(name)
		if err != nil {
			return err
		}
		lines := bytes.SplitAfter(b, []byte("\n"))
		if len(lines) > 61 {
			keep := [][]byte{lines[0]}
			step := (len(lines) - 1 + 59) / 60
			for i := 1; i < len(lines); i += step {
				keep = append(keep, lines[i])
			}
			b = bytes.Join(keep, nil)
		}
		if err := os.WriteFile(filepath.Join(to, filepath.Base(name)), b, 0o644); err != nil {
			return err
		}
	}
	return nil
}

// fuzzAsOf is the run date of the searches FuzzParseSearch accepts.
var fuzzDates = model.Dates{AsOf: dataset.Date(2025, 3, 31), Baseline: dataset.Date(2024, 3, 31)}

// FuzzParseSearch gives ParseSearch arbitrary search files, read against
// copies of the test codelists and reference tables. Seeds:
// testdata/fuzz/FuzzParseSearch (the test searches, valid and invalid, and
// the MedSIP pack's search).
//
// Properties:
//   - a refusal is Errors, each in the search file or one of the files it
//     names, at a line and column (of the text, for the search), sorted,
//     one a line;
//   - an accepted search is what the engines take: it resolves into a plan,
//     compiles to SQL for SQLite, PostgreSQL and SQL Server, and the
//     reference evaluator runs it over a small practice whose patients have
//     a code of each of its codelists.
func FuzzParseSearch(f *testing.F) {
	dir := searchDir(f)
	prof, err := profile.Lookup("canonical")
	if err != nil {
		f.Fatal(err)
	}
	dialects := []compile.Dialect{sqlite.Dialect{}, postgres.Dialect{}, sqlserver.Dialect{}}
	f.Fuzz(func(t *testing.T, src []byte) {
		const name = "search.yaml"
		s, err := ParseSearch(name, src, dir)
		if err != nil {
			if s != nil {
				t.Fatalf("ParseSearch returned a search and the error %v", err)
			}
			checkErrors(t, name, src, err, func(p string) bool { _, err := os.Stat(p); return err == nil })
			return
		}
		plan, err := model.Resolve(s)
		if err != nil {
			t.Fatalf("an accepted search does not resolve: %v", err)
		}
		for _, d := range dialects {
			opts := compile.Options{Practice: "Y01234", Dates: fuzzDates}
			if _, err := compile.SQL(plan, d, prof, opts); err != nil {
				t.Fatalf("an accepted search does not compile for %s: %v", d.Name(), err)
			}
		}
		ev := eval.New(fuzzPractice(s))
		if _, err := ev.Evaluate(context.Background(), engine.Input{Plan: plan, Practice: "Y01234", Dates: fuzzDates}); err != nil {
			t.Fatalf("the reference evaluator refuses an accepted search: %v", err)
		}
	})
}

// checkErrors checks that a refusal says where each problem is; named
// says whether a file other than the search is one the loader read.
func checkErrors(t *testing.T, name string, src []byte, err error, named func(path string) bool) {
	t.Helper()
	var es Errors
	if !errors.As(err, &es) || len(es) == 0 {
		t.Fatalf("error %T %v is not Errors", err, err)
	}
	for i, e := range es {
		switch {
		case e.Msg == "" || e.Pos.Line < 1 || e.Pos.Col < 1:
			t.Fatalf("problem %q has no place", e)
		case e.Pos.File == name:
			if !fuzzcheck.InYAML(src, e.Pos.Line, e.Pos.Col) {
				t.Fatalf("problem %q is not at a place in the %d lines", e, fuzzcheck.YAMLLines(src))
			}
		default:
			// A file the search names: whatever it is called, the loader
			// reads it as CSV.
			if !named(e.Pos.File) {
				t.Fatalf("problem %q is in neither the search nor a file it names", e)
			}
		}
		if strings.Contains(e.Error(), "\n") {
			t.Fatalf("problem printed over several lines: %q", e)
		}
		if i > 0 {
			p, q := es[i-1].Pos, e.Pos
			if p.File > q.File || p.File == q.File && (p.Line > q.Line || p.Line == q.Line && p.Col > q.Col) {
				t.Fatalf("problems out of order: %q before %q", es[i-1], e)
			}
		}
	}
}

// fuzzPractice is a practice of three adults at Y01234, each with an issue
// and an event of the first code of every codelist of s in each of the last
// 15 months, one of them also registered elsewhere.
func fuzzPractice(s *model.Search) *dataset.Dataset {
	ds := &dataset.Dataset{}
	imd := 3
	for id := int64(1); id <= 3; id++ {
		ds.Patients = append(ds.Patients, dataset.Patient{ID: id, Sex: []string{"F", "M", "U"}[id-1],
			DateOfBirth: dataset.Date(1950+int(id)*10, time.Month(id), 15), IMDDecile: &imd})
		ds.Registrations = append(ds.Registrations, dataset.Registration{PatientID: id, Practice: "Y01234", Start: dataset.Date(2010, 1, 1)})
	}
	left := dataset.Date(2024, 10, 1)
	ds.Registrations = append(ds.Registrations, dataset.Registration{PatientID: 3, Practice: "Y09999", Start: dataset.Date(2000, 1, 1), End: &left})
	n := int64(0)
	for _, cl := range s.Codelists {
		if len(cl.Codes) == 0 {
			continue
		}
		code := cl.Codes[0]
		for m := 0; m < 15; m++ {
			for id := int64(1); id <= 3; id++ {
				n++
				q, v := float64(28*id), float64(m)
				day := dataset.Date(2025, 3, 10).AddDate(0, -m, 0)
				ds.Issues = append(ds.Issues, dataset.Issue{ID: n, PatientID: id, Date: day, Code: code, Quantity: &q, Dose: "1 daily"})
				ds.Events = append(ds.Events, dataset.Event{ID: n, PatientID: id, Date: day, Code: code, Value: &v})
			}
		}
	}
	return ds
}

// csvSearch reads its codelist from c.csv (code column found by name) and
// its reference table from r.csv, and uses both.
const csvSearch = `steward: search/v1
id: csv
codelists:
  opioids:
    files:
      - path: c.csv
        version: v1
references:
  ome:
    path: r.csv
    version: v1
    key: dmd_code
    value: mg_ome_per_unit
variables:
  on_opioids:
    exists: {issues: opioids, window: {months: 3}}
  daily_ome:
    sum: {issues: opioids, window: {months: 3}, value: quantity * ome, per_day: true}
measures:
  - id: on_opioids
    count: on_opioids and registered
  - id: high_dose
    count: daily_ome >= 120
`

// FuzzSearchCSV gives the loader arbitrary codelist and reference-table
// CSV files, which come from OpenCodelists downloads and from hand edits,
// as the files c.csv and r.csv of a fixed search, parsed once. The loader
// reads them from memory (readCSV); FuzzParseSearch reads real files.
// Seeds: testdata/fuzz/FuzzSearchCSV (real codelists and
// reference tables, cut short, and broken ones).
//
// Properties:
//   - a refusal is Errors, each in the search, c.csv or r.csv, at a line of
//     that file and a column, sorted, one a line;
//   - an accepted codelist holds distinct codes made of digits, sorted, and
//     the reference table finite numbers; the search runs in the reference
//     evaluator.
func FuzzSearchCSV(f *testing.F) {
	dir := f.TempDir()
	var doc yaml.Node
	if err := yaml.Unmarshal([]byte(csvSearch), &doc); err != nil {
		f.Fatal(err)
	}
	src := []byte(csvSearch)
	var c, r []byte // the files of the input being run
	files := map[string]*[]byte{filepath.Join(dir, "c.csv"): &c, filepath.Join(dir, "r.csv"): &r}
	readCSV = func(name string) ([]byte, error) {
		if b, ok := files[filepath.FromSlash(name)]; ok {
			return *b, nil
		}
		return os.ReadFile(name)
	}
	f.Cleanup(func() { readCSV = os.ReadFile })
	f.Fuzz(func(t *testing.T, cIn, rIn []byte) {
		c, r = cIn, rIn
		const name = "search.yaml"
		s, err := ParseSearchNode(name, src, doc.Content[0], dir)
		if err != nil {
			if s != nil {
				t.Fatalf("ParseSearch returned a search and the error %v", err)
			}
			checkErrors(t, name, src, err, func(p string) bool { _, ok := files[filepath.FromSlash(p)]; return ok })
			var es Errors
			errors.As(err, &es)
			for _, e := range es {
				var csv []byte
				switch filepath.Base(e.Pos.File) {
				case "c.csv":
					csv = c
				case "r.csv":
					csv = r
				default:
					continue
				}
				if lines := bytes.Count(csv, []byte("\n")) + 1; e.Pos.Line > lines {
					t.Fatalf("problem %q is past the end of a file of %d lines", e, lines)
				}
			}
			return
		}
		codes := s.Codelists[0].Codes
		if len(codes) == 0 {
			t.Fatal("accepted an empty codelist")
		}
		for i, code := range codes {
			if !isDigits(code) || i > 0 && codes[i-1] >= code {
				t.Fatalf("accepted codes %q", codes)
			}
		}
		for k, v := range s.References[0].Values {
			if k == "" || math.IsNaN(v) || math.IsInf(v, 0) {
				t.Fatalf("accepted reference value %q: %v", k, v)
			}
		}
		plan, err := model.Resolve(s)
		if err != nil {
			t.Fatalf("an accepted search does not resolve: %v", err)
		}
		if _, err := eval.New(fuzzPractice(s)).Evaluate(context.Background(), engine.Input{Plan: plan, Practice: "Y01234", Dates: fuzzDates}); err != nil {
			t.Fatalf("the reference evaluator refuses an accepted search: %v", err)
		}
	})
}
