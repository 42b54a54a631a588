package schemes

import (
	"fmt"
	"io"
	"os"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"gopkg.in/yaml.v3"

	"github.com/nhs-steward/steward/internal/yamlstrict"

	"github.com/nhs-steward/steward/searches/semver"
)

// ErrInvalid is wrapped by every Problems error. It is the sentinel every
// loader's Problems matches (internal/diag): a refused file, as against one
// that could not be read.
var ErrInvalid = yamlstrict.ErrInvalid

// Problem is one thing wrong with a scheme file: its Pos, the Path within
// the document (e.g. "elements[1].count"), what is wrong and how to fix it.
// It is the diagnostic every loader shares.
type Problem = yamlstrict.Problem

// Problems is every problem found in a scheme file, in file order. It is
// the error Load and Parse return; errors.Is(err, ErrInvalid) holds.
type Problems = yamlstrict.Problems

// MaxFileBytes bounds a scheme file.
const MaxFileBytes = 1 << 20

// Load reads and validates the scheme file at path against the medsip
// measures. On invalid content the error is a Problems listing every
// problem.
func Load(path string) (*Scheme, error) {
	return Loader{}.Load(path)
}

// Parse validates a scheme held in data; name is the file name used in
// problem positions.
func Parse(name string, data []byte) (*Scheme, error) {
	return Loader{}.Parse(name, data)
}

// Loader loads schemes against a catalogue of measures.
type Loader struct {
	// Pack is the id of the pack whose measures Measures lists; "" means
	// "medsip".
	Pack string
	// Measures are the measure ids a scheme may use; nil means
	// MedSIPMeasures().
	Measures Catalogue
}

// Load reads and validates the scheme file at path.
func (l Loader) Load(path string) (*Scheme, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("open scheme: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxFileBytes+1))
	if err != nil {
		return nil, fmt.Errorf("read scheme: %w", err)
	}
	return l.Parse(path, data)
}

// Parse validates a scheme held in data.
func (l Loader) Parse(name string, data []byte) (*Scheme, error) {
	cat := l.Measures
	if cat == nil {
		cat = MedSIPMeasures()
	}
	pack := l.Pack
	if pack == "" {
		pack = "medsip"
	}
	p := &parser{file: name, cat: cat, packID: pack}
	s := p.parse(data)
	if err := Problems(p.problems).Err(); err != nil {
		return nil, err
	}
	return s, nil
}

var (
	schemeIDPattern = regexp.MustCompile(`^[a-z][a-z0-9_-]{0,63}$`)
	idPattern       = regexp.MustCompile(`^[a-z][a-z0-9_]{0,63}$`)
	odsPattern      = regexp.MustCompile(`^[A-Z0-9]{3,10}$`)
	monthPattern    = regexp.MustCompile(`^\d{4}-(0[1-9]|1[0-2])$`)
)

// RoleSteward is the role of Steward itself: only it calculates and
// recalculates. A scheme may not grant it.
const RoleSteward = "steward"

type parser struct {
	file     string
	packID   string
	cat      Catalogue
	problems []Problem
	// positions are where values are, by path (Scheme.Positions).
	positions map[string]Pos
}

func (p *parser) pos(n *yaml.Node) Pos { return yamlstrict.At(p.file, n) }

// mark records where the value at path is, for Validate's messages.
func (p *parser) mark(path string, n *yaml.Node) {
	if p.positions == nil {
		p.positions = map[string]Pos{}
	}
	p.positions[path] = p.pos(n)
}

// markKeys records where each of keys' values is in m.
func (p *parser) markKeys(m *mapping, keys []string) {
	for _, k := range keys {
		if n, ok := m.get(k); ok {
			p.mark(join(m.path, k), n)
		}
	}
}

func (p *parser) add(n *yaml.Node, path, msg, fix string) {
	p.problems = append(p.problems, Problem{Pos: p.pos(n), Path: path, Msg: msg, Fix: fix})
}

func (p *parser) parse(data []byte) *Scheme {
	if len(data) > MaxFileBytes {
		p.problems = append(p.problems, Problem{Pos: Pos{File: p.file, Line: 1, Col: 1},
			Msg: fmt.Sprintf("file is larger than %d bytes", MaxFileBytes), Fix: "a scheme file is small; check the file name"})
		return nil
	}
	root, err := yamlstrict.Parse(data)
	if err != nil {
		p.problems = append(p.problems, yamlstrict.ParseProblem(p.file, err, yamlstrict.Fixes{
			Empty:  "start with version: 1",
			Second: "a scheme file holds one document; remove the --- and what follows, or move it to its own file",
		}))
	}
	if root == nil {
		return nil
	}
	if !p.noAliases(root) {
		return nil
	}
	m := p.mapping(root, "", "the scheme", topKeys, nil)
	if m == nil {
		return nil
	}
	// The version decides how the rest is read, so check it first.
	vn, ok := m.get("version")
	if !ok {
		p.add(root, "", `missing key "version"`, "add version: 1 as the first line")
		return nil
	}
	if vn.Kind != yaml.ScalarNode || vn.Tag != "!!int" {
		p.add(vn, "version", "must be a whole number", "write version: 1")
		return nil
	}
	if v, err := strconv.Atoi(vn.Value); err != nil || v != FormatVersion {
		p.add(vn, "version", fmt.Sprintf("version %s is not supported", vn.Value), fmt.Sprintf("this Steward reads version %d", FormatVersion))
		return nil
	}
	m.require(topRequired...)

	s := &Scheme{Pos: p.pos(root)}
	p.markKeys(m, topKeys)
	defer func() { s.Positions = p.positions }()
	s.ID = p.str(m, "id", schemeIDPattern, "use lower-case letters, digits, - and _, starting with a letter")
	s.Title = p.str(m, "title", nil, "")
	s.ICB = p.str(m, "icb", odsPattern, "use the ICB's ODS code, e.g. QXX")
	if n, ok := m.get("pack"); ok {
		s.Pack = p.pack(n)
	}
	s.Baseline = p.date(m, "baseline", true)
	if n, ok := m.get("periods"); ok {
		s.Periods = p.periods(n, s.Baseline)
	}
	if n, ok := m.get("practices"); ok {
		s.Practices, s.AllPractices = p.practices(n)
	}
	if n, ok := m.get("gateway"); ok {
		s.Gateway = p.gateway(n)
	}
	if n, ok := m.get("elements"); ok {
		s.Elements = p.elements(n)
	}
	if n, ok := m.get("caps"); ok {
		if cm := p.mapping(n, "caps", "caps", []string{"practice_pence"}, nil); cm != nil {
			s.PracticeCapPence = p.pence(cm, "practice_pence")
		}
	}
	if n, ok := m.get("sign_off"); ok {
		s.SignOff = p.signOff(n)
	}
	return s
}

var (
	topKeys     = []string{"version", "id", "title", "icb", "pack", "baseline", "periods", "practices", "gateway", "elements", "caps", "sign_off"}
	topRequired = []string{"id", "title", "icb", "pack", "baseline", "periods", "practices", "elements", "sign_off"}
)

// noAliases refuses anchors, aliases and merge keys: a scheme is read by
// finance and auditors, so every value is written where it applies.
func (p *parser) noAliases(n *yaml.Node) bool {
	ok := true
	var walk func(*yaml.Node)
	walk = func(n *yaml.Node) {
		if n.Kind == yaml.AliasNode || n.Anchor != "" {
			p.add(n, "", "YAML anchors and aliases are not allowed", "write the value out in full where it applies")
			ok = false
			return
		}
		for _, c := range n.Content {
			walk(c)
		}
	}
	walk(n)
	return ok
}

// mapping is a checked YAML mapping.
type mapping struct {
	p     *parser
	node  *yaml.Node
	path  string
	pairs yamlstrict.Pairs
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// mapping checks that n is a mapping whose keys are all in allowed, each
// once. what names the mapping in messages.
func (p *parser) mapping(n *yaml.Node, path, what string, allowed, required []string) *mapping {
	if n.Kind != yaml.MappingNode {
		p.add(n, path, fmt.Sprintf("%s must be a mapping of keys to values, not %s", what, yamlstrict.Describe(n)), "write key: value lines, indented under it")
		return nil
	}
	pairs, probs := yamlstrict.Keys(n, allowed)
	for _, kp := range probs {
		switch k := kp.Key; kp.Kind {
		case yamlstrict.KeyNotScalar:
			p.add(k, path, "keys must be plain words", "write the key as a word such as id")
		case yamlstrict.UnknownKey:
			fix := yamlstrict.Suggest(k.Value, allowed, "allowed keys: "+strings.Join(allowed, ", "))
			p.add(k, path, fmt.Sprintf("unknown key %q in %s", k.Value, what), fix)
		case yamlstrict.DuplicateKey:
			p.add(k, path, fmt.Sprintf("key %q appears twice", k.Value), "keep one of them")
		}
	}
	m := &mapping{p: p, node: n, path: path, pairs: pairs}
	m.require(required...)
	return m
}

func (m *mapping) get(key string) (*yaml.Node, bool) { return m.pairs.Get(key) }

func (m *mapping) require(keys ...string) {
	for _, k := range keys {
		if _, ok := m.get(k); !ok {
			where := "at the top level"
			if m.path != "" {
				where = "under " + m.path
			}
			m.p.add(m.node, m.path, fmt.Sprintf("missing key %q", k), fmt.Sprintf("add %s: %s", k, where))
		}
	}
}

// scalarString returns the text of a string scalar (dates count as text),
// or reports a type problem.
func (p *parser) scalarString(n *yaml.Node, path string) (string, bool) {
	if n.Kind == yaml.ScalarNode && (n.Tag == "!!str" || n.Tag == "!!timestamp") && n.Value != "" {
		return n.Value, true
	}
	if n.Kind == yaml.ScalarNode && n.Tag == "!!str" {
		p.add(n, path, "must not be empty", "write a value")
		return "", false
	}
	fix := "write a single value"
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		fix = "write a value"
	} else if n.Kind == yaml.ScalarNode {
		fix = fmt.Sprintf("quote it: %q", n.Value)
	}
	p.add(n, path, "must be a string, not "+yamlstrict.Describe(n), fix)
	return "", false
}

// str reads a required-if-present string key, checking pattern when given.
func (p *parser) str(m *mapping, key string, pattern *regexp.Regexp, fix string) string {
	n, ok := m.get(key)
	if !ok {
		return ""
	}
	path := join(m.path, key)
	v, ok := p.scalarString(n, path)
	if !ok {
		return ""
	}
	if pattern != nil && !pattern.MatchString(v) {
		p.add(n, path, fmt.Sprintf("%q is not a valid %s", v, strings.ReplaceAll(key, "_", " ")), fix)
		return ""
	}
	return v
}

// date reads a YYYY-MM-DD date; monthEnd requires the last day of a month.
func (p *parser) date(m *mapping, key string, monthEnd bool) string {
	n, ok := m.get(key)
	if !ok {
		return ""
	}
	path := join(m.path, key)
	v, ok := p.scalarString(n, path)
	if !ok {
		return ""
	}
	t, err := time.Parse(time.DateOnly, v)
	if err != nil {
		p.add(n, path, fmt.Sprintf("%q is not a date", v), "write YYYY-MM-DD, e.g. 2026-03-31")
		return ""
	}
	if monthEnd && t.AddDate(0, 0, 1).Day() != 1 {
		p.add(n, path, fmt.Sprintf("%s is not the last day of a month", v), "use a month end, e.g. "+monthEndOf(t).Format(time.DateOnly))
		return ""
	}
	return v
}

func monthEndOf(t time.Time) time.Time {
	return time.Date(t.Year(), t.Month()+1, 0, 0, 0, 0, 0, time.UTC)
}

func (p *parser) month(m *mapping, key string) string {
	n, ok := m.get(key)
	if !ok {
		return ""
	}
	path := join(m.path, key)
	v, ok := p.scalarString(n, path)
	if !ok {
		return ""
	}
	if !monthPattern.MatchString(v) {
		p.add(n, path, fmt.Sprintf("%q is not a month", v), "write YYYY-MM, e.g. 2026-04")
		return ""
	}
	return v
}

// number reads a plain decimal number node.
func (p *parser) number(n *yaml.Node, path string) (Decimal, bool) {
	if n.Kind != yaml.ScalarNode || (n.Tag != "!!int" && n.Tag != "!!float") {
		fix := "write a plain number such as 1500"
		if n.Kind == yaml.ScalarNode && n.Tag == "!!str" {
			if _, err := ParseDecimal(n.Value); err == nil {
				fix = "remove the quotes"
			}
		}
		p.add(n, path, "must be a number, not "+yamlstrict.Describe(n), fix)
		return Decimal{}, false
	}
	d, err := ParseDecimal(n.Value)
	if err != nil {
		p.add(n, path, err.Error(), fmt.Sprintf("write a plain decimal with at most %d decimal places, e.g. 220.62", maxDecimalPlaces))
		return Decimal{}, false
	}
	return d, true
}

// decimal reads a key holding a number within [lo, hi] (nil: unbounded);
// positive requires > 0.
func (p *parser) decimal(m *mapping, key string, positive bool, hi *Decimal) (Decimal, bool) {
	n, ok := m.get(key)
	if !ok {
		return Decimal{}, false
	}
	path := join(m.path, key)
	d, ok := p.number(n, path)
	if !ok {
		return Decimal{}, false
	}
	switch {
	case positive && d.Sign() <= 0:
		p.add(n, path, fmt.Sprintf("must be greater than 0, not %s", d), "use a positive number")
		return Decimal{}, false
	case d.Sign() < 0:
		p.add(n, path, fmt.Sprintf("must not be negative, not %s", d), "use 0 or more")
		return Decimal{}, false
	case hi != nil && d.Cmp(*hi) > 0:
		p.add(n, path, fmt.Sprintf("must be at most %s, not %s", hi, d), "use a value in range")
		return Decimal{}, false
	}
	return d, true
}

// whole reads a key holding a whole number within [lo, hi].
func (p *parser) whole(m *mapping, key string, lo, hi int64) (int64, bool) {
	n, ok := m.get(key)
	if !ok {
		return 0, false
	}
	path := join(m.path, key)
	if n.Kind != yaml.ScalarNode || n.Tag != "!!int" {
		p.add(n, path, "must be a whole number, not "+yamlstrict.Describe(n), fmt.Sprintf("write a whole number from %d to %d", lo, hi))
		return 0, false
	}
	v, err := strconv.ParseInt(n.Value, 10, 64)
	if err != nil || v < lo || v > hi {
		p.add(n, path, fmt.Sprintf("%s is out of range", n.Value), fmt.Sprintf("write a whole number from %d to %d", lo, hi))
		return 0, false
	}
	return v, true
}

// pence reads an optional cap in whole pence (> 0).
func (p *parser) pence(m *mapping, key string) int64 {
	v, _ := p.whole(m, key, 1, 1e12)
	return v
}

func (p *parser) pack(n *yaml.Node) PackRange {
	m := p.mapping(n, "pack", "pack", []string{"id", "versions"}, []string{"id", "versions"})
	if m == nil {
		return PackRange{}
	}
	p.markKeys(m, []string{"id", "versions"})
	pr := PackRange{ID: p.str(m, "id", idPattern, "use the pack id, e.g. "+p.packID)}
	if pr.ID != "" && pr.ID != p.packID {
		in, _ := m.get("id")
		p.add(in, "pack.id", fmt.Sprintf("pack %q is not known", pr.ID), fmt.Sprintf("schemes are written against pack %s", p.packID))
	}
	if vn, ok := m.get("versions"); ok {
		if v, ok := p.scalarString(vn, "pack.versions"); ok {
			cons, err := semver.ParseRange(v)
			if err != nil {
				p.add(vn, "pack.versions", err.Error(), `write comparisons separated by spaces, e.g. ">=2026.1.0 <2027.0.0"`)
			} else {
				pr.Versions, pr.cons = v, &cons
			}
		}
	}
	return pr
}

func (p *parser) periods(n *yaml.Node, baseline string) Periods {
	keys := []string{"from", "to", "final_achievement_date", "payment_period_end", "submission_deadline_days", "late_submissions"}
	m := p.mapping(n, "periods", "periods", keys, keys)
	if m == nil {
		return Periods{}
	}
	p.markKeys(m, keys)
	var ps Periods
	ps.From = p.month(m, "from")
	ps.To = p.month(m, "to")
	ps.FinalAchievementDate = p.date(m, "final_achievement_date", true)
	ps.PaymentPeriodEnd = p.date(m, "payment_period_end", false)
	if d, ok := p.whole(m, "submission_deadline_days", 0, 366); ok {
		ps.DeadlineDays = int(d)
	}
	if ln, ok := m.get("late_submissions"); ok {
		if v, ok := p.scalarString(ln, "periods.late_submissions"); ok {
			switch LatePolicy(v) {
			case LatePay, LateWithhold:
				ps.Late = LatePolicy(v)
			default:
				p.add(ln, "periods.late_submissions", fmt.Sprintf("%q is not a late-submission policy", v), "use pay or withhold")
			}
		}
	}
	if ps.To != "" && ps.DeadlineDays >= 0 {
		// A reconciliation carries its deadline as an RFC 3339 time, whose
		// year has four digits.
		if end, err := periodMonthEnd(ps.To); err == nil && end.AddDate(0, 0, ps.DeadlineDays+1).Year() > 9999 {
			tn, _ := m.get("to")
			p.add(tn, "periods.to", fmt.Sprintf("the submission deadline of %s falls after the year 9999", ps.To), "use the scheme's real last period")
		}
	}
	if ps.From != "" && ps.To != "" && ps.From > ps.To {
		fn, _ := m.get("to")
		p.add(fn, "periods.to", fmt.Sprintf("%s is before from (%s)", ps.To, ps.From), "put to on or after from")
	}
	if fa := ps.FinalAchievementDate; fa != "" && ps.From != "" && ps.To != "" && ps.From <= ps.To {
		if fa[:7] < ps.From || fa[:7] > ps.To {
			fn, _ := m.get("final_achievement_date")
			p.add(fn, "periods.final_achievement_date", fmt.Sprintf("%s is outside the periods %s to %s", fa, ps.From, ps.To), "use the month end of a reporting period, usually the last")
		}
	}
	if fa, pe := ps.FinalAchievementDate, ps.PaymentPeriodEnd; fa != "" && pe != "" && pe < fa {
		pn, _ := m.get("payment_period_end")
		p.add(pn, "periods.payment_period_end", fmt.Sprintf("%s is before the final achievement date %s", pe, fa), "pay after achievement is measured")
	}
	if baseline != "" && ps.From != "" && baseline[:7] >= ps.From {
		fn, _ := m.get("from")
		p.add(fn, "periods.from", fmt.Sprintf("the first period %s does not start after the baseline %s", ps.From, baseline), "start reporting in the month after the baseline")
	}
	return ps
}

func (p *parser) practices(n *yaml.Node) ([]string, bool) {
	if n.Kind == yaml.ScalarNode && n.Tag == "!!str" && n.Value == "all" {
		return nil, true
	}
	if n.Kind != yaml.SequenceNode {
		p.add(n, "practices", "must be all or a list of ODS codes, not "+yamlstrict.Describe(n), "write practices: all, or one - Y01234 line per practice")
		return nil, false
	}
	if len(n.Content) == 0 {
		p.add(n, "practices", "no practices enrolled", "list at least one ODS code, or write all")
		return nil, false
	}
	seen := map[string]bool{}
	var out []string
	for i, c := range n.Content {
		path := fmt.Sprintf("practices[%d]", i)
		v, ok := p.scalarString(c, path)
		if !ok {
			continue
		}
		if !odsPattern.MatchString(v) {
			p.add(c, path, fmt.Sprintf("%q is not an ODS code", v), "use the practice's ODS code in capitals, e.g. Y01234")
			continue
		}
		if seen[v] {
			p.add(c, path, fmt.Sprintf("%s is listed twice", v), "list each practice once")
			continue
		}
		seen[v] = true
		p.mark("practices/"+v, c)
		out = append(out, v)
	}
	sort.Strings(out)
	return out, false
}

func (p *parser) seq(n *yaml.Node, path, what string) []*yaml.Node {
	if n.Kind != yaml.SequenceNode {
		p.add(n, path, fmt.Sprintf("%s must be a list, not %s", what, yamlstrict.Describe(n)), "write one - item per entry")
		return nil
	}
	return n.Content
}

// ids tracks uniqueness of ids within a list.
type ids map[string]bool

func (p *parser) id(m *mapping, seen ids, reserved []string) string {
	v := p.str(m, "id", idPattern, "use lower-case letters, digits and _, starting with a letter")
	if v == "" {
		return ""
	}
	n, _ := m.get("id")
	if contains(reserved, v) {
		p.add(n, join(m.path, "id"), fmt.Sprintf("%q is reserved for Steward's own gateway checks", v), "choose another id")
		return v
	}
	if seen[v] {
		p.add(n, join(m.path, "id"), fmt.Sprintf("id %q is used twice", v), "give each an id of its own")
	}
	seen[v] = true
	return v
}

// typeOf reads a mapping's type key against the allowed types.
func (p *parser) typeOf(n *yaml.Node, path string, types []string) string {
	if n.Kind != yaml.MappingNode {
		return ""
	}
	v := yamlstrict.Lookup(n, "type")
	if v == nil {
		p.add(n, path, `missing key "type"`, "add type: one of "+strings.Join(types, ", "))
		return ""
	}
	s, ok := p.scalarString(v, join(path, "type"))
	if !ok {
		return ""
	}
	if !contains(types, s) {
		fix := yamlstrict.Suggest(s, types, "use one of: "+strings.Join(types, ", "))
		p.add(v, join(path, "type"), fmt.Sprintf("unknown type %q", s), fix)
		return ""
	}
	return s
}

var conditionKeys = map[string][]string{
	string(CondSubmission):  nil,
	string(CondThreshold):   {"measure", "op", "value"},
	string(CondDeclaration): {"declaration"},
}

var thresholdOps = []string{">", ">=", "<", "<=", "==", "!="}

func (p *parser) gateway(n *yaml.Node) []Condition {
	var out []Condition
	seen := ids{}
	reserved := []string{GateFigures, GatePackVersion, GateDeadline}
	for i, c := range p.seq(n, "gateway", "gateway") {
		path := fmt.Sprintf("gateway[%d]", i)
		typ := p.typeOf(c, path, sortedKeys(conditionKeys))
		allowed := []string{"id", "title", "type"}
		specific := conditionKeys[typ]
		if typ == "" {
			// Type unknown: check only what every condition has, plus
			// every type's keys, so the one problem is not buried.
			for _, t := range sortedKeys(conditionKeys) {
				allowed = append(allowed, conditionKeys[t]...)
			}
		} else {
			allowed = append(allowed, specific...)
		}
		m := p.mapping(c, path, "a gateway condition", allowed, nil)
		if m == nil {
			continue
		}
		m.require("id")
		if typ != "" {
			m.require(specific...)
		}
		cond := Condition{ID: p.id(m, seen, reserved), Type: ConditionType(typ), Pos: p.pos(c)}
		if _, ok := m.get("title"); ok {
			cond.Title = p.str(m, "title", nil, "")
		}
		switch cond.Type {
		case CondThreshold:
			cond.Measure = p.ref(m, "measure", false)
			if on, ok := m.get("op"); ok {
				if v, ok := p.scalarString(on, join(path, "op")); ok {
					if contains(thresholdOps, v) {
						cond.Op = v
					} else {
						p.add(on, join(path, "op"), fmt.Sprintf("%q is not a comparison", v), "use one of "+strings.Join(thresholdOps, " "))
					}
				}
			}
			if vn, ok := m.get("value"); ok {
				cond.Value, _ = p.number(vn, join(path, "value"))
			}
		case CondDeclaration:
			cond.Declaration = p.str(m, "declaration", idPattern, "name the declaration in lower-case letters, digits and _")
		}
		out = append(out, cond)
	}
	return out
}

var elementKeys = map[string][]string{
	string(PerPatient):           {"count", "pence_per_patient"},
	string(PerRegisteredPatient): {"numerator", "denominator", "exclusions", "list_size", "tiers"},
	string(Points): {"numerator", "denominator", "exclusions", "lower_threshold", "upper_threshold", "points",
		"pence_per_point", "list_size", "national_average_list", "prevalence"},
	string(Reduction): {"baseline", "current", "pence_per_unit"},
}

var elementOptional = []string{"exclusions", "prevalence"}

var hundred = Decimal{Units: 100}

func (p *parser) elements(n *yaml.Node) []Element {
	var out []Element
	seen := ids{}
	items := p.seq(n, "elements", "elements")
	if n.Kind == yaml.SequenceNode && len(items) == 0 {
		p.add(n, "elements", "no payment elements", "add at least one element")
	}
	for i, c := range items {
		path := fmt.Sprintf("elements[%d]", i)
		typ := p.typeOf(c, path, sortedKeys(elementKeys))
		allowed := []string{"id", "title", "type", "paid", "cap_pence"}
		specific := elementKeys[typ]
		if typ == "" {
			for _, t := range sortedKeys(elementKeys) {
				for _, k := range elementKeys[t] {
					if !contains(allowed, k) {
						allowed = append(allowed, k)
					}
				}
			}
		} else {
			allowed = append(allowed, specific...)
		}
		m := p.mapping(c, path, "a payment element", allowed, nil)
		if m == nil {
			continue
		}
		m.require("id", "title", "paid")
		if typ != "" {
			for _, k := range specific {
				if !contains(elementOptional, k) {
					m.require(k)
				}
			}
		}
		e := Element{ID: p.id(m, seen, nil), Title: p.str(m, "title", nil, ""), Type: ElementType(typ), Pos: p.pos(c)}
		if pn, ok := m.get("paid"); ok {
			if v, ok := p.scalarString(pn, join(path, "paid")); ok {
				switch Timing(v) {
				case PaidFinal, PaidMonthly:
					e.Paid = Timing(v)
				default:
					p.add(pn, join(path, "paid"), fmt.Sprintf("%q is not a payment timing", v), "use final or monthly")
				}
			}
		}
		if _, ok := m.get("cap_pence"); ok {
			e.CapPence = p.pence(m, "cap_pence")
		}
		switch e.Type {
		case PerPatient:
			e.Count = p.ref(m, "count", true)
			e.RatePence, _ = p.decimal(m, "pence_per_patient", false, nil)
		case Reduction:
			e.Baseline = p.ref(m, "baseline", true)
			e.Current = p.ref(m, "current", true)
			e.RatePence, _ = p.decimal(m, "pence_per_unit", false, nil)
		case PerRegisteredPatient, Points:
			e.Numerator = p.ref(m, "numerator", true)
			e.Denominator = p.ref(m, "denominator", true)
			if _, ok := m.get("exclusions"); ok {
				e.Exclusions = p.ref(m, "exclusions", true)
			}
			e.ListSize = p.listSize(m)
			if e.Type == PerRegisteredPatient {
				if tn, ok := m.get("tiers"); ok {
					e.Tiers = p.tiers(tn, join(path, "tiers"))
				}
				break
			}
			e.LowerThreshold, _ = p.decimal(m, "lower_threshold", false, &hundred)
			var okF bool
			e.UpperThreshold, okF = p.decimal(m, "upper_threshold", false, &hundred)
			if un, ok := m.get("upper_threshold"); ok && okF && e.UpperThreshold.Cmp(e.LowerThreshold) <= 0 {
				p.add(un, join(path, "upper_threshold"), fmt.Sprintf("upper threshold %s is not above the lower threshold %s", e.UpperThreshold, e.LowerThreshold), "make upper_threshold greater than lower_threshold")
			}
			e.MaxPoints, _ = p.decimal(m, "points", true, nil)
			e.PencePerPoint, _ = p.decimal(m, "pence_per_point", true, nil)
			e.NationalAverageList, _ = p.decimal(m, "national_average_list", true, nil)
			if pn, ok := m.get("prevalence"); ok {
				pm := p.mapping(pn, join(path, "prevalence"), "prevalence", []string{"register", "national_prevalence"}, []string{"register", "national_prevalence"})
				if pm != nil {
					one := Decimal{Units: 1}
					pr := &Prevalence{Register: p.ref(pm, "register", true)}
					pr.NationalPrevalence, _ = p.decimal(pm, "national_prevalence", true, &one)
					e.Prevalence = pr
				}
			}
		}
		out = append(out, e)
	}
	return out
}

func (p *parser) tiers(n *yaml.Node, path string) []Tier {
	items := p.seq(n, path, "tiers")
	if n.Kind == yaml.SequenceNode && len(items) == 0 {
		p.add(n, path, "no tiers", "add at least one tier with from: and pence_per_patient:")
	}
	var out []Tier
	for i, c := range items {
		tp := fmt.Sprintf("%s[%d]", path, i)
		keys := []string{"from", "pence_per_patient"}
		m := p.mapping(c, tp, "a tier", keys, keys)
		if m == nil {
			continue
		}
		from, okF := p.decimal(m, "from", false, &hundred)
		rate, okR := p.decimal(m, "pence_per_patient", false, nil)
		if okF && len(out) > 0 && from.Cmp(out[len(out)-1].From) <= 0 {
			fn, _ := m.get("from")
			p.add(fn, join(tp, "from"), fmt.Sprintf("%s is not above the previous tier's %s", from, out[len(out)-1].From), "list tiers in ascending order of from")
			continue
		}
		if okF && okR {
			out = append(out, Tier{From: from, PencePerPatient: rate})
		}
	}
	return out
}

func (p *parser) listSize(m *mapping) Ref {
	n, ok := m.get("list_size")
	if !ok {
		return Ref{}
	}
	if n.Kind == yaml.ScalarNode && n.Tag == "!!str" && n.Value == ListSizeRegisteredPatients {
		return Ref{Measure: ListSizeRegisteredPatients, Field: FieldValue, Pos: p.pos(n)}
	}
	return p.ref(m, "list_size", true)
}

// ref reads a figure reference; whole requires a count of patients.
func (p *parser) ref(m *mapping, key string, whole bool) Ref {
	n, ok := m.get(key)
	if !ok {
		return Ref{}
	}
	path := join(m.path, key)
	v, ok := p.scalarString(n, path)
	if !ok {
		return Ref{}
	}
	id, field, hasField := strings.Cut(v, ".")
	r := Ref{Measure: id, Field: FieldValue, Pos: p.pos(n)}
	def, known := p.cat[id]
	if !known {
		names := sortedKeys(p.cat)
		fix := yamlstrict.Suggest(id, names, "measures: "+strings.Join(names, ", "))
		p.add(n, path, fmt.Sprintf("unknown measure %q", id), fix)
		return Ref{}
	}
	if hasField {
		switch Field(field) {
		case FieldValue, FieldNumerator, FieldDenominator:
			r.Field = Field(field)
		default:
			p.add(n, path, fmt.Sprintf("unknown field %q of measure %s", field, id), "use .numerator, .denominator or .value, or the bare id for the value")
			return Ref{}
		}
		if r.Field != FieldValue && def.Kind != KindRatio {
			p.add(n, path, fmt.Sprintf("%s is a %s and has no %s", id, def.Kind, field), "use the bare id "+id)
			return Ref{}
		}
	}
	if whole && !p.cat.wholeNumber(r) {
		fix := "use a count measure, or a ratio's .numerator or .denominator"
		msg := fmt.Sprintf("%s is not a count of patients", r)
		if def.Kind == KindRatio && r.Field == FieldValue && def.WholeDenominator {
			msg = fmt.Sprintf("%s is a ratio, not a count of patients", id)
			fix = fmt.Sprintf("name its numerator or denominator, e.g. %s.numerator", id)
		}
		p.add(n, path, msg, fix)
		return Ref{}
	}
	return r
}

func (p *parser) signOff(n *yaml.Node) SignOff {
	keys := []string{"declare", "approve", "pay", "declaration"}
	m := p.mapping(n, "sign_off", "sign_off", keys, keys[:3])
	if m == nil {
		return SignOff{}
	}
	roles := func(key string) []string {
		rn, ok := m.get(key)
		if !ok {
			return nil
		}
		path := join("sign_off", key)
		items := p.seq(rn, path, key)
		if rn.Kind == yaml.SequenceNode && len(items) == 0 {
			p.add(rn, path, "no roles", "name at least one role")
		}
		var out []string
		for i, c := range items {
			rp := fmt.Sprintf("%s[%d]", path, i)
			v, ok := p.scalarString(c, rp)
			if !ok {
				continue
			}
			switch {
			case !idPattern.MatchString(v):
				p.add(c, rp, fmt.Sprintf("%q is not a role name", v), "use lower-case letters, digits and _, e.g. practice_manager")
			case v == RoleSteward:
				p.add(c, rp, fmt.Sprintf("role %q is Steward itself", v), "name a person's role")
			case contains(out, v):
				p.add(c, rp, fmt.Sprintf("role %q is listed twice", v), "list each role once")
			default:
				p.mark(path+"/"+v, c)
				out = append(out, v)
			}
		}
		return out
	}
	return SignOff{Declare: roles("declare"), Approve: roles("approve"), Pay: roles("pay"), Declaration: p.declaration(m)}
}

var placeholder = regexp.MustCompile(`\{([^{}]*)\}`)

// declaration reads sign_off.declaration: the wording a practice confirms,
// with only known placeholders.
func (p *parser) declaration(m *mapping) string {
	n, ok := m.get("declaration")
	if !ok {
		return ""
	}
	const path = "sign_off.declaration"
	v, ok := p.scalarString(n, path)
	if !ok {
		return ""
	}
	text := strings.Join(strings.Fields(v), " ")
	switch {
	case utf8.RuneCountInString(text) > MaxDeclarationLen:
		p.add(n, path, fmt.Sprintf("the declaration is %d characters long", utf8.RuneCountInString(text)),
			fmt.Sprintf("keep it to at most %d; link to the scheme's full terms instead", MaxDeclarationLen))
		return ""
	case strings.ContainsAny(text, "<>"):
		p.add(n, path, "the declaration holds < or >", "write plain text: the dashboard shows it as text, not HTML")
		return ""
	}
	for _, mm := range placeholder.FindAllStringSubmatch(text, -1) {
		if !contains(DeclarationPlaceholders, mm[1]) {
			p.add(n, path, fmt.Sprintf("unknown placeholder {%s} in the declaration", mm[1]),
				"use {"+strings.Join(DeclarationPlaceholders, "}, {")+"}")
			return ""
		}
	}
	return text
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
