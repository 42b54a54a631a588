// Package disclosure applies Steward's statistical disclosure control to a
// results document before it leaves a practice (MEASURES.md, "Disclosure
// control"), and checks that a document has been protected.
//
// What is protected: every stratified cell (Measure.Strata[].Cells) and every
// measure a scheme marks Publishable. Headline values of other measures are
// payment figures and go to the scheme exactly: they are never changed.
//
// The rules, for each protected figure v:
//   - v == 0 is shown as 0;
//   - 0 < v < 8 (for a count: 1 to 7) is suppressed: Value null, Suppressed
//     true;
//   - any other v is rounded to the nearest multiple of 5. A count can never
//     sit exactly half-way; a sum can (12.5), and halves round away from zero
//     (12.5 -> 15). Every shown figure is therefore 0 or at least 10.
//
// Complementary suppression: the headline count of a stratified measure (a
// stratified ratio's numerator or denominator) is sent exactly, so each stratification is treated as a partition of a known
// total. Whenever a stratification has a suppressed cell, further cells are
// suppressed until at least two of its cells are suppressed and no suppressed
// cell's value is uniquely determined by the total and what is shown.
// Candidates are taken smallest non-zero exact value first (ties: first in
// document order), then zero cells, in document order.
//
// Why a cell was suppressed (small, or to protect another) is never
// published: results.Cell.Reason is left empty, and Protected rejects a
// document that sets it. The Summary Apply returns still counts the two
// kinds, for logs.
//
// The check assumes a reader who knows the method, the exact headline total,
// every shown value and which cells are suppressed, but not why: a rounded
// cell r lies in [r-2, r+2], a shown 0 is exactly 0, and a suppressed cell
// may be any whole number from 0 up. A suppressed cell is recoverable when
// exactly one value of it is consistent with that. Once two cells are
// suppressed this can only happen when the total is the least the shown cells
// can hold, so that every suppressed cell must be 0, which a stratification
// with a small cell never allows. The one stratification that cannot be
// protected is a single small cell, whose value is the headline itself: it
// is kept with its cell suppressed and named in Summary.Unprotectable.
// Stratifications are never removed from the document. Cross-measure differencing (for example
// long_term minus high_dose in one stratum), and inference from which cells
// the method chose to suppress, are outside this model.
package disclosure

import (
	"cmp"
	"errors"
	"fmt"
	"math"
	"slices"

	"github.com/nhs-steward/steward/reporting/results"
)

// The method's parameters, recorded in results.Document.Disclosure.
const (
	Method       = "steward-sdc/v1"
	SuppressFrom = 1
	SuppressTo   = 7
	RoundTo      = 5
)

// MaxCount bounds a stratification's total: no practice has ten million
// patients, so a larger total is a fault upstream.
const MaxCount = 10_000_000

var (
	// ErrUnprotected wraps every failure of Protected: the document must not
	// leave the practice.
	ErrUnprotected = errors.New("results document is not disclosure-protected")
	// ErrInput wraps failures of Apply caused by the document's content.
	ErrInput = errors.New("cannot apply disclosure control")
)

// Summary says what Apply did, for logs. It holds counts and names only.
type Summary struct {
	Rounded       int // protected figures shown rounded (zeros included)
	Small         int // figures suppressed as 1 to 7
	Complementary int // cells suppressed to protect another
	// Unprotectable names, as "measure_id/dimension", each stratification
	// in which a cell stays recoverable from the headline even with every
	// cell suppressed (a single small cell: its value is the headline). It
	// is kept in the document with every cell suppressed.
	Unprotectable []string
	// AlreadyApplied is true when the document was already protected and
	// Apply only checked it.
	AlreadyApplied bool
}

// Record is the Disclosure block Apply writes into a document.
func Record() *results.Disclosure {
	return &results.Disclosure{
		Method:       Method,
		SuppressFrom: SuppressFrom,
		SuppressTo:   SuppressTo,
		RoundTo:      RoundTo,
		Applied:      true,
	}
}

// IsSmall reports whether v is suppressed as small: 0 < v < SuppressTo+1.
func IsSmall(v float64) bool { return v > 0 && v < SuppressTo+1 }

// Round rounds v to the nearest multiple of RoundTo, halves away from zero.
func Round(v float64) float64 { return math.Round(v/RoundTo) * RoundTo }

// Apply protects doc in place. It is idempotent: on a document whose
// Disclosure record says this method was applied, it changes nothing and
// returns Protected's verdict. On any error doc is left unchanged.
func Apply(doc *results.Document) (Summary, error) {
	var sum Summary
	if doc == nil {
		return sum, fmt.Errorf("%w: nil document", ErrInput)
	}
	if d := doc.Disclosure; d != nil && d.Applied {
		if d.Method != Method {
			return sum, fmt.Errorf("%w: document already protected by method %q, not %q", ErrInput, d.Method, Method)
		}
		sum.AlreadyApplied = true
		return sum, Protected(doc)
	}
	measures := make([]results.Measure, len(doc.Measures))
	for i, m := range doc.Measures {
		pm, err := protectMeasure(m, &sum)
		if err != nil {
			return Summary{}, fmt.Errorf("%w: measure %q: %w", ErrInput, m.ID, err)
		}
		measures[i] = pm
	}
	doc.Measures = measures
	doc.Disclosure = Record()
	return sum, nil
}

func protectMeasure(m results.Measure, sum *Summary) (results.Measure, error) {
	out := m
	out.Strata = nil
	for _, s := range m.Strata {
		exact := make([]float64, len(s.Cells))
		for j, c := range s.Cells {
			if c.Suppressed || c.Value == nil {
				return m, fmt.Errorf("stratification %q cell %q: already suppressed or null, but the document has no disclosure record", s.Dimension, c.Stratum)
			}
			v := *c.Value
			if math.IsNaN(v) || math.IsInf(v, 0) || v < 0 || v != math.Trunc(v) {
				return m, fmt.Errorf("stratification %q cell %q: %v is not a count", s.Dimension, c.Stratum, v)
			}
			exact[j] = v
		}
		if total := sumOf(exact); total > MaxCount {
			return m, fmt.Errorf("stratification %q: total %v is more than %d", s.Dimension, total, MaxCount)
		}
		views, ok := protectCells(exact)
		if !ok {
			sum.Unprotectable = append(sum.Unprotectable, m.ID+"/"+s.Key())
		}
		ps := results.Strata{Dimension: s.Dimension, Part: s.Part, Cells: make([]results.Cell, len(s.Cells))}
		for j, c := range s.Cells {
			ps.Cells[j] = views[j].cell(c.Stratum)
			switch views[j].kind {
			case shown:
				sum.Rounded++
			case small:
				sum.Small++
			case complementary:
				sum.Complementary++
			}
		}
		out.Strata = append(out.Strata, ps)
	}
	if !m.Publishable {
		return out, nil
	}
	if m.Suppressed {
		return m, errors.New("publishable measure already suppressed, but the document has no disclosure record")
	}
	f, err := protectFigures(m.Kind, m.Per, figures{num: m.Numerator, den: m.Denominator, val: m.Value}, sum)
	if err != nil {
		return m, err
	}
	out.Numerator, out.Denominator, out.Value, out.Suppressed = f.num, f.den, f.val, f.suppressed
	if m.Series != nil {
		out.Series = make([]results.Point, len(m.Series))
		for k, p := range m.Series {
			if p.Suppressed {
				return m, fmt.Errorf("series point %s already suppressed, but the document has no disclosure record", p.AsOf)
			}
			f, err := protectFigures(m.Kind, m.Per, figures{num: p.Numerator, den: p.Denominator, val: p.Value}, sum)
			if err != nil {
				return m, fmt.Errorf("series point %s: %w", p.AsOf, err)
			}
			out.Series[k] = results.Point{AsOf: p.AsOf, Numerator: f.num, Denominator: f.den, Value: f.val, Suppressed: f.suppressed}
		}
	}
	return out, nil
}

// figures are the numbers of a publishable measure or of one point of its
// series, and whether disclosure control withheld the value.
type figures struct {
	num, den, val *float64
	suppressed    bool
}

// protectFigures protects the figures of a publishable measure of a kind:
// a ratio's numerator and denominator (its value recomputed from the
// protected ones), or a count's or sum's value.
func protectFigures(kind string, per float64, in figures, sum *Summary) (figures, error) {
	var out figures
	switch kind {
	case results.KindRatio:
		num, numOK, err := protectValue(in.num, sum)
		if err != nil {
			return out, fmt.Errorf("numerator: %w", err)
		}
		den, denOK, err := protectValue(in.den, sum)
		if err != nil {
			return out, fmt.Errorf("denominator: %w", err)
		}
		out.num, out.den = num, den
		switch {
		case !numOK || !denOK:
			out.val, out.suppressed = nil, true
		case num == nil || den == nil || *den == 0:
			out.val = nil
		default:
			if per <= 0 {
				per = 1
			}
			out.val = results.F(results.Round4(*num / *den * per))
		}
	default:
		v, ok, err := protectValue(in.val, sum)
		if err != nil {
			return out, fmt.Errorf("value: %w", err)
		}
		out.val, out.suppressed = v, !ok
	}
	return out, nil
}

// protectValue protects one publishable figure. ok is false when it is
// suppressed (the returned pointer is then nil).
func protectValue(p *float64, sum *Summary) (v *float64, ok bool, err error) {
	if p == nil {
		return nil, true, nil
	}
	x := *p
	if math.IsNaN(x) || math.IsInf(x, 0) || x < 0 {
		return nil, false, fmt.Errorf("%v is not a non-negative number", x)
	}
	if IsSmall(x) {
		sum.Small++
		return nil, false, nil
	}
	sum.Rounded++
	return results.F(Round(x)), true, nil
}

// Kinds of published cell.
const (
	shown = iota
	small
	complementary
	suppressed // as a reader sees it: suppressed, for a reason not shown
)

// view is what a reader sees of one cell.
type view struct {
	kind  int
	value float64 // the shown (rounded) value, when kind == shown
}

// cell is the published cell. The kind of a suppressed cell is not
// published: Reason stays empty.
func (v view) cell(stratum string) results.Cell {
	if v.kind != shown {
		return results.Cell{Stratum: stratum, Suppressed: true}
	}
	return results.Cell{Stratum: stratum, Value: results.F(v.value)}
}

// protectCells decides what to show of one stratification's exact counts.
// ok is false when even suppressing every cell leaves one recoverable; every
// cell is then suppressed.
func protectCells(exact []float64) (views []view, ok bool) {
	views = make([]view, len(exact))
	total := 0.0
	nSupp := 0
	for i, v := range exact {
		total += v
		if IsSmall(v) {
			views[i] = view{kind: small}
			nSupp++
		} else {
			views[i] = view{kind: shown, value: Round(v)}
		}
	}
	if nSupp == 0 {
		return views, true
	}
	// Candidates for complementary suppression, best first.
	order := make([]int, 0, len(exact))
	for i, v := range exact {
		if !IsSmall(v) {
			order = append(order, i)
		}
	}
	slices.SortStableFunc(order, func(a, b int) int {
		va, vb := exact[a], exact[b]
		switch {
		case va == vb:
			return 0
		case va == 0:
			return 1 // zeros after every non-zero cell
		case vb == 0:
			return -1
		}
		return cmp.Compare(va, vb)
	})
	for {
		if nSupp >= 2 || nSupp == len(exact) {
			if _, bad := determined(views, total); !bad {
				return views, true
			}
		}
		if len(order) == 0 {
			return views, false // every cell is suppressed
		}
		views[order[0]] = view{kind: complementary}
		order = order[1:]
		nSupp++
	}
}

// slack is how far a rounded count can be from its shown value.
const slack = RoundTo / 2

// determined reports the first suppressed cell whose value a reader who knows
// total, the method, the shown values and which cells are suppressed (but not
// why) can work out exactly. For suppressed cell i the reader considers every
// whole x in [0, total] and asks whether total-x can be made up of the shown
// cells, each within its range ([r-2, r+2], or exactly 0), plus the other
// suppressed cells, each any whole number from 0 up; i is recoverable when
// exactly one x passes.
func determined(views []view, total float64) (int, bool) {
	if total < 0 || total != math.Trunc(total) {
		return -1, false // no whole assignment matches: nothing is determined
	}
	// lo and hi bound the sum of the shown cells.
	var lo, hi float64
	nSupp := 0
	for _, v := range views {
		switch {
		case v.kind != shown:
			nSupp++
		case v.value != 0:
			lo += v.value - slack
			hi += v.value + slack
		}
	}
	for i, v := range views {
		if v.kind == shown {
			continue
		}
		// The rest, total-x, must be at least lo; it is at most hi unless
		// another suppressed cell can absorb any excess. The shown ranges
		// and the other suppressed cells' values are whole numbers, so
		// every whole number in [lo, hi] (or from lo up) is reachable.
		xHi := math.Min(total, total-lo)
		xLo := 0.0
		if nSupp == 1 {
			xLo = math.Max(0, total-hi)
		}
		if xLo == xHi {
			return i, true
		}
	}
	return -1, false
}

// Protected returns an error wrapping ErrUnprotected unless every figure this
// method protects is protected: the Disclosure record names this method as
// applied; every stratified cell and publishable figure is null and
// suppressed, 0, or a multiple of 5 of at least 10; no cell publishes a
// reason for its suppression; no stratification has a single suppressed cell;
// and, where the measure's headline value is exact, no suppressed cell can be
// worked out from it. A stratification whose every cell is suppressed is
// exempt from the last two: it shows nothing beyond the headline, and Apply
// can do no more for it (Summary.Unprotectable). Call it immediately before a
// document is written to the outbox or uploaded.
func Protected(doc *results.Document) error {
	if doc == nil {
		return fmt.Errorf("%w: nil document", ErrUnprotected)
	}
	var problems []string
	add := func(format string, a ...any) { problems = append(problems, fmt.Sprintf(format, a...)) }
	switch d := doc.Disclosure; {
	case d == nil:
		add("no disclosure record")
	case !d.Applied:
		add("disclosure record says not applied")
	case d.Method != Method || d.SuppressFrom != SuppressFrom || d.SuppressTo != SuppressTo || d.RoundTo != RoundTo:
		add("disclosure record %+v is not method %s", *d, Method)
	}
	checkFigure := func(where string, p *float64, suppressed bool) {
		switch {
		case p == nil && !suppressed:
			// A null figure that is not suppressed (a ratio with a zero
			// denominator) discloses nothing.
		case p != nil && suppressed:
			add("%s: suppressed but carries a value", where)
		case p != nil && !isShowable(*p):
			add("%s: %v is neither 0 nor a multiple of %d of at least %d", where, *p, RoundTo, SuppressTo+1)
		}
	}
	for _, m := range doc.Measures {
		for _, s := range m.Strata {
			where := m.ID + "/" + s.Key()
			// The exact total the cells partition: the count, or the
			// ratio's numerator or denominator.
			total := m.Value
			switch s.Part {
			case results.PartNumerator:
				total = m.Numerator
			case results.PartDenominator:
				total = m.Denominator
			}
			views := make([]view, len(s.Cells))
			nSupp := 0
			for j, c := range s.Cells {
				if c.Value == nil && !c.Suppressed {
					add("%s/%s: null but not marked suppressed", where, c.Stratum)
				}
				if c.Reason != "" {
					add("%s/%s: suppression reason %q is published; reasons must not be published", where, c.Stratum, c.Reason)
				}
				checkFigure(where+"/"+c.Stratum, c.Value, c.Suppressed)
				if c.Value == nil {
					views[j] = view{kind: suppressed}
					nSupp++
				} else {
					views[j] = view{kind: shown, value: *c.Value}
				}
			}
			if nSupp == len(s.Cells) {
				continue // shows nothing beyond the headline
			}
			if nSupp == 1 {
				add("%s: a single suppressed cell can be recovered from the total", where)
				continue
			}
			if !m.Publishable && total != nil && nSupp > 0 && *total > MaxCount {
				add("%s: headline %v is more than %d", where, *total, MaxCount)
			} else if !m.Publishable && total != nil && nSupp > 0 {
				if j, bad := determined(views, *total); bad {
					add("%s/%s: suppressed cell can be recovered from the total", where, s.Cells[j].Stratum)
				}
			}
		}
		if m.Publishable {
			checkFigure(m.ID+"/numerator", m.Numerator, false)
			checkFigure(m.ID+"/denominator", m.Denominator, false)
			if m.Kind != results.KindRatio {
				checkFigure(m.ID, m.Value, m.Suppressed)
			} else if m.Suppressed && m.Value != nil {
				add("%s: suppressed but carries a value", m.ID)
			}
			for _, p := range m.Series {
				where := m.ID + "@" + p.AsOf
				checkFigure(where+"/numerator", p.Numerator, false)
				checkFigure(where+"/denominator", p.Denominator, false)
				if m.Kind != results.KindRatio {
					checkFigure(where, p.Value, p.Suppressed)
				} else if p.Suppressed && p.Value != nil {
					add("%s: suppressed but carries a value", where)
				}
			}
		}
	}
	if len(problems) > 0 {
		return fmt.Errorf("%w: %s", ErrUnprotected, joinProblems(problems))
	}
	return nil
}

func sumOf(v []float64) float64 {
	t := 0.0
	for _, x := range v {
		t += x
	}
	return t
}

func isShowable(v float64) bool {
	return v == 0 || (v >= SuppressTo+1 && math.Mod(v, RoundTo) == 0)
}

func joinProblems(p []string) string {
	const max = 10
	s := ""
	for i, x := range p {
		if i == max {
			return s + fmt.Sprintf("; and %d more", len(p)-max)
		}
		if i > 0 {
			s += "; "
		}
		s += x
	}
	return s
}
