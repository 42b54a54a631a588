package profile

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nhs-steward/steward/searches/schema"
)

func TestBuiltinProfiles(t *testing.T) {
	if got, want := strings.Join(Names(), ","), "canonical,emis,tpp"; got != want {
		t.Fatalf("Names() = %s, want %s", got, want)
	}
	for _, n := range Names() {
		p, err := Lookup(n)
		if err != nil {
			t.Fatal(err)
		}
		if p.Source != "built-in" {
			t.Errorf("%s: source %q", n, p.Source)
		}
		for _, table := range schema.Tables {
			for _, d := range []schema.Dialect{schema.SQLite, schema.Postgres, schema.SQLServer} {
				s, err := p.Fragment(table, d)
				if err != nil {
					t.Fatal(err)
				}
				for _, col := range Columns[table] {
					if !strings.Contains(s, col) {
						t.Errorf("%s %s (%s) does not produce %s", n, table, d, col)
					}
				}
			}
		}
		// The synthetic writers' parameters are exactly the profile's.
		var names []string
		for _, prm := range p.Parameters {
			names = append(names, prm.Name)
		}
		var want []string
		for k := range schema.Parameters(schema.Layout(n), "Y01234") {
			want = append(want, k)
		}
		if strings.Join(names, ",") != strings.Join(want, ",") {
			t.Errorf("%s declares parameters %v; schema.Parameters gives %v", n, names, want)
		}
		if _, err := p.Bind(schema.Parameters(schema.Layout(n), "Y01234")); err != nil {
			t.Errorf("%s: bind the synthetic parameters: %v", n, err)
		}
	}
	if _, err := Lookup("vision"); err == nil || !strings.Contains(err.Error(), "canonical, emis, tpp") {
		t.Errorf("Lookup(vision) = %v, want an error listing the profiles", err)
	}
	if _, err := Lookup("../x"); err == nil {
		t.Error("Lookup(../x) succeeded")
	}
	emis, _ := Lookup("emis")
	if !emis.Lacks(MedicationIssues, "quantity") || emis.Lacks(ClinicalEvents, "numeric_value") {
		t.Errorf("emis lacks %v, want medication_issues.quantity only", emis.Lacking())
	}
	tpp, _ := Lookup("tpp")
	if len(tpp.Lacking()) != 0 {
		t.Errorf("tpp lacks %v", tpp.Lacking())
	}
}

// ok is a minimal valid profile.
const ok = `steward: profile/v1
name: x
parameters:
  org:
    type: integer
    description: which organisation
tables:
  patients: {sql: "SELECT patient_id, sex, date_of_birth, date_of_death, imd_decile FROM p"}
  registrations:
    sql: |
      SELECT patient_id, {{practice_ods}} AS practice_ods, start_date, end_date
      FROM r WHERE org = {{org}}
  medication_issues: {sql: "SELECT patient_id, issue_date, dmd_code, quantity FROM m", lacks: [quantity]}
  clinical_events: {sql: "SELECT patient_id, event_date, snomed_code, numeric_value FROM e WHERE event_date <= {{as_of}}"}
`

func TestParseErrors(t *testing.T) {
	p, err := Parse("ok.yaml", []byte(ok))
	if err != nil {
		t.Fatalf("valid profile: %v", err)
	}
	if !p.Lacks(MedicationIssues, "quantity") || p.Source != "ok.yaml" {
		t.Errorf("lacks %v, source %q", p.Lacking(), p.Source)
	}
	cases := []struct{ name, text, want string }{
		{"unknown key", strings.Replace(ok, "name: x", "name: x\ncolour: red", 1), `p.yaml:3:1: unknown key "colour" at the top level`},
		{"version", strings.Replace(ok, "profile/v1", "profile/v2", 1), `p.yaml:1:10: steward is "profile/v2"`},
		{"missing table", strings.Replace(ok, `  patients: {sql: "SELECT patient_id, sex, date_of_birth, date_of_death, imd_decile FROM p"}`+"\n", "", 1), "table patients is missing"},
		{"unknown table", ok + "  visits: {sql: SELECT 1}\n", `p.yaml:15:3: unknown key "visits" in tables`},
		{"no sql for a dialect", strings.Replace(ok, `patients: {sql:`, `patients: {sqlite:`, 1), "table patients has no SQL for postgres"},
		{"placeholder", strings.Replace(ok, "{{as_of}}", "{{baseline}}", 1), "p.yaml:14:112: table clinical_events (sqlite, postgres, sqlserver): unknown placeholder {{baseline}}"},
		{"placeholder in a block", strings.Replace(ok, "{{org}}", "{{orgs}}", 1), "p.yaml:12:26: table registrations (sqlite, postgres, sqlserver): unknown placeholder {{orgs}}"},
		{"unclosed placeholder", strings.Replace(ok, "{{org}}", "{{org", 1), "a placeholder is not closed"},
		{"semicolon", strings.Replace(ok, "FROM p", "FROM p; DROP TABLE x", 1), "may not contain ';'"},
		{"two documents", ok + "---\nname: y\n", "p.yaml:15:1: a second YAML document"},
		{"column not named", strings.Replace(ok, "imd_decile FROM p", "FROM p", 1), "table patients (sqlite, postgres, sqlserver) never names column imd_decile"},
		{"unused parameter", strings.Replace(ok, "WHERE org = {{org}}", "", 1), "parameter org is declared but no fragment uses it"},
		{"parameter type", strings.Replace(ok, "type: integer", "type: int", 1), `parameter org: unknown type "int"`},
		{"parameter default", strings.Replace(ok, "type: integer", "type: integer\n    default: one", 1), `parameter org: default "one" is not a whole number`},
		{"builtin name", strings.Replace(strings.Replace(ok, "  org:", "  as_of:", 1), "{{org}}", "{{as_of}}", 1), `parameter name "as_of" is a built-in placeholder`},
		{"lacks a required column", strings.Replace(ok, "lacks: [quantity]", "lacks: [dmd_code]", 1), `table medication_issues cannot lack "dmd_code"`},
		{"syntax", "steward: [\n", "p.yaml:1:1: invalid YAML"},
		{"empty", "# nothing\n", "p.yaml:1:1: the file is empty"},
	}
	for _, c := range cases {
		_, err := Parse("p.yaml", []byte(c.text))
		var ps Problems
		if err == nil || !errors.As(err, &ps) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want a Problems containing %q", c.name, err, c.want)
		}
	}
	// Every problem of a file is reported at once, in file order.
	bad := strings.Replace(strings.Replace(ok, "name: x", "name: X", 1), "{{as_of}}", "{{baseline}}", 1)
	_, err = Parse("p.yaml", []byte(bad))
	if err == nil || strings.Count(err.Error(), "\n") != 1 || !strings.HasPrefix(err.Error(), `p.yaml:2:7: name "X"`) {
		t.Errorf("two problems: %v", err)
	}
}

func TestBindAndExpand(t *testing.T) {
	p, err := Parse("ok.yaml", []byte(ok))
	if err != nil {
		t.Fatal(err)
	}
	subst := func(h Placeholder) (string, error) {
		switch h.Name {
		case AsOfName:
			return "?asof", nil
		case PracticeODSName:
			return "?ods", nil
		}
		return fmt.Sprintf("?%s=%v", h.Name, h.Value), nil
	}
	if _, err := p.Expand(Registrations, schema.SQLite, subst); err == nil || !strings.Contains(err.Error(), "needs parameter org: which organisation") {
		t.Errorf("expand unbound: %v", err)
	}
	if _, err := p.Bind(nil); err == nil || !strings.Contains(err.Error(), "--profile-param org=VALUE") {
		t.Errorf("bind nothing: %v", err)
	}
	if _, err := p.Bind(map[string]string{"org": "12", "colour": "red"}); err == nil || !strings.Contains(err.Error(), `profile x has no parameter "colour" (it declares org)`) {
		t.Errorf("bind unknown: %v", err)
	}
	if _, err := p.Bind(map[string]string{"org": "twelve"}); err == nil || !strings.Contains(err.Error(), `parameter org: "twelve" is not a whole number (want integer)`) {
		t.Errorf("bind bad value: %v", err)
	}
	b, err := p.Bind(map[string]string{"org": " 12 "})
	if err != nil {
		t.Fatal(err)
	}
	if v, _ := b.Value("org"); v != int64(12) {
		t.Errorf("org = %#v", v)
	}
	if _, ok := p.Value("org"); ok {
		t.Error("Bind changed the unbound profile")
	}
	s, err := b.Expand(Registrations, schema.SQLite, subst)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(s, "?ods AS practice_ods") || !strings.Contains(s, "org = ?org=12") {
		t.Errorf("expanded: %s", s)
	}
}

func TestParameterTypes(t *testing.T) {
	for _, c := range []struct {
		typ  Type
		in   string
		want any
	}{
		{Integer, "42", int64(42)},
		{Number, "2.5", 2.5},
		{Text, " Y01234 ", "Y01234"},
		{Date, "2024-03-31", time.Date(2024, 3, 31, 0, 0, 0, 0, time.UTC)},
	} {
		prm := Parameter{Name: "p", Type: c.typ}
		got, err := prm.Parse(c.in)
		if err != nil || got != c.want {
			t.Errorf("%s %q = %#v, %v; want %#v", c.typ, c.in, got, err, c.want)
		}
	}
	for _, c := range []struct {
		typ Type
		in  string
	}{{Integer, "1.5"}, {Number, "x"}, {Date, "31/03/2024"}, {Text, "  "}} {
		prm := Parameter{Name: "p", Type: c.typ}
		if _, err := prm.Parse(c.in); err == nil {
			t.Errorf("%s %q accepted", c.typ, c.in)
		}
	}
}

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "ours.yaml"), []byte(ok), 0o644); err != nil {
		t.Fatal(err)
	}
	p, err := Load("ours.yaml", dir)
	if err != nil || p.Name != "x" || p.Source != filepath.Join(dir, "ours.yaml") {
		t.Fatalf("Load(ours.yaml) = %+v, %v", p, err)
	}
	if p, err := Load("tpp", dir); err != nil || p.Name != "tpp" {
		t.Fatalf("Load(tpp) = %v", err)
	}
	if _, err := Load("missing.yaml", dir); err == nil || !strings.Contains(err.Error(), "read profile") {
		t.Errorf("Load(missing.yaml) = %v", err)
	}
	for spec, want := range map[string]bool{"tpp": false, "ours.yaml": true, "ours.yml": true, "./ours": true, `c:\x\ours`: true, "canonical": false} {
		if IsFile(spec) != want {
			t.Errorf("IsFile(%q) = %v", spec, !want)
		}
	}
}
