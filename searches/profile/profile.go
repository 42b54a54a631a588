// Package profile maps the logical tables of the canonical practice schema
// (SCHEMA.md) onto a physical layout. A profile is data: a YAML file giving,
// for each logical table, a SQL fragment (one for every dialect, or a
// dialect-neutral one with per-dialect overrides) that produces exactly the
// canonical columns with canonical types. The compiler uses each fragment as
// a derived table. Built-in profiles are the embedded *.yaml files of this
// package; any other layout is a profile file a practice or ICB writes: a
// new layout is a new data file, not new Go code.
//
// A fragment may use placeholders, each of which the compiler replaces with
// a bind parameter, never with text spliced into the SQL:
//   - {{as_of}}: the run's as-of date;
//   - {{practice_ods}}: the practice's ODS code;
//   - {{NAME}}: the value of a parameter the profile declares, which the
//     practice sets in its config (for example which Organisation_ID is
//     this practice).
//
// A profile may also say which nullable canonical columns its layout cannot
// supply at all (lacks:), so that checks and documents can say plainly what
// cannot be computed on it.
package profile

import (
	"embed"
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/nhs-steward/steward/internal/yamlstrict"
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

// Nullable lists the canonical columns that may be NULL: the only ones a
// layout may lack.
var Nullable = map[string][]string{
	Patients:         {"date_of_death", "imd_decile"},
	Registrations:    {"end_date"},
	MedicationIssues: {"quantity"},
	ClinicalEvents:   {"numeric_value"},
}

// The built-in placeholders.
const (
	// AsOf is the placeholder a fragment uses for the run's as-of date.
	AsOf = "{{as_of}}"
	// PracticeODS is the placeholder for the practice's ODS code.
	PracticeODS = "{{practice_ods}}"
)

// Builtin placeholder names.
const (
	AsOfName        = "as_of"
	PracticeODSName = "practice_ods"
)

var dialects = []schema.Dialect{schema.SQLite, schema.Postgres, schema.SQLServer}

// Type is the type of a profile parameter.
type Type string

// Parameter types, and the Go type of a bound value.
const (
	Integer Type = "integer" // int64
	Number  Type = "number"  // float64
	Text    Type = "text"    // string
	Date    Type = "date"    // time.Time, a UTC midnight
)

var typeNames = []string{string(Integer), string(Number), string(Text), string(Date)}

// Parameter is a value a profile's fragments read that the practice sets
// in its config: bound as a parameter, never spliced into SQL.
type Parameter struct {
	Name        string
	Type        Type
	Description string
	// Default is the value when the config sets none; "" with HasDefault
	// false means the practice must set it.
	Default    string
	HasDefault bool
}

// Parse converts a value written in a config or on the command line.
func (p *Parameter) Parse(s string) (any, error) {
	s = strings.TrimSpace(s)
	switch p.Type {
	case Integer:
		v, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("%q is not a whole number", s)
		}
		return v, nil
	case Number:
		v, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return nil, fmt.Errorf("%q is not a number", s)
		}
		return v, nil
	case Date:
		v, err := time.Parse(time.DateOnly, s)
		if err != nil {
			return nil, fmt.Errorf("%q is not a date (YYYY-MM-DD)", s)
		}
		return v, nil
	}
	if s == "" {
		return nil, errors.New("the value is empty")
	}
	return s, nil
}

// Profile is a validated schema profile, possibly with its parameters
// bound (see Bind). It is immutable.
type Profile struct {
	Name        string
	Description string
	// Source is where the profile came from: "built-in" or a file path.
	Source string
	// Parameters are the declared parameters, by name.
	Parameters []Parameter
	// fragments[table][dialect] is the SQL of table in dialect.
	fragments map[string]map[schema.Dialect]string
	lacks     map[string][]string
	values    map[string]any // bound parameter values
}

// Fragment returns the SQL fragment of a logical table in a dialect, with
// its placeholders still in it.
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

// Lacks reports whether the layout cannot supply column of table at all
// (the fragment gives NULL).
func (p *Profile) Lacks(table, column string) bool {
	return slices.Contains(p.lacks[table], column)
}

// Lacking lists the "table.column" the layout cannot supply, sorted.
func (p *Profile) Lacking() []string {
	var out []string
	for t, cols := range p.lacks {
		for _, c := range cols {
			out = append(out, t+"."+c)
		}
	}
	sort.Strings(out)
	return out
}

// Parameter returns the declared parameter called name.
func (p *Profile) Parameter(name string) (*Parameter, bool) {
	for i := range p.Parameters {
		if p.Parameters[i].Name == name {
			return &p.Parameters[i], true
		}
	}
	return nil, false
}

// Value returns the bound value of a parameter.
func (p *Profile) Value(name string) (any, bool) {
	v, ok := p.values[name]
	return v, ok
}

// Bind returns the profile with its parameters set: values by name, as
// written in a config or on the command line, and the declared default of
// any not given. Every problem is reported, one a line, each naming the
// parameter and the fix.
func (p *Profile) Bind(values map[string]string) (*Profile, error) {
	var errs []string
	out := *p
	out.values = map[string]any{}
	for _, name := range sortedKeys(values) {
		if _, ok := p.Parameter(name); !ok {
			errs = append(errs, fmt.Sprintf("profile %s has no parameter %q (%s)", p.Name, name, p.paramHint()))
		}
	}
	for _, prm := range p.Parameters {
		s, ok := values[prm.Name]
		if !ok {
			if !prm.HasDefault {
				errs = append(errs, fmt.Sprintf("profile %s needs parameter %s: %s (set it: %s)", p.Name, prm.Name, prm.Description, "database.profile_parameters in the agent config, --profile-param "+prm.Name+"=VALUE on the command line"))
				continue
			}
			s = prm.Default
		}
		v, err := prm.Parse(s)
		if err != nil {
			errs = append(errs, fmt.Sprintf("profile %s parameter %s: %v (want %s)", p.Name, prm.Name, err, prm.Type))
			continue
		}
		out.values[prm.Name] = v
	}
	if len(errs) > 0 {
		return nil, errors.New(strings.Join(errs, "\n"))
	}
	return &out, nil
}

func (p *Profile) paramHint() string {
	if len(p.Parameters) == 0 {
		return "it declares none"
	}
	names := make([]string, len(p.Parameters))
	for i, prm := range p.Parameters {
		names[i] = prm.Name
	}
	return "it declares " + strings.Join(names, ", ")
}

// Placeholder is what one {{name}} of a fragment stands for.
type Placeholder struct {
	Name string
	// Param is the declared parameter, nil for as_of and practice_ods.
	Param *Parameter
	// Value is the parameter's bound value (int64, float64, string or
	// time.Time); nil for as_of and practice_ods.
	Value any
}

var (
	placeholderRE = regexp.MustCompile(`\{\{[^}]*\}\}`)
	nameRE        = regexp.MustCompile(`^[a-z][a-z0-9_]*$`)
)

// Expand returns the fragment of table in dialect d with every placeholder
// replaced by what subst returns for it (the caller's bind parameter). It
// fails when a parameter the fragment uses has no value: Bind first.
func (p *Profile) Expand(table string, d schema.Dialect, subst func(Placeholder) (string, error)) (string, error) {
	s, err := p.Fragment(table, d)
	if err != nil {
		return "", err
	}
	var failed error
	out := placeholderRE.ReplaceAllStringFunc(s, func(ph string) string {
		if failed != nil {
			return ph
		}
		name := strings.TrimSpace(ph[2 : len(ph)-2])
		h := Placeholder{Name: name}
		if name != AsOfName && name != PracticeODSName {
			prm, ok := p.Parameter(name)
			if !ok {
				failed = fmt.Errorf("profile %s: table %s uses unknown placeholder %s", p.Name, table, ph)
				return ph
			}
			v, ok := p.values[name]
			if !ok {
				failed = fmt.Errorf("profile %s needs parameter %s: %s (set it: database.profile_parameters in the agent config, --profile-param %s=VALUE on the command line)", p.Name, name, prm.Description, name)
				return ph
			}
			h.Param, h.Value = prm, v
		}
		r, err := subst(h)
		if err != nil {
			failed = err
			return ph
		}
		return r
	})
	if failed != nil {
		return "", failed
	}
	return out, nil
}

// Problem and Problems are the YAML loaders' shared diagnostics
// (internal/yamlstrict): every problem of a profile file in one pass, each
// as file:line:col: problem (fix).
type (
	Pos      = yamlstrict.Pos
	Problem  = yamlstrict.Problem
	Problems = yamlstrict.Problems
)

// Parse reads and validates a profile file. source names it in errors.
// Every problem is reported in one pass, as a Problems.
func Parse(source string, data []byte) (*Profile, error) {
	ps := &parser{file: source, src: strings.Split(string(data), "\n")}
	p := ps.parse(data)
	if err := ps.probs.Err(); err != nil {
		return nil, err
	}
	p.Source = source
	return p, nil
}

type parser struct {
	file  string
	probs Problems
	src   []string
}

func (ps *parser) add(n *yaml.Node, msg, fix string) {
	ps.probs = append(ps.probs, Problem{Pos: yamlstrict.At(ps.file, n), Msg: msg, Fix: fix})
}

func (ps *parser) at(line, col int, msg, fix string) {
	ps.probs = append(ps.probs, Problem{Pos: Pos{File: ps.file, Line: line, Col: col}, Msg: msg, Fix: fix})
}

func (ps *parser) keys(n *yaml.Node, where string, allowed []string) yamlstrict.Pairs {
	pairs, kps := yamlstrict.Keys(n, allowed)
	for _, kp := range kps {
		switch kp.Kind {
		case yamlstrict.UnknownKey:
			ps.add(kp.Key, fmt.Sprintf("unknown key %q %s", kp.Key.Value, where),
				yamlstrict.Suggest(kp.Key.Value, allowed, "known keys: "+strings.Join(allowed, ", ")))
		case yamlstrict.DuplicateKey:
			ps.add(kp.Key, fmt.Sprintf("key %q given twice %s", kp.Key.Value, where), fmt.Sprintf("keep one: the first is on line %d", kp.First.Line))
		case yamlstrict.KeyNotScalar:
			ps.add(kp.Key, "a key "+where+" is a list or a mapping", "keys are plain names")
		}
	}
	return pairs
}

// scalar returns the text of a scalar node, reporting anything else.
func (ps *parser) scalar(n *yaml.Node, what string) (string, bool) {
	if n.Kind != yaml.ScalarNode || n.Tag == "!!null" {
		ps.add(n, what+" must be a single value", "write it after the colon")
		return "", false
	}
	return n.Value, true
}

func (ps *parser) parse(data []byte) *Profile {
	root, err := yamlstrict.Parse(data)
	var second *yamlstrict.SecondDocumentError
	if err != nil {
		ps.probs = append(ps.probs, yamlstrict.ParseProblem(ps.file, err, yamlstrict.Fixes{
			Empty:  "start from a built-in profile: see docs/layouts.md",
			Second: "a profile holds one document: remove the second '---'",
		}))
		if !errors.As(err, &second) {
			return nil
		}
	}
	if root.Kind != yaml.MappingNode {
		ps.add(root, "a profile must be a mapping of keys to values", "start from a built-in profile: see docs/layouts.md")
		return nil
	}
	p := &Profile{fragments: map[string]map[schema.Dialect]string{}, lacks: map[string][]string{}}
	pairs := ps.keys(root, "at the top level", []string{"steward", "name", "description", "parameters", "tables"})
	if v, ok := pairs.Get("steward"); !ok {
		ps.add(root, "steward is missing", "add `steward: "+Version+"` as the first line")
	} else if s, ok := ps.scalar(v, "steward"); ok && s != Version {
		ps.add(v, fmt.Sprintf("steward is %q", s), "this Steward reads "+Version)
	}
	if v, ok := pairs.Get("name"); !ok {
		ps.add(root, "name is missing", "add e.g. `name: our_extract`")
	} else if s, ok := ps.scalar(v, "name"); ok {
		if !nameRE.MatchString(s) {
			ps.add(v, fmt.Sprintf("name %q is not [a-z][a-z0-9_]*", s), "use lower-case letters, digits and _, starting with a letter")
		}
		p.Name = s
	}
	if v, ok := pairs.Get("description"); ok {
		if s, ok := ps.scalar(v, "description"); ok {
			p.Description = strings.TrimSpace(s)
		}
	}
	if v, ok := pairs.Get("parameters"); ok {
		ps.parameters(v, p)
	}
	used := map[string]bool{}
	tables, ok := pairs.Get("tables")
	if !ok {
		ps.add(root, "tables is missing", "give the SQL of patients, registrations, medication_issues and clinical_events")
		return p
	}
	if tables.Kind != yaml.MappingNode {
		ps.add(tables, "tables must be a mapping of table names to SQL", "see docs/layouts.md")
		return p
	}
	tp := ps.keys(tables, "in tables", schema.Tables)
	for _, name := range schema.Tables {
		v, ok := tp.Get(name)
		if !ok {
			ps.add(tables, fmt.Sprintf("table %s is missing", name), "give the SQL that produces "+strings.Join(Columns[name], ", "))
			continue
		}
		ps.table(name, v, p, used)
	}
	for _, prm := range p.Parameters {
		if !used[prm.Name] {
			ps.add(tables, fmt.Sprintf("parameter %s is declared but no fragment uses it", prm.Name), "use {{"+prm.Name+"}} in a fragment, or remove the parameter")
		}
	}
	return p
}

func (ps *parser) parameters(n *yaml.Node, p *Profile) {
	if n.Kind != yaml.MappingNode {
		ps.add(n, "parameters must be a mapping of names to their type and description", "e.g. organisation_id: {type: integer, description: ...}")
		return
	}
	pairs := ps.keys(n, "in parameters", nil)
	for _, pr := range pairs {
		prm := Parameter{Name: pr.Key.Value}
		if !nameRE.MatchString(prm.Name) {
			ps.add(pr.Key, fmt.Sprintf("parameter name %q is not [a-z][a-z0-9_]*", prm.Name), "use lower-case letters, digits and _")
		}
		if prm.Name == AsOfName || prm.Name == PracticeODSName {
			ps.add(pr.Key, fmt.Sprintf("parameter name %q is a built-in placeholder", prm.Name), "choose another name")
		}
		v := pr.Value
		if v.Kind != yaml.MappingNode {
			ps.add(v, fmt.Sprintf("parameter %s must be a mapping", prm.Name), "give type and description, e.g. {type: integer, description: ...}")
			continue
		}
		fp := ps.keys(v, "in parameter "+prm.Name, []string{"type", "description", "default"})
		if t, ok := fp.Get("type"); !ok {
			ps.add(v, fmt.Sprintf("parameter %s has no type", prm.Name), "type: "+strings.Join(typeNames, ", "))
		} else if s, ok := ps.scalar(t, "type"); ok {
			if !slices.Contains(typeNames, s) {
				ps.add(t, fmt.Sprintf("parameter %s: unknown type %q", prm.Name, s), "want "+strings.Join(typeNames, ", "))
			}
			prm.Type = Type(s)
		}
		if d, ok := fp.Get("description"); !ok {
			ps.add(v, fmt.Sprintf("parameter %s has no description", prm.Name), "say what the practice sets it to and where to find the value")
		} else if s, ok := ps.scalar(d, "description"); ok {
			prm.Description = strings.Join(strings.Fields(s), " ")
		}
		if d, ok := fp.Get("default"); ok {
			if s, ok := ps.scalar(d, "default"); ok {
				prm.Default, prm.HasDefault = s, true
				if prm.Type != "" {
					if _, err := prm.Parse(s); err != nil {
						ps.add(d, fmt.Sprintf("parameter %s: default %v", prm.Name, err), "give a "+string(prm.Type))
					}
				}
			}
		}
		p.Parameters = append(p.Parameters, prm)
	}
	sort.Slice(p.Parameters, func(i, j int) bool { return p.Parameters[i].Name < p.Parameters[j].Name })
}

func (ps *parser) table(name string, n *yaml.Node, p *Profile, used map[string]bool) {
	if n.Kind != yaml.MappingNode {
		ps.add(n, fmt.Sprintf("table %s must be a mapping", name), "give sql: (or sqlite:, postgres:, sqlserver:)")
		return
	}
	fp := ps.keys(n, "in table "+name, []string{"sql", "sqlite", "postgres", "sqlserver", "lacks"})
	text := map[string]*yaml.Node{}
	for _, k := range []string{"sql", "sqlite", "postgres", "sqlserver"} {
		if v, ok := fp.Get(k); ok {
			if _, ok := ps.scalar(v, "the SQL of "+name); ok {
				text[k] = v
			}
		}
	}
	if v, ok := fp.Get("lacks"); ok {
		if v.Kind != yaml.SequenceNode {
			ps.add(v, fmt.Sprintf("lacks of %s must be a list of columns", name), "e.g. lacks: [quantity]")
		} else {
			for _, c := range v.Content {
				col, ok := ps.scalar(c, "a column of lacks")
				if !ok {
					continue
				}
				if !slices.Contains(Nullable[name], col) {
					ps.add(c, fmt.Sprintf("table %s cannot lack %q", name, col), "only a nullable column may be lacking: "+strings.Join(Nullable[name], ", "))
					continue
				}
				p.lacks[name] = append(p.lacks[name], col)
			}
		}
	}
	// Each distinct text is checked once, naming the dialects that use it.
	byDialect := map[schema.Dialect]string{}
	var nodes []*yaml.Node
	users := map[*yaml.Node][]schema.Dialect{}
	for _, d := range dialects {
		node := text[string(d)]
		if node == nil || strings.TrimSpace(node.Value) == "" {
			node = text["sql"]
		}
		if node == nil || strings.TrimSpace(node.Value) == "" {
			ps.add(n, fmt.Sprintf("table %s has no SQL for %s", name, d), fmt.Sprintf("give sql:, or %s:", d))
			continue
		}
		if users[node] == nil {
			nodes = append(nodes, node)
		}
		users[node] = append(users[node], d)
	}
	for _, node := range nodes {
		s := strings.TrimSpace(node.Value)
		label := make([]string, len(users[node]))
		for i, d := range users[node] {
			label[i] = string(d)
		}
		if ps.fragment(name, strings.Join(label, ", "), node, s, p, used) {
			for _, d := range users[node] {
				byDialect[d] = s
			}
		}
	}
	p.fragments[name] = byDialect
}

// fragment checks one fragment and reports whether it is sound.
func (ps *parser) fragment(table, d string, node *yaml.Node, s string, p *Profile, used map[string]bool) bool {
	ok := true
	where := func(needle string) (int, int) { return ps.locate(node, needle) }
	if strings.ContainsRune(s, 0) {
		ps.add(node, fmt.Sprintf("table %s (%s): the SQL holds a NUL character", table, d), "remove it")
		ok = false
	}
	if strings.Contains(s, ";") {
		l, c := where(";")
		ps.at(l, c, fmt.Sprintf("table %s (%s): a fragment is one SELECT and may not contain ';'", table, d), "remove the ';' and anything after it")
		ok = false
	}
	for _, ph := range placeholderRE.FindAllString(s, -1) {
		name := strings.TrimSpace(ph[2 : len(ph)-2])
		if name == AsOfName || name == PracticeODSName {
			continue
		}
		if _, declared := p.Parameter(name); declared {
			used[name] = true
			continue
		}
		l, c := where(ph)
		ps.at(l, c, fmt.Sprintf("table %s (%s): unknown placeholder %s", table, d, ph),
			"the built-in ones are {{as_of}} and {{practice_ods}}; declare any other under parameters:")
		ok = false
	}
	if rest := placeholderRE.ReplaceAllString(s, ""); strings.Contains(rest, "{{") || strings.Contains(rest, "}}") {
		l, c := where("{{")
		ps.at(l, c, fmt.Sprintf("table %s (%s): a placeholder is not closed", table, d), "write {{name}}")
		ok = false
	}
	for _, col := range Columns[table] {
		if !regexp.MustCompile(`(?i)\b` + col + `\b`).MatchString(s) {
			ps.add(node, fmt.Sprintf("table %s (%s) never names column %s", table, d, col),
				"the fragment must produce it, e.g. ... AS "+col+" (NULL AS "+col+" when the layout has none)")
			ok = false
		}
	}
	return ok
}

// locate returns the line and column of the first needle in a scalar's
// text as the file holds it, or the scalar's own position.
func (ps *parser) locate(n *yaml.Node, needle string) (int, int) {
	first := n.Line
	if n.Style&(yaml.LiteralStyle|yaml.FoldedStyle) != 0 {
		first++ // a block scalar's text starts below its indicator
	}
	for l := first; l <= len(ps.src) && l < first+strings.Count(n.Value, "\n")+2; l++ {
		if i := strings.Index(ps.src[l-1], needle); i >= 0 {
			return l, i + 1
		}
	}
	return n.Line, n.Column
}

func sortedKeys(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// LoadFile reads and validates a profile file from disk.
func LoadFile(filename string) (*Profile, error) {
	data, err := os.ReadFile(filename)
	if err != nil {
		return nil, fmt.Errorf("read profile: %w", err)
	}
	return Parse(filename, data)
}

// IsFile reports whether a profile named on a command line or in a config
// is a file (a path, or a name ending .yaml or .yml) rather than the name of
// a built-in profile.
func IsFile(spec string) bool {
	return strings.HasSuffix(spec, ".yaml") || strings.HasSuffix(spec, ".yml") || strings.ContainsAny(spec, `/\`)
}

// Load returns the built-in profile called spec, or reads the profile file
// spec names (relative to dir when not absolute).
func Load(spec, dir string) (*Profile, error) {
	if !IsFile(spec) {
		return Lookup(spec)
	}
	if !filepath.IsAbs(spec) && dir != "" {
		spec = filepath.Join(dir, spec)
	}
	return LoadFile(spec)
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
		return nil, fmt.Errorf("unknown profile %q (built in: %s; or give a profile file, *.yaml)", name, strings.Join(Names(), ", "))
	}
	data, err := builtin.ReadFile(name + ".yaml")
	if err != nil {
		return nil, fmt.Errorf("unknown profile %q (built in: %s; or give a profile file, *.yaml)", name, strings.Join(Names(), ", "))
	}
	p, err := Parse(path.Join("profile", name+".yaml"), data)
	if err != nil {
		return nil, err
	}
	if p.Name != name {
		return nil, fmt.Errorf("profile file %s.yaml is named %q (the name must match the file)", name, p.Name)
	}
	p.Source = "built-in"
	return p, nil
}
