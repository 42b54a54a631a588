package profile

import (
	"strings"
	"testing"

	"github.com/nhs-steward/steward/searches/schema"
)

func TestBuiltinProfiles(t *testing.T) {
	if got, want := strings.Join(Names(), ","), "canonical,tpp"; got != want {
		t.Fatalf("Names() = %s, want %s", got, want)
	}
	for _, n := range Names() {
		p, err := Lookup(n)
		if err != nil {
			t.Fatal(err)
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
	}
	if _, err := Lookup("emis"); err == nil || !strings.Contains(err.Error(), "canonical, tpp") {
		t.Errorf("Lookup(emis) = %v, want an error listing the profiles", err)
	}
	if _, err := Lookup("../x"); err == nil {
		t.Error("Lookup(../x) succeeded")
	}
}

func TestParseErrors(t *testing.T) {
	const ok = `steward: profile/v1
name: x
tables:
  patients: {sql: SELECT 1}
  registrations: {sql: SELECT 1}
  medication_issues: {sql: SELECT 1}
  clinical_events: {sql: "SELECT {{as_of}}"}
`
	if _, err := Parse("ok.yaml", []byte(ok)); err != nil {
		t.Fatalf("valid profile: %v", err)
	}
	cases := []struct{ name, text, want string }{
		{"unknown key", strings.Replace(ok, "name: x", "name: x\ncolour: red", 1), "field colour not found"},
		{"version", strings.Replace(ok, "profile/v1", "profile/v2", 1), `steward is "profile/v2"`},
		{"missing table", strings.Replace(ok, "  patients: {sql: SELECT 1}\n", "", 1), "table patients is missing"},
		{"unknown table", ok + "  visits: {sql: SELECT 1}\n", `unknown table "visits"`},
		{"no sql for a dialect", strings.Replace(ok, "patients: {sql: SELECT 1}", "patients: {sqlite: SELECT 1}", 1), "table patients has no SQL for postgres"},
		{"placeholder", strings.Replace(ok, "{{as_of}}", "{{baseline}}", 1), "unknown placeholder {{baseline}}"},
		{"semicolon", strings.Replace(ok, "patients: {sql: SELECT 1}", "patients: {sql: SELECT 1; DROP TABLE x}", 1), "may not contain ';'"},
		{"two documents", ok + "---\nname: y\n", "more than one YAML document"},
	}
	for _, c := range cases {
		_, err := Parse("p.yaml", []byte(c.text))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want one containing %q", c.name, err, c.want)
		}
	}
}
