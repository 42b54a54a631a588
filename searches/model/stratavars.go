package model

import (
	"strconv"
	"strings"
)

// Strata by variables (docs/search-language.md, Strata): a count measure may
// be stratified by a boolean variable (cells true and false), by a number
// variable with listed values (a cell per value and other), and by a
// crossed pair of any two stratifications (a cell per pair of labels).
// Every patient counted falls in exactly one cell, so the cells add up to
// the measure, as disclosure control requires.

// MaxCells is the most cells a stratification may have (the results
// document's limit).
const MaxCells = 200

// CrossSep joins the labels of a crossed stratification's cells.
const CrossSep = "|"

// OtherLabel is the cell of a number variable's value that is not listed,
// or null.
const OtherLabel = "other"

// StrataPart is one factor of a stratification: a built-in dimension or a
// variable.
type StrataPart struct {
	Builtin Dimension // "" for a variable
	Var     *Variable
	// Values are the cells of a number variable, in order.
	Values []float64
}

// Name is the part's name: the built-in dimension or the variable.
func (p StrataPart) Name() string {
	if p.Var != nil {
		return p.Var.Name
	}
	return string(p.Builtin)
}

// Labels are the part's labels in document order.
func (p StrataPart) Labels(bands []int) []string {
	if p.Var == nil {
		return Labels(p.Builtin, bands)
	}
	if p.Var.Expr.Type() == Bool {
		return []string{"true", "false"}
	}
	out := make([]string, 0, len(p.Values)+1)
	for _, v := range p.Values {
		out = append(out, NumberLabel(v))
	}
	return append(out, OtherLabel)
}

// NumberLabel is the label of a listed value of a number variable.
func NumberLabel(v float64) string { return strconv.FormatFloat(v, 'g', -1, 64) }

// VarLabel is the label of a variable part for a value: "true"/"false" for
// a boolean, the listed value or "other" for a number (null is other).
func (p StrataPart) VarLabel(b bool, n float64, valid bool) string {
	if p.Var.Expr.Type() == Bool {
		return strconv.FormatBool(b)
	}
	if valid {
		for _, v := range p.Values {
			if v == n {
				return NumberLabel(v)
			}
		}
	}
	return OtherLabel
}

// Stratification is a stratification other than one built-in dimension: a
// variable, or two parts crossed.
type Stratification struct {
	Dim   Dimension
	Parts []StrataPart
	Pos   Pos
}

// Labels are the cells in document order: for a crossed pair, every label
// of the first part with every label of the second, joined by CrossSep.
func (s *Stratification) Labels(bands []int) []string {
	out := []string{""}
	for i, p := range s.Parts {
		var next []string
		for _, prefix := range out {
			for _, l := range p.Labels(bands) {
				if i > 0 {
					l = prefix + CrossSep + l
				}
				next = append(next, l)
			}
		}
		out = next
	}
	return out
}

// Label joins the labels of each part.
func (s *Stratification) Label(parts []string) string { return strings.Join(parts, CrossSep) }

// Stratification returns the measure's stratification named d when it is
// not a built-in dimension, or nil.
func (m *Measure) Stratification(d Dimension) *Stratification {
	for _, s := range m.Strata {
		if s.Dim == d {
			return s
		}
	}
	return nil
}

// Labels returns the cells of one of the measure's stratifications.
func (m *Measure) Labels(d Dimension, bands []int) []string {
	if s := m.Stratification(d); s != nil {
		return s.Labels(bands)
	}
	return Labels(d, bands)
}
