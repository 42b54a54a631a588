package profile

import (
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/nhs-steward/steward/searches/schema"
)

// FuzzParse gives Parse arbitrary profile files, which a site writes by
// hand for its own database layout. Seeds: testdata/fuzz/FuzzParse (the
// built-in profiles, one with per-dialect SQL, broken ones).
//
// Properties:
//   - an error names the file it is about, and no profile comes with it;
//   - an accepted profile has, for every table and dialect, one trimmed
//     SELECT fragment without ';' whose only placeholder is {{as_of}};
//   - an accepted profile, written out again with each dialect's SQL
//     given separately, parses to the same profile.
func FuzzParse(f *testing.F) {
	for _, name := range Names() {
		b, err := builtin.ReadFile(name + ".yaml")
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		const source = "site.yaml"
		p, err := Parse(source, data)
		if err != nil {
			if p != nil {
				t.Fatalf("Parse returned a profile and the error %v", err)
			}
			if !strings.HasPrefix(err.Error(), source+": ") {
				t.Fatalf("error does not name the file: %v", err)
			}
			return
		}
		if !nameRE.MatchString(p.Name) {
			t.Fatalf("accepted the name %q", p.Name)
		}
		again := file{Steward: Version, Name: p.Name, Description: p.Description, Tables: map[string]table{}}
		for _, tab := range schema.Tables {
			var tb table
			for _, d := range dialects {
				s, err := p.Fragment(tab, d)
				if err != nil {
					t.Fatalf("accepted profile: %v", err)
				}
				if s == "" || s != strings.TrimSpace(s) || strings.Contains(s, ";") {
					t.Fatalf("accepted fragment %q for %s in %s", s, tab, d)
				}
				for _, ph := range placeholderRE.FindAllString(s, -1) {
					if ph != AsOf {
						t.Fatalf("accepted placeholder %s", ph)
					}
				}
				switch d {
				case schema.SQLite:
					tb.SQLite = s
				case schema.Postgres:
					tb.Postgres = s
				case schema.SQLServer:
					tb.SQLServer = s
				}
			}
			again.Tables[tab] = tb
		}
		out, err := yaml.Marshal(again)
		if err != nil {
			t.Fatal(err)
		}
		p2, err := Parse(source, out)
		if err != nil {
			t.Fatalf("the accepted profile, written out again, is refused: %v\n%s", err, out)
		}
		if p2.Name != p.Name || p2.Description != p.Description {
			t.Fatalf("written out again: name %q, description %q; want %q, %q", p2.Name, p2.Description, p.Name, p.Description)
		}
		for _, tab := range schema.Tables {
			for _, d := range dialects {
				a, _ := p.Fragment(tab, d)
				b, _ := p2.Fragment(tab, d)
				if a != b {
					t.Fatalf("written out again, %s in %s reads %q, want %q", tab, d, b, a)
				}
			}
		}
	})
}
