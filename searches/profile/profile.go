// Package profile maps the logical tables of the canonical practice schema
// (SCHEMA.md) onto a physical layout. A profile is data: a YAML file giving,
// for each logical table, a SQL fragment (one for every dialect, or a
// dialect-neutral one with per-dialect overrides) that produces exactly the
// canonical columns with canonical types. The compiler uses each fragment as
// a derived table. Built-in profiles are the embedded *.yaml files of this
// package: a new layout is a new data file, not new Go code.
//
// A fragment may use the placeholder {{as_of}}, which the compiler replaces
// with a bind parameter holding the run's as-of date.
package profile

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"regexp"
	"sort"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/nhs-steward/steward/searches/schema"
)

// Version is the value of the steward key of a profile file.
const Version = "profile/v1"

// Logical table names, and the columns each fragment must produce.
const (
	Patients         = "patients"
	Registrations    = "registrations"
	MedicationIssues = "medication_issues"
	ClinicalEvents   = "clinical_events"
)

// Columns lists the canonical columns of each logical table a fragment must
// produce.
var Columns = map[string][]string{
	Patients:         {"patient_id", "sex", "date_of_birth", "date_of_death", "imd_decile"},
	Registrations:    {"patient_id", "practice_ods", "start_date", "end_date"},
	MedicationIssues: {"patient_id", "issue_date", "dmd_code", "quantity"},
	ClinicalEvents:   {"patient_id", "event_date", "snomed_code", "numeric_value"},
}

// AsOf is the placeholder a fragment uses for the run's as-of date.
const AsOf = "{{as_of}}"

var dialects = []schema.Dialect{schema.SQLite, schema.Postgres, schema.SQLServer}

// Profile is a validated schema profile.
type Profile struct {
	Name        string
	Description string
	// fragments[table][dialect] is the SQL of table in dialect.
	fragments map[string]map[schema.Dialect]string
}

// Fragment returns the SQL fragment of a logical table in a dialect, with
// the {{as_of}} placeholder still in it.
func (p *Profile) Fragment(table string, d schema.Dialect) (string, error) {
	t, ok := p.fragments[table]
	if !ok {
		return "", fmt.Errorf("profile %s: no table %q", p.Name, table)
	}
	s, ok := t[d]
	if !ok {
		return "", fmt.Errorf("profile %s: table %s has no SQL for dialect %s", p.Name, table, d)
	}
	return s, nil
}

// file is the YAML shape of a profile.
type file struct {
	Steward     string           `yaml:"steward"`
	Name        string           `yaml:"name"`
	Description string           `yaml:"description"`
	Tables      map[string]table `yaml:"tables"`
}

type table struct {
	SQL       string `yaml:"sql"`
	SQLite    string `yaml:"sqlite"`
	Postgres  string `yaml:"postgres"`
	SQLServer string `yaml:"sqlserver"`
}

var (
	placeholderRE = regexp.MustCompile(`\{\{[^}]*\}\}`)
	nameRE        = regexp.MustCompile(`^[a-z][a-z0-9_]*$`)
)

// Parse reads and validates a profile file. source names it in errors.
// Every problem is reported, one per line.
func Parse(source string, data []byte) (*Profile, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	var f file
	if err := dec.Decode(&f); err != nil {
		return nil, fmt.Errorf("%s: %w", source, err)
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("%s: more than one YAML document (remove the second ---)", source)
	}
	var errs []error
	bad := func(format string, a ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", source, fmt.Sprintf(format, a...)))
	}
	if f.Steward != Version {
		bad("steward is %q (want %q)", f.Steward, Version)
	}
	if !nameRE.MatchString(f.Name) {
		bad("name %q is not [a-z][a-z0-9_]*", f.Name)
	}
	p := &Profile{Name: f.Name, Description: strings.TrimSpace(f.Description), fragments: map[string]map[schema.Dialect]string{}}
	for name := range f.Tables {
		if _, ok := Columns[name]; !ok {
			bad("unknown table %q (want patients, registrations, medication_issues or clinical_events)", name)
		}
	}
	for _, name := range schema.Tables {
		t, ok := f.Tables[name]
		if !ok {
			bad("table %s is missing", name)
			continue
		}
		byDialect := map[schema.Dialect]string{}
		for _, d := range dialects {
			s := t.SQL
			switch d {
			case schema.SQLite:
				s = or(t.SQLite, s)
			case schema.Postgres:
				s = or(t.Postgres, s)
			case schema.SQLServer:
				s = or(t.SQLServer, s)
			}
			s = strings.TrimSpace(s)
			if s == "" {
				bad("table %s has no SQL for %s (give sql, or %s)", name, d, d)
				continue
			}
			for _, ph := range placeholderRE.FindAllString(s, -1) {
				if ph != AsOf {
					bad("table %s (%s): unknown placeholder %s (the only one is %s)", name, d, ph, AsOf)
				}
			}
			if strings.Contains(s, ";") {
				bad("table %s (%s): a fragment is one SELECT and may not contain ';'", name, d)
			}
			byDialect[d] = s
		}
		p.fragments[name] = byDialect
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return p, nil
}

func or(a, b string) string {
	if strings.TrimSpace(a) != "" {
		return a
	}
	return b
}

// LoadFile reads and validates a profile file from disk.
func LoadFile(filename string) (*Profile, error) {
	data, err := os.ReadFile(filename)
	if err != nil {
		return nil, fmt.Errorf("read profile: %w", err)
	}
	return Parse(filename, data)
}

//go:embed *.yaml
var builtin embed.FS

// Names lists the built-in profiles.
func Names() []string {
	entries, err := builtin.ReadDir(".")
	if err != nil {
		return nil
	}
	var out []string
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), ".yaml") {
			out = append(out, strings.TrimSuffix(e.Name(), ".yaml"))
		}
	}
	sort.Strings(out)
	return out
}

// Lookup returns the built-in profile called name (the file name.yaml).
func Lookup(name string) (*Profile, error) {
	if !nameRE.MatchString(name) {
		return nil, fmt.Errorf("unknown profile %q (built in: %s)", name, strings.Join(Names(), ", "))
	}
	data, err := builtin.ReadFile(name + ".yaml")
	if err != nil {
		return nil, fmt.Errorf("unknown profile %q (built in: %s)", name, strings.Join(Names(), ", "))
	}
	p, err := Parse(path.Join("profile", name+".yaml"), data)
	if err != nil {
		return nil, err
	}
	if p.Name != name {
		return nil, fmt.Errorf("profile file %s.yaml is named %q (the name must match the file)", name, p.Name)
	}
	return p, nil
}
