package results

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/nhs-steward/steward/internal/strictjson"
)

// PackSpec is what one version of a pack says its results documents hold:
// its measures with their kinds and titles, its searches, parameters and
// references. reporting/measures derives it from a loaded pack; the
// collector keeps one per pack version it knows and checks every
// submission against it (CheckPack), so that ids and titles come from the
// published pack, not from the agent.
type PackSpec struct {
	ID, Version string
	// FirstAsOf is the earliest month end the pack version's figures are
	// valid for; "" when it sets none.
	FirstAsOf  string
	Measures   []MeasureSpec // in the pack's order
	Searches   []string      // search ids
	Parameters []string      // parameter names
	References []Reference   // kind, name, version and SHA-256 of every codelist file and reference table
}

// MeasureSpec describes one measure of a pack.
type MeasureSpec struct {
	ID, Kind, Title string
	At              string  // "as_of" or "baseline"
	Per             float64 // a ratio's scale (1 unless the pack says otherwise); 0 for counts and sums
	Publishable     bool
	// NumeratorPatients and DenominatorPatients say which parts of a ratio
	// count patients (a sum, such as mg of OME, does not).
	NumeratorPatients, DenominatorPatients bool
	Strata                                 []StrataSpec
	// Series is the number of month ends of the measure's series (0: it
	// has none).
	Series int
}

// StrataSpec is one stratification of a measure and its labels.
type StrataSpec struct {
	Dimension string
	Labels    []string
}

// Measure returns the measure with id, or nil.
func (s *PackSpec) Measure(id string) *MeasureSpec {
	for i := range s.Measures {
		if s.Measures[i].ID == id {
			return &s.Measures[i]
		}
	}
	return nil
}

// ids lists the measure ids, for messages.
func (s *PackSpec) ids() string {
	out := make([]string, len(s.Measures))
	for i, m := range s.Measures {
		out[i] = m.ID
	}
	return strings.Join(out, ", ")
}

func (s *PackSpec) name() string { return s.ID + " " + s.Version }

// effectivePer is a ratio's scale: 0 (absent) means 1.
func effectivePer(p float64) float64 {
	if p == 0 {
		return 1
	}
	return p
}

// CheckPack holds a document that passed Validate to its pack version:
// exactly the pack's measures, each of the pack's kind, scale, date and
// publishability, titled with the pack's title or not at all; strata only
// of the pack's dimensions and labels; searches, parameters and references
// only the pack's. Where a ratio's numerator and denominator both count
// patients, both are whole numbers and the numerator is no larger than the
// denominator. It returns an *Error whose problems are ErrPackMismatch (or
// ErrInvalid for figures), or nil.
func (d *Document) CheckPack(s *PackSpec) error {
	var c checker
	if d.Pack.ID != s.ID || d.Pack.Version != s.Version {
		c.add(ErrPackMismatch, "$.pack", "the document names %s %s, checked against %s", shown(d.Pack.ID), shown(d.Pack.Version), s.name())
		return c.err()
	}
	if s.FirstAsOf != "" && isMonthEnd(d.AsOf) && d.AsOf < s.FirstAsOf {
		c.add(ErrPackMismatch, "$.as_of", "as_of %s is before %s's first valid month end, %s (first_as_of in its pack.yaml): its figures are not valid for earlier months",
			d.AsOf, s.name(), s.FirstAsOf)
	}
	seen := map[string]bool{}
	for i := range d.Measures {
		m := &d.Measures[i]
		where := fmt.Sprintf("$.measures[%d]", i)
		ms := s.Measure(m.ID)
		if ms == nil {
			c.add(ErrPackMismatch, where+".id", "%s is not a measure of %s (its measures: %s): send the pack's measures only",
				shown(m.ID), s.name(), s.ids())
			continue
		}
		seen[m.ID] = true
		m.checkSpec(&c, where, ms, s)
	}
	for _, ms := range s.Measures {
		if !seen[ms.ID] {
			c.add(ErrPackMismatch, "$.measures", "measure %q of %s is missing: send every measure of the pack", ms.ID, s.name())
		}
	}
	for i, r := range d.Runs {
		if !slices.Contains(s.Searches, r.Search) {
			c.add(ErrPackMismatch, fmt.Sprintf("$.runs[%d].search", i), "%s is not a search of %s (its searches: %s)",
				shown(r.Search), s.name(), strings.Join(s.Searches, ", "))
		}
	}
	names := make([]string, 0, len(d.Parameters))
	for k := range d.Parameters {
		names = append(names, k)
	}
	slices.Sort(names)
	for _, k := range names {
		p := strictjson.Member("$.parameters", k)
		if !slices.Contains(s.Parameters, k) {
			c.add(ErrPackMismatch, p, "%s is not a parameter of %s (its parameters: %s)", shown(k), s.name(), strings.Join(s.Parameters, ", "))
			continue
		}
		if v, err := strconv.ParseFloat(d.Parameters[k], 64); err != nil || !finite(v) {
			c.add(ErrInvalid, p, "a parameter's value is a number, as the pack resolved it")
		}
	}
	for i, r := range d.References {
		w := fmt.Sprintf("$.references[%d]", i)
		j := slices.IndexFunc(s.References, func(x Reference) bool { return x.Kind == r.Kind && x.Name == r.Name })
		switch {
		case j < 0:
			c.add(ErrPackMismatch, w+".name", "%s %s is not a reference of %s", shown(r.Kind), shown(r.Name), s.name())
		case s.References[j].Version != r.Version:
			c.add(ErrPackMismatch, w+".version", "%s is at version %s in %s, not %s", r.Name, s.References[j].Version, s.name(), shown(r.Version))
		case r.SHA256 != "" && s.References[j].SHA256 != "" && r.SHA256 != s.References[j].SHA256:
			c.add(ErrPackMismatch, w+".sha256", "%s's content is not that of %s", r.Name, s.name())
		}
	}
	return c.err()
}

func (m *Measure) checkSpec(c *checker, where string, ms *MeasureSpec, s *PackSpec) {
	if m.Kind != ms.Kind {
		c.add(ErrPackMismatch, where+".kind", "%s is a %s in %s, not a %s", m.ID, ms.Kind, s.name(), shown(m.Kind))
		return
	}
	if m.Title != "" && m.Title != ms.Title {
		c.add(ErrPackMismatch, where+".title", "%s: the title is not the one %s gives it: send the pack's title, or none", m.ID, s.name())
	}
	if m.At != "" && m.At != ms.At {
		c.add(ErrPackMismatch, where+".at", "%s describes the %s date in %s, not %s", m.ID, ms.At, s.name(), shown(m.At))
	}
	if m.Publishable != ms.Publishable {
		c.add(ErrPackMismatch, where+".publishable", "%s: publishable is %v in %s", m.ID, ms.Publishable, s.name())
	}
	if m.Kind == KindRatio {
		if effectivePer(m.Per) != effectivePer(ms.Per) {
			c.add(ErrPackMismatch, where+".per", "%s is per %v in %s, not per %v", m.ID, effectivePer(ms.Per), s.name(), effectivePer(m.Per))
		}
		checkPatients := func(where, field string, p *float64, patients bool) bool {
			if p == nil || !patients {
				return false
			}
			if !wholeCount(*p) {
				c.add(ErrInvalid, where+"."+field, "%s: the %s counts patients: a whole number from 0 to %d", m.ID, field, MaxCount)
				return false
			}
			return true
		}
		parts := func(w string, num, den *float64) {
			numOK := checkPatients(w, "numerator", num, ms.NumeratorPatients)
			denOK := checkPatients(w, "denominator", den, ms.DenominatorPatients)
			if numOK && denOK && *num > *den {
				c.add(ErrInvalid, w+".numerator", "%s: the numerator %v is more than the denominator %v: the numerator counts some of the denominator's patients",
					m.ID, *num, *den)
			}
		}
		parts(where, m.Numerator, m.Denominator)
		for k, p := range m.Series {
			parts(fmt.Sprintf("%s.series[%d]", where, k), p.Numerator, p.Denominator)
		}
	}
	switch {
	case ms.Series == 0 && m.Series != nil:
		c.add(ErrPackMismatch, where+".series", "%s has no series in %s: leave series out", m.ID, s.name())
	case ms.Series > 0 && len(m.Series) != ms.Series:
		c.add(ErrPackMismatch, where+".series", "%s has a series of %d month ends in %s, not %d", m.ID, ms.Series, s.name(), len(m.Series))
	}
	for j, st := range m.Strata {
		sw := fmt.Sprintf("%s.strata[%d]", where, j)
		k := slices.IndexFunc(ms.Strata, func(x StrataSpec) bool { return x.Dimension == st.Dimension })
		if k < 0 {
			dims := make([]string, len(ms.Strata))
			for i, x := range ms.Strata {
				dims[i] = x.Dimension
			}
			c.add(ErrPackMismatch, sw+".dimension", "%s is not stratified by %s in %s (it is by: %s)", m.ID, shown(st.Dimension), s.name(), strings.Join(dims, ", "))
			continue
		}
		for i, cell := range st.Cells {
			if !slices.Contains(ms.Strata[k].Labels, cell.Stratum) {
				c.add(ErrPackMismatch, fmt.Sprintf("%s.cells[%d].stratum", sw, i), "not a %s stratum of %s (they are: %s)",
					st.Dimension, s.name(), strings.Join(ms.Strata[k].Labels, ", "))
			}
		}
	}
}
