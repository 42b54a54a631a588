package profile

import (
	"errors"
	"os"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/nhs-steward/steward/searches/schema"
)

// FuzzParse gives Parse arbitrary profile files, which a site writes by
// hand for its own database layout. Seeds: testdata/fuzz/FuzzParse (the
// built-in profiles, one with per-dialect SQL, one with parameters and
// lacks, broken ones).
//
// Properties:
//   - an error is a Problems naming the file, every problem at a line
//     (and column) of it, and no profile comes with it;
//   - an accepted profile has, for every table and dialect, one trimmed
//     SELECT fragment without ';' whose placeholders are {{as_of}},
//     {{practice_ods}} or a declared parameter, every declared parameter
//     used, and lacks only nullable columns;
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
			var ps Problems
			if !errors.As(err, &ps) || len(ps) == 0 {
				t.Fatalf("error is not a Problems: %v", err)
			}
			// YAML breaks lines at \n, \r\n and a lone \r.
			lines := strings.Count(strings.ReplaceAll(string(data), "\r\n", "\n"), "\n") + strings.Count(strings.ReplaceAll(string(data), "\r\n", "\n"), "\r") + 2
			for _, q := range ps {
				if q.File != source {
					t.Fatalf("problem %+v does not name the file %s", q, source)
				}
				if q.Line < 1 || q.Line > lines || q.Col < 1 || q.Msg == "" {
					t.Fatalf("problem %+v is not at a place in the %d lines", q, lines)
				}
			}
			if !strings.HasPrefix(err.Error(), source+":") {
				t.Fatalf("error does not name the file: %v", err)
			}
			return
		}
		if !nameRE.MatchString(p.Name) {
			t.Fatalf("accepted the name %q", p.Name)
		}
		used := map[string]bool{}
		again := fileOut{Steward: Version, Name: p.Name, Description: p.Description, Tables: map[string]tableOut{}}
		if len(p.Parameters) > 0 {
			again.Parameters = map[string]paramOut{}
		}
		for _, prm := range p.Parameters {
			po := paramOut{Type: string(prm.Type), Description: prm.Description}
			if prm.HasDefault {
				d := prm.Default
				po.Default = &d
			}
			again.Parameters[prm.Name] = po
		}
		for _, tab := range schema.Tables {
			var tb tableOut
			for _, c := range p.lacks[tab] {
				if !slices.Contains(Nullable[tab], c) {
					t.Fatalf("accepted %s lacking %s", tab, c)
				}
				tb.Lacks = append(tb.Lacks, c)
			}
			for _, d := range dialects {
				s, err := p.Fragment(tab, d)
				if err != nil {
					t.Fatalf("accepted profile: %v", err)
				}
				if s == "" || s != strings.TrimSpace(s) || strings.Contains(s, ";") {
					t.Fatalf("accepted fragment %q for %s in %s", s, tab, d)
				}
				for _, ph := range placeholderRE.FindAllString(s, -1) {
					name := strings.TrimSpace(ph[2 : len(ph)-2])
					if _, ok := p.Parameter(name); !ok && name != AsOfName && name != PracticeODSName {
						t.Fatalf("accepted placeholder %s", ph)
					}
					used[name] = true
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
		for _, prm := range p.Parameters {
			if !used[prm.Name] {
				t.Fatalf("accepted parameter %s that no fragment uses", prm.Name)
			}
		}
		out, err := yaml.Marshal(again)
		if err != nil {
			t.Fatal(err)
		}
		p2, err := Parse(source, out)
		if err != nil {
			t.Fatalf("the accepted profile, written out again, is refused: %v\n%s", err, out)
		}
		p2.Source = p.Source
		if !reflect.DeepEqual(p, p2) {
			t.Fatalf("written out again, the profile reads\n%+v\nwant\n%+v\n%s", p2, p, out)
		}
	})
}

// The YAML shape of a profile file, for writing one out.
type fileOut struct {
	Steward     string              `yaml:"steward"`
	Name        string              `yaml:"name"`
	Description string              `yaml:"description,omitempty"`
	Parameters  map[string]paramOut `yaml:"parameters,omitempty"`
	Tables      map[string]tableOut `yaml:"tables"`
}

type paramOut struct {
	Type        string  `yaml:"type"`
	Description string  `yaml:"description"`
	Default     *string `yaml:"default,omitempty"`
}

type tableOut struct {
	SQLite    string   `yaml:"sqlite"`
	Postgres  string   `yaml:"postgres"`
	SQLServer string   `yaml:"sqlserver"`
	Lacks     []string `yaml:"lacks,omitempty"`
}

// TestFuzzSeedsParse: the seeds exercise both sides of Parse.
func TestFuzzSeedsParse(t *testing.T) {
	accepted := 0
	for _, name := range []string{"per-dialect", "parameters", "problems", "syntax", "unknown-key"} {
		b, err := fuzzSeed(name)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := Parse("site.yaml", b); err == nil {
			accepted++
		}
	}
	if accepted != 2 {
		t.Errorf("%d seeds parse, want 2 (per-dialect, parameters)", accepted)
	}
}

func fuzzSeed(name string) ([]byte, error) {
	b, err := os.ReadFile("testdata/fuzz/FuzzParse/" + name)
	if err != nil {
		return nil, err
	}
	_, lit, _ := strings.Cut(string(b), "[]byte(")
	lit = strings.TrimSpace(lit)
	lit = strings.TrimSuffix(lit, ")")
	s, err := strconv.Unquote(lit)
	return []byte(s), err
}
