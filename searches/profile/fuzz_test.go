package profile

import (
	"strings"
	"testing"

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
			if !strings.HasPrefix(err.Error(), source+":") {
				t.Fatalf("error does not name the file: %v", err)
			}
			return
		}
		if !nameRE.MatchString(p.Name) {
			t.Fatalf("accepted the name %q", p.Name)
		}
		// Every table a profile supplies has, in every dialect, one trimmed
		// SELECT fragment without ';' whose placeholders are {{as_of}} or
		// its declared parameters.
		for _, tab := range schema.Tables {
			for _, d := range dialects {
				s, err := p.Fragment(tab, d)
				if err != nil {
					continue // a table the profile says it lacks
				}
				if s == "" || s != strings.TrimSpace(s) || strings.Contains(s, ";") {
					t.Fatalf("accepted fragment %q for %s in %s", s, tab, d)
				}
				// Every placeholder is one the profile can fill: {{as_of}}
				// or a parameter it declares.
				// (A declared parameter the site has not set yet is the one
				// error an accepted profile may give.)
				if _, err := p.Expand(tab, d, func(Placeholder) (string, error) { return "?", nil }); err != nil && !strings.Contains(err.Error(), "needs parameter") {
					t.Fatalf("accepted fragment for %s in %s that cannot be expanded: %v", tab, d, err)
				}
			}
		}
	})
}
