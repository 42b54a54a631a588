package results

import (
	"errors"
	"fmt"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/nhs-steward/steward/internal/phi"
	"github.com/nhs-steward/steward/internal/strictjson"
)

// Kinds of problem. Every *Error matches ErrInvalid; errors.Is also
// matches the kind of each problem it holds.
var (
	// ErrInvalid: the document is not a valid steward.results/v1 document.
	ErrInvalid = errors.New("invalid results document")
	// ErrPatientLevel: the document carries a field that could hold
	// patient-level data.
	ErrPatientLevel = errors.New("patient-level field in results document")
	// ErrPatientText: free text in the document holds what looks like an
	// NHS number or a date of birth.
	ErrPatientText = errors.New("patient identifier in the free text of a results document")
	// ErrUnknownPack: the collector does not know the pack version the
	// document names (CheckPack's callers report it).
	ErrUnknownPack = errors.New("unknown pack version")
	// ErrPackMismatch: the document's measures, titles, searches,
	// parameters or references are not those of its pack version.
	ErrPackMismatch = errors.New("results document does not match its pack version")
)

// severity orders the kinds: an error is reported as its most severe.
var severity = []error{ErrPatientLevel, ErrPatientText, ErrUnknownPack, ErrPackMismatch, ErrInvalid}

// Problem is one thing wrong with a document.
type Problem struct {
	Path string // JSONPath of the field, e.g. $.measures[2].title
	Kind error  // one of the Err* kinds
	Msg  string // what is wrong and how to fix it; never the field's text
}

// Error lists every problem found in one pass.
type Error struct {
	Problems []Problem
}

// maxListed bounds how many problems Error's message lists.
const maxListed = 20

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.Kind().Error())
	for i, p := range e.Problems {
		if i == maxListed {
			fmt.Fprintf(&b, "; and %d more", len(e.Problems)-maxListed)
			break
		}
		if i == 0 {
			b.WriteString(": ")
		} else {
			b.WriteString("; ")
		}
		b.WriteString(p.Path + ": " + p.Msg)
	}
	return b.String()
}

// Is matches ErrInvalid and the kind of every problem.
func (e *Error) Is(target error) bool {
	if target == ErrInvalid {
		return true
	}
	for _, p := range e.Problems {
		if p.Kind == target {
			return true
		}
	}
	return false
}

// Kind returns the most severe kind among the problems.
func (e *Error) Kind() error {
	for _, k := range severity {
		for _, p := range e.Problems {
			if p.Kind == k {
				return k
			}
		}
	}
	return ErrInvalid
}

// Field returns the path of the first problem of the most severe kind.
func (e *Error) Field() string {
	k := e.Kind()
	for _, p := range e.Problems {
		if p.Kind == k {
			return p.Path
		}
	}
	return "$"
}

func problemf(kind error, path, format string, a ...any) *Error {
	return &Error{Problems: []Problem{{Path: path, Kind: kind, Msg: fmt.Sprintf(format, a...)}}}
}

// checker collects problems.
type checker struct{ problems []Problem }

func (c *checker) add(kind error, path, format string, a ...any) {
	c.problems = append(c.problems, Problem{Path: path, Kind: kind, Msg: fmt.Sprintf(format, a...)})
}

func (c *checker) err() error {
	if len(c.problems) == 0 {
		return nil
	}
	return &Error{Problems: c.problems}
}

var (
	odsPattern     = regexp.MustCompile(`^[A-Z0-9]{3,10}$`)
	idPattern      = regexp.MustCompile(`^[a-z][a-z0-9_]{0,63}$`)
	packPattern    = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,63}$`)
	packVerPattern = regexp.MustCompile(`^[0-9][0-9A-Za-z.+-]{0,31}$`)
	versionPattern = regexp.MustCompile(`^[0-9A-Za-z][0-9A-Za-z._+:~-]{0,63}$`)
	tokenPattern   = regexp.MustCompile(`^[0-9A-Za-z][0-9A-Za-z._+:/~-]{0,63}$`)
	sha256Pattern  = regexp.MustCompile(`^[0-9a-f]{64}$`)
)

// text checks a free-text field: at most max bytes, no control or
// formatting characters, and nothing that looks like an NHS number or a
// date of birth. The message never repeats the text.
func (c *checker) text(path, s string, max int) {
	if len(s) > max {
		c.add(ErrInvalid, path, "%d bytes; at most %d", len(s), max)
		return
	}
	if r, bad := badRune(s); bad {
		c.add(ErrInvalid, path, "holds the control or formatting character U+%04X: send plain text", r)
		return
	}
	if what := phi.Screen(s); what != phi.Nothing {
		c.add(ErrPatientText, path, "looks like it holds %s: free text in a results document must not identify anyone; remove it", what)
	}
}

// version checks a version field: a bounded token, screened for NHS
// numbers only (versions such as 2020-04-15 are dates by design).
func (c *checker) version(path, s string) {
	if !versionPattern.MatchString(s) {
		c.add(ErrInvalid, path, "not a version: 1 to 64 of A-Z a-z 0-9 . _ + : ~ -, starting with a letter or digit")
		return
	}
	if phi.ContainsNHSNumber(s) {
		c.add(ErrPatientText, path, "looks like it holds %s: remove it", phi.NHSNumber)
	}
}

// token checks a name such as a program's (steward-agent), a schema
// profile's or a method's (steward-sdc/v1): empty, or a bounded token
// without spaces, screened like free text.
func (c *checker) token(path, s string) {
	if s == "" {
		return
	}
	if !tokenPattern.MatchString(s) {
		c.add(ErrInvalid, path, "not a name: 1 to 64 of A-Z a-z 0-9 . _ + : / ~ -, starting with a letter or digit")
		return
	}
	c.text(path, s, MaxName)
}

// submissionIDPattern is a submission id (an idempotency key), as the
// collector accepts it.
var submissionIDPattern = regexp.MustCompile(`^[A-Za-z0-9._:-]{8,128}$`)

// id checks an identifier (measure, stratification, search, parameter).
func (c *checker) id(path, s, what string) bool {
	if !idPattern.MatchString(s) {
		c.add(ErrInvalid, path, "%s is not %s id: a lower-case letter, then up to 63 of a-z 0-9 _", shown(s), what)
		return false
	}
	return true
}

// shown quotes a value for a message when it is a short token, and says
// only its length otherwise, so that messages do not carry what a field
// should not have held.
func shown(s string) string {
	if len(s) <= MaxName && strings.IndexFunc(s, notToken) < 0 && phi.Screen(s) == phi.Nothing {
		return strconv.Quote(s)
	}
	return fmt.Sprintf("a %d-byte value", len(s))
}

func notToken(r rune) bool {
	return !(r < utf8.RuneSelf && (unicode.IsLetter(r) || unicode.IsDigit(r) || strings.ContainsRune("_-./:+", r)))
}

// badRune returns the first control or formatting character of s (bidi
// overrides and zero-width characters are formatting characters), or a
// replacement character.
func badRune(s string) (rune, bool) {
	for _, r := range s {
		if r == utf8.RuneError || unicode.Is(unicode.Cc, r) || unicode.Is(unicode.Cf, r) {
			return r, true
		}
	}
	return 0, false
}

func enum(c *checker, path, s string, allowed ...string) {
	if !slices.Contains(allowed, s) {
		c.add(ErrInvalid, path, "%s is not one of %s", shown(s), strings.Join(allowed, ", "))
	}
}

func finite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }

func wholeCount(v float64) bool { return finite(v) && v >= 0 && v <= MaxCount && v == math.Trunc(v) }

// RatioTolerance is how far a ratio's value may be from numerator /
// denominator x per: documents carry the value, the numerator and the
// denominator rounded to four decimal places (Round4), so the value may be
// off by half a unit in the fourth place, and the numerator's rounding by
// as much again scaled by per / denominator.
func RatioTolerance(den, per float64) float64 {
	return 1e-4 * (1 + per/math.Abs(den))
}

// Validate checks the document's content on its own (CheckPack holds it to
// its pack version): identifiers and dates well formed, counts whole
// numbers from 0 to MaxCount, a ratio's value equal to numerator /
// denominator x per (RatioTolerance), a suppressed figure without a value,
// every string bounded and free of control characters, and free text
// (titles, stratum labels, names, parameter values, sources) free of
// anything that looks like an NHS number or a date of birth. Typed fields
// (as_of, baseline, generated_at) are dates by design and are checked as
// dates. It returns an *Error listing every problem, or nil.
func (d *Document) Validate() error {
	var c checker
	if d.Schema != Schema {
		c.add(ErrInvalid, "$.schema", "the schema is %s, want %q", shown(d.Schema), Schema)
	}
	if !odsPattern.MatchString(d.Practice) {
		c.add(ErrInvalid, "$.practice", "practice %s is not an ODS code", shown(d.Practice))
	}
	if d.Pack.ID == "" || d.Pack.Version == "" {
		c.add(ErrInvalid, "$.pack", "pack id and version are required")
	} else {
		if !packPattern.MatchString(d.Pack.ID) {
			c.add(ErrInvalid, "$.pack.id", "%s is not a pack id: 1 to 64 of a-z 0-9 _ -", shown(d.Pack.ID))
		}
		if !packVerPattern.MatchString(d.Pack.Version) {
			c.add(ErrInvalid, "$.pack.version", "%s is not a pack version such as 2026.1.0", shown(d.Pack.Version))
		}
	}
	if !isMonthEnd(d.AsOf) {
		c.add(ErrInvalid, "$.as_of", "as_of %s is not the last day of a month (YYYY-MM-DD)", shown(d.AsOf))
	}
	if d.Baseline != "" && !isMonthEnd(d.Baseline) {
		c.add(ErrInvalid, "$.baseline", "baseline %s is not the last day of a month (YYYY-MM-DD)", shown(d.Baseline))
	}
	if d.GeneratedAt != "" {
		if _, err := time.Parse(time.RFC3339, d.GeneratedAt); err != nil || len(d.GeneratedAt) > MaxName {
			c.add(ErrInvalid, "$.generated_at", "not an RFC 3339 time such as 2025-04-01T02:00:00Z")
		}
	}
	if cr := d.Correction; cr != nil {
		if !submissionIDPattern.MatchString(cr.Supersedes) {
			c.add(ErrInvalid, "$.correction.supersedes", "the submission id the correction replaces is required: 8 to 128 of A-Z a-z 0-9 . _ : -")
		}
		if r := strings.TrimSpace(cr.Reason); r == "" || utf8.RuneCountInString(r) > MaxCorrectionReason {
			c.add(ErrInvalid, "$.correction.reason", "a correction's reason must be 1 to %d characters", MaxCorrectionReason)
		} else if strings.IndexFunc(cr.Reason, unicode.IsControl) >= 0 {
			c.add(ErrInvalid, "$.correction.reason", "control characters are not allowed")
		} else if phi.ContainsNHSNumber(cr.Reason) {
			// Dates are expected in a reason ("baseline corrected to
			// 2024-03-31"); an NHS number never is.
			c.add(ErrPatientText, "$.correction.reason", "looks like it holds %s: remove it", phi.NHSNumber)
		}
	}
	if len(d.Measures) == 0 {
		c.add(ErrInvalid, "$.measures", "measures is empty")
	}
	if len(d.Measures) > MaxMeasures {
		c.add(ErrInvalid, "$.measures", "%d measures, more than %d", len(d.Measures), MaxMeasures)
	} else {
		seen := map[string]bool{}
		for i := range d.Measures {
			w := fmt.Sprintf("$.measures[%d]", i)
			d.Measures[i].validate(&c, w, seen)
			d.Measures[i].validateSeries(&c, w, d.AsOf)
		}
	}
	d.validateRest(&c)
	return c.err()
}

func (m *Measure) validate(c *checker, where string, seen map[string]bool) {
	if c.id(where+".id", m.ID, "a measure") {
		if seen[m.ID] {
			c.add(ErrInvalid, where+".id", "duplicate measure id %q", m.ID)
		}
		seen[m.ID] = true
	}
	name := m.ID
	if !idPattern.MatchString(name) {
		name = "measure"
	}
	c.text(where+".title", m.Title, MaxTitle)
	if m.At != "" {
		enum(c, where+".at", m.At, "as_of", "baseline")
	}
	for _, f := range []struct {
		field string
		p     *float64
	}{{"value", m.Value}, {"numerator", m.Numerator}, {"denominator", m.Denominator}} {
		if f.p != nil && !finite(*f.p) {
			c.add(ErrInvalid, where+"."+f.field, "%s: not a finite number", name)
		}
	}
	if !finite(m.Per) || m.Per < 0 {
		c.add(ErrInvalid, where+".per", "%s: per must be a positive number", name)
	}
	if m.Suppressed && m.Value != nil {
		c.add(ErrInvalid, where+".value", "%s: a suppressed measure carries no value: send null", name)
	}
	switch m.Kind {
	case KindCount:
		if m.Value == nil && !m.Suppressed {
			c.add(ErrInvalid, where+".value", "%s: value is required", name)
		}
		if m.Value != nil && finite(*m.Value) && !wholeCount(*m.Value) {
			c.add(ErrInvalid, where+".value", "%s: a count must be a whole number from 0 to %d", name, MaxCount)
		}
	case KindSum:
		if m.Value == nil && !m.Suppressed {
			c.add(ErrInvalid, where+".value", "%s: value is required", name)
		}
	case KindRatio:
		m.validateRatio(c, where, name)
	default:
		c.add(ErrInvalid, where+".kind", "%s: kind %s is not count, sum or ratio", name, shown(m.Kind))
	}
	if m.Kind != KindRatio && m.Per != 0 {
		c.add(ErrInvalid, where+".per", "%s: per applies to ratios only", name)
	}
	if m.Kind != KindRatio && (m.Numerator != nil || m.Denominator != nil) {
		c.add(ErrInvalid, where, "%s: only a ratio has a numerator and a denominator", name)
	}
	if len(m.Strata) > 0 && m.Kind != KindCount && m.Kind != KindRatio {
		c.add(ErrInvalid, where+".strata", "%s: only counts and ratios are stratified", name)
	}
	if len(m.Strata) > MaxStrata {
		c.add(ErrInvalid, where+".strata", "%s: %d stratifications, more than %d", name, len(m.Strata), MaxStrata)
		return
	}
	dims := map[string]bool{}
	for j, s := range m.Strata {
		sw := fmt.Sprintf("%s.strata[%d]", where, j)
		switch {
		case m.Kind == KindRatio && s.Part != PartNumerator && s.Part != PartDenominator:
			c.add(ErrInvalid, sw+".part", "%s: a ratio's stratification is of its numerator or its denominator: part must be numerator or denominator", name)
		case m.Kind != KindRatio && s.Part != "":
			c.add(ErrInvalid, sw+".part", "%s: part applies to a ratio's strata only", name)
		}
		if c.id(sw+".dimension", s.Dimension, "a stratification") {
			if dims[s.Key()] {
				c.add(ErrInvalid, sw+".dimension", "%s: stratification %q twice", name, s.Key())
			}
			dims[s.Key()] = true
		}
		if len(s.Cells) > MaxCells {
			c.add(ErrInvalid, sw+".cells", "%s: stratification %s has more than %d cells", name, shown(s.Dimension), MaxCells)
			continue
		}
		labels := map[string]bool{}
		for k, cell := range s.Cells {
			cw := fmt.Sprintf("%s.cells[%d]", sw, k)
			switch {
			case cell.Stratum == "":
				c.add(ErrInvalid, cw+".stratum", "%s: a cell needs its stratum", name)
			case labels[cell.Stratum]:
				c.add(ErrInvalid, cw+".stratum", "%s: stratum %s twice in %s", name, shown(cell.Stratum), shown(s.Dimension))
			}
			labels[cell.Stratum] = true
			c.text(cw+".stratum", cell.Stratum, MaxName)
			switch {
			case cell.Suppressed && cell.Value != nil:
				c.add(ErrInvalid, cw+".value", "%s: a suppressed cell carries no value: send null", name)
			case !cell.Suppressed && cell.Value == nil:
				c.add(ErrInvalid, cw+".value", "%s: value is required unless the cell is suppressed", name)
			case cell.Value != nil && !wholeCount(*cell.Value):
				c.add(ErrInvalid, cw+".value", "%s: a cell is a count: a whole number from 0 to %d", name, MaxCount)
			}
			if cell.Reason != "" {
				enum(c, cw+".reason", cell.Reason, "small", "complementary")
			}
		}
	}
}

func (m *Measure) validateRatio(c *checker, where, name string) {
	if m.Numerator == nil || m.Denominator == nil {
		if !m.Suppressed {
			c.add(ErrInvalid, where, "%s: a ratio needs numerator and denominator", name)
		}
		return
	}
	num, den := *m.Numerator, *m.Denominator
	if !finite(num) || !finite(den) || m.Suppressed {
		return
	}
	per := m.Per
	if per == 0 {
		per = 1
	}
	switch {
	case den == 0 && m.Value != nil:
		c.add(ErrInvalid, where+".value", "%s: the denominator is 0, so the value must be null", name)
	case den != 0 && m.Value == nil:
		c.add(ErrInvalid, where+".value", "%s: value is required: numerator / denominator x per", name)
	case den != 0 && finite(*m.Value):
		want := num / den * per
		if math.Abs(*m.Value-want) > RatioTolerance(den, per)+1e-9*math.Abs(want) {
			c.add(ErrInvalid, where+".value", "%s: value %v is not numerator / denominator x per = %v / %v x %v = %v",
				name, *m.Value, num, den, per, Round4(want))
		}
	}
}

// validateRest checks everything but the measures.
func (d *Document) validateRest(c *checker) {
	if len(d.Parameters) > MaxParameters {
		c.add(ErrInvalid, "$.parameters", "%d parameters, more than %d", len(d.Parameters), MaxParameters)
	} else {
		names := make([]string, 0, len(d.Parameters))
		for k := range d.Parameters {
			names = append(names, k)
		}
		slices.Sort(names)
		for _, k := range names {
			p := strictjson.Member("$.parameters", k)
			if c.id(p, k, "a parameter") {
				c.text(p, d.Parameters[k], MaxName)
			}
		}
	}
	if len(d.References) > MaxReferences {
		c.add(ErrInvalid, "$.references", "%d references, more than %d", len(d.References), MaxReferences)
	} else {
		for i, r := range d.References {
			w := fmt.Sprintf("$.references[%d]", i)
			enum(c, w+".kind", r.Kind, "codelist", "reference_table", "factor_set")
			if r.Name == "" {
				c.add(ErrInvalid, w+".name", "a reference needs its name")
			}
			c.text(w+".name", r.Name, MaxRefName)
			c.version(w+".version", r.Version)
			c.text(w+".source", r.Source, MaxSource)
			if r.SHA256 != "" && !sha256Pattern.MatchString(r.SHA256) {
				c.add(ErrInvalid, w+".sha256", "not the lower-case hex of a SHA-256")
			}
		}
	}
	c.token("$.producer.name", d.Producer.Name)
	if d.Producer.Version != "" {
		c.version("$.producer.version", d.Producer.Version)
	}
	c.token("$.producer.profile", d.Producer.Profile)
	c.token("$.producer.dialect", d.Producer.Dialect)
	if len(d.Runs) > MaxRuns {
		c.add(ErrInvalid, "$.runs", "%d runs, more than %d", len(d.Runs), MaxRuns)
	} else {
		for i, r := range d.Runs {
			w := fmt.Sprintf("$.runs[%d]", i)
			c.id(w+".search", r.Search, "a search")
			enum(c, w+".status", r.Status, "ok", "no_data", "failed")
			if !finite(r.DurationMS) || r.DurationMS < 0 {
				c.add(ErrInvalid, w+".duration_ms", "not a duration: a number of milliseconds from 0")
			}
			if r.Rows < 0 {
				c.add(ErrInvalid, w+".rows", "a number of rows from 0")
			}
		}
	}
	if x := d.Disclosure; x != nil {
		c.token("$.disclosure.method", x.Method)
		if x.SuppressFrom < 0 || x.SuppressTo < x.SuppressFrom || x.RoundTo < 0 {
			c.add(ErrInvalid, "$.disclosure", "suppress_from, suppress_to and round_to must be numbers from 0, suppress_to at least suppress_from")
		}
	}
}

func isMonthEnd(s string) bool {
	t, err := time.Parse(time.DateOnly, s)
	if err != nil {
		return false
	}
	return t.AddDate(0, 0, 1).Day() == 1
}
