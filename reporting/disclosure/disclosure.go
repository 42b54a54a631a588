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
//   - 0 < v < 8 (for a count: 1 to 7) is suppressed: Value null,
//     Suppressed true, Reason "small";
//   - any other v is rounded to the nearest multiple of 5. A count can never
//     sit exactly half-way; a sum can (12.5), and halves round away from zero
//     (12.5 -> 15). Every shown figure is therefore 0 or at least 10.
//
// Complementary suppression: the headline count of a stratified measure is
// sent exactly, so each stratification is treated as a partition of a known
// total. Whenever a stratification has a suppressed cell, further cells are
// suppressed (Reason "complementary") until at least two of its cells are
// suppressed and no suppressed cell's value is uniquely determined by the
// total and what is shown. Candidates are taken smallest non-zero exact value
// first (ties: first in document order), then zero cells, in document order.
//
// The check assumes a reader who knows the method: a rounded cell r lies in
// [r-2, r+2], a shown 0 is exactly 0, a "small" cell lies in 1..7 and, because
// the reason is published, a "complementary" cell is 0 or at least 8. Under
// that reader some stratifications cannot be protected at all while reasons
// are visible (a total under 8 with a single non-zero cell; [1, 8] with total
// 9). Such a stratification is withheld: removed from the document, and named
// in the Summary Apply returns. Cross-measure differencing (for example
// long_term minus high_dose in one stratum) is outside this method.
package disclosure

import (
	"errors"
	"fmt"
	"math"
	"sort"

	"github.com/nhs-steward/steward/reporting/results"
)

// The method's parameters, recorded in results.Document.Disclosure.
const (
	Method       = "steward-sdc/v1"
	SuppressFrom = 1
	SuppressTo   = 7
	RoundTo      = 5
)

// Reasons a cell is suppressed.
const (
	ReasonSmall         = "small"
	ReasonComplementary = "complementary"
)

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
	// Withheld names each stratification removed because it could not be
	// protected, as "measure_id/dimension".
	Withheld []string
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
		views, ok := protectCells(exact)
		if !ok {
			sum.Withheld = append(sum.Withheld, m.ID+"/"+s.Dimension)
			continue
		}
		ps := results.Strata{Dimension: s.Dimension, Cells: make([]results.Cell, len(s.Cells))}
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
	switch m.Kind {
	case results.KindRatio:
		num, numOK, err := protectValue(m.Numerator, sum)
		if err != nil {
			return m, fmt.Errorf("numerator: %w", err)
		}
		den, denOK, err := protectValue(m.Denominator, sum)
		if err != nil {
			return m, fmt.Errorf("denominator: %w", err)
		}
		out.Numerator, out.Denominator = num, den
		switch {
		case !numOK || !denOK:
			out.Value, out.Suppressed = nil, true
		case num == nil || den == nil || *den == 0:
			out.Value = nil
		default:
			d := *den
			if m.Per > 0 {
				d /= m.Per
			}
			out.Value = results.F(results.Round4(*num / d))
		}
	default:
		v, ok, err := protectValue(m.Value, sum)
		if err != nil {
			return m, fmt.Errorf("value: %w", err)
		}
		out.Value, out.Suppressed = v, !ok
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
)

// view is what a reader sees of one cell.
type view struct {
	kind  int
	value float64 // the shown (rounded) value, when kind == shown
}

func (v view) cell(stratum string) results.Cell {
	switch v.kind {
	case small:
		return results.Cell{Stratum: stratum, Suppressed: true, Reason: ReasonSmall}
	case complementary:
		return results.Cell{Stratum: stratum, Suppressed: true, Reason: ReasonComplementary}
	}
	return results.Cell{Stratum: stratum, Value: results.F(v.value)}
}

// protectCells decides what to show of one stratification's exact counts.
// ok is false when the stratification cannot be protected and must be
// withheld.
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
	sort.SliceStable(order, func(a, b int) bool {
		va, vb := exact[order[a]], exact[order[b]]
		if (va == 0) != (vb == 0) {
			return vb == 0 // non-zero before zero
		}
		if va == 0 {
			return false // zeros keep document order
		}
		return va < vb
	})
	for {
		if nSupp >= 2 || nSupp == len(exact) {
			if _, bad := determined(views, total); !bad {
				return views, true
			}
		}
		if len(order) == 0 {
			return nil, false
		}
		views[order[0]] = view{kind: complementary}
		order = order[1:]
		nSupp++
	}
}

// determined reports the first suppressed cell whose value a reader who knows
// total and the method can work out exactly.
func determined(views []view, total float64) (int, bool) {
	// Sum over all cells of each kind's range; each cell's own share is
	// taken off below.
	var lo, hi float64 // shown cells: [r-2, r+2], or exactly 0
	nSmall, nComp := 0, 0
	for _, v := range views {
		switch v.kind {
		case shown:
			if v.value != 0 {
				lo += v.value - RoundTo/2
				hi += v.value + RoundTo/2
			}
		case small:
			nSmall++
		case complementary:
			nComp++
		}
	}
	for i, v := range views {
		if v.kind == shown {
			continue
		}
		ns, nc := nSmall, nComp
		var cands []float64
		if v.kind == small {
			ns--
			for x := float64(SuppressFrom); x <= SuppressTo; x++ {
				cands = append(cands, x)
			}
		} else {
			nc--
			cands = append(cands, 0)
			for x := float64(SuppressTo + 1); x <= total; x++ {
				cands = append(cands, x)
			}
		}
		// The other cells sum to [oLo, oHi], or, with another complementary
		// cell (0 or >= 8 each), to that or anything from oLo+8 up.
		oLo := lo + float64(ns*SuppressFrom)
		oHi := hi + float64(ns*SuppressTo)
		feasible := 0
		for _, x := range cands {
			rest := total - x
			if (rest >= oLo && rest <= oHi) || (nc > 0 && rest >= oLo+SuppressTo+1) {
				feasible++
				if feasible > 1 {
					break
				}
			}
		}
		if feasible == 1 {
			return i, true
		}
	}
	return -1, false
}

// Protected returns an error wrapping ErrUnprotected unless every figure this
// method protects is protected: the Disclosure record names this method as
// applied; every stratified cell and publishable figure is null and
// suppressed, 0, or a multiple of 5 of at least 10; no stratification has a
// single suppressed cell; and, where the measure's headline value is exact, no
// suppressed cell can be worked out from it. Call it immediately before a
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
			where := m.ID + "/" + s.Dimension
			views := make([]view, len(s.Cells))
			nSupp := 0
			for j, c := range s.Cells {
				checkFigure(where+"/"+c.Stratum, c.Value, c.Suppressed)
				switch {
				case c.Value == nil && c.Reason == ReasonSmall:
					views[j] = view{kind: small}
					nSupp++
				case c.Value == nil:
					views[j] = view{kind: complementary}
					nSupp++
				default:
					views[j] = view{kind: shown, value: *c.Value}
				}
			}
			if nSupp == 1 {
				add("%s: a single suppressed cell can be recovered from the total", where)
				continue
			}
			if !m.Publishable && m.Value != nil && nSupp > 0 {
				if j, bad := determined(views, *m.Value); bad {
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
		}
	}
	if len(problems) > 0 {
		return fmt.Errorf("%w: %s", ErrUnprotected, joinProblems(problems))
	}
	return nil
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
