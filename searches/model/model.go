// Package model is the validated, immutable middle of the search compiler:
// the loader (package lang) turns YAML into these types, and every engine —
// the SQL compiler for each dialect and the in-memory reference evaluator —
// consumes them. Nothing here knows about YAML or SQL.
//
// A search is evaluated for one practice as of a date A (a month end), with
// an optional baseline date B. Variables are per-patient expressions built
// from built-ins (registered, age), aggregates over medication issues and
// clinical events in windows, and other variables. Measures aggregate
// variables over patients; they are the only output that may leave a
// practice. A worklist is a separate, local-only output.
//
// Resolve turns the search into a Plan in which every variable reference is
// inlined and every aggregate and window is bound to a concrete anchor (the
// run's as-of date or its baseline date). Engines consume the Plan.
package model

import (
	"github.com/nhs-steward/steward/internal/diag"
)

// LanguageVersion is the search language version this model implements.
const LanguageVersion = 1

// Pos is a position in a source file, for error messages: the one
// position type every loader uses.
type Pos = diag.Pos

// Type is the type of an expression.
type Type int

// Expression types.
const (
	Bool Type = iota + 1
	Number
	Date
	// Text is a row's code (first or last with of: code): it can be
	// shown in a worklist column, not computed with.
	Text
)

func (t Type) String() string {
	switch t {
	case Bool:
		return "boolean"
	case Number:
		return "number"
	case Date:
		return "date"
	case Text:
		return "code"
	}
	return "unknown"
}

// Pack is a versioned set of searches published together.
type Pack struct {
	ID      string
	Version string
	Title   string
	// FirstAsOf is the earliest month end the pack's figures are valid
	// for ("" when the pack sets none): the collector refuses figures for
	// an earlier month.
	FirstAsOf string
	Searches  []*Search
	Pos       Pos
}

// Search is one validated search file.
type Search struct {
	ID          string
	Title       string
	Description string
	Pos         Pos
	Parameters  []*Parameter
	Codelists   []*Codelist
	References  []*Reference
	// Variables in dependency order: a variable only refers to earlier ones.
	Variables []*Variable
	Measures  []*Measure
	// AgeBands are the lower bounds of the age bands used by the age_band
	// stratification, ascending, e.g. [18, 40, 65, 80] gives 18-39, 40-64,
	// 65-79, 80+.
	AgeBands []int
	// Worklist is the local-only patient list, or nil.
	Worklist *Worklist
	// Series is the search's series: every measure at the as-of date
	// without its own is also evaluated at this many month ends (0: none).
	Series int
}

// Parameter is a named number with a default that a run may override. In
// SQL it is always a bind parameter.
type Parameter struct {
	Name        string
	Default     float64
	Description string
	Pos         Pos
}

// Codelist is a set of codes loaded from one or more OpenCodelists CSV files.
type Codelist struct {
	Name  string
	Files []CodelistFile
	// Column is the CSV column holding the code.
	Column string
	// Codes are the distinct codes, sorted.
	Codes []string
	// Categories are the classes of codes the codelist declares, such as
	// the molecule of each product.
	Categories []*Category
	Pos        Pos
}

// CodelistFile is one CSV file of a codelist.
type CodelistFile struct {
	Path    string // as written in the search, relative to the search file
	Version string // the OpenCodelists version, e.g. "4de2bbca" or "2020-04-15"
	SHA256  string // of the file's bytes
	// Include and Exclude filter rows by column prefix, e.g. bnf_code 0407.
	Include map[string][]string
	Exclude map[string][]string
}

// Reference is a reference table: a numeric value per code (e.g. mg OME per
// unit of a dm+d product).
type Reference struct {
	Name    string
	Path    string
	Version string
	SHA256  string
	Values  map[string]float64
	Pos     Pos
}

// Variable is a named per-patient expression.
type Variable struct {
	Name string
	Expr Expr
	Pos  Pos
}

// Anchor names the date an expression is evaluated at.
type Anchor int

// Anchors. AnchorCurrent means "the date the enclosing expression is
// evaluated at": the run's as-of date, unless inside x@baseline.
const (
	AnchorCurrent Anchor = iota
	AnchorAsOf
	AnchorBaseline
)

func (a Anchor) String() string {
	switch a {
	case AnchorAsOf:
		return "as_of"
	case AnchorBaseline:
		return "baseline"
	}
	return "current"
}

// Dimension is a stratification.
type Dimension string

// Stratification dimensions.
const (
	DimSex         Dimension = "sex"
	DimAgeBand     Dimension = "age_band"
	DimIMDQuintile Dimension = "imd_quintile"
)

// MeasureKind is count, sum or ratio.
type MeasureKind string

// Measure kinds; the strings are those of the results document.
const (
	KindCount MeasureKind = "count"
	KindSum   MeasureKind = "sum"
	KindRatio MeasureKind = "ratio"
)

// Agg is a patient aggregate: the number of patients for whom Where holds
// (Count), or the sum of Value over them (Sum).
type Agg struct {
	Kind  MeasureKind // KindCount or KindSum
	Where Expr        // boolean; nil means every patient in the universe
	Value Expr        // number, for KindSum
	// At is the date the aggregate is evaluated at.
	At Anchor
}

// Measure is one output figure.
type Measure struct {
	ID    string
	Title string
	Kind  MeasureKind
	// At is the date the measure describes (AnchorAsOf or AnchorBaseline);
	// strata are computed at this date.
	At Anchor
	// Value is the aggregate of a count or sum measure.
	Value *Agg
	// Numerator and Denominator of a ratio.
	Numerator, Denominator *Agg
	// Per scales a ratio's value: value = numerator / denominator x Per; the
	// denominator stays the raw figure (MEASURES.md).
	Per      float64
	Stratify []Dimension
	// Strata describes the stratifications of Stratify that are not a
	// built-in dimension (variables and crossed pairs).
	Strata      []*Stratification
	Publishable bool
	// Series is the number of month ends, ending at the as-of date, the
	// measure is also evaluated at (0: none); see SeriesDates.
	Series int
	Pos    Pos
}

// Worklist is a local-only list of patients: it is never uploaded. Engines
// return it as a different type from measures.
type Worklist struct {
	Title   string
	Where   Expr
	Columns []WorklistColumn
	Pos     Pos
}

// WorklistColumn is one column of a worklist.
type WorklistColumn struct {
	Name string
	Expr Expr
}

// Source is a patient-level table an aggregate reads.
type Source string

// Sources.
const (
	Issues Source = "issues" // medication_issues: date, dmd_code, quantity
	Events Source = "events" // clinical_events: date, snomed_code, numeric_value
)

// AggOp is what an aggregate computes over the rows in its window.
type AggOp string

// Aggregate operations.
const (
	OpExists    AggOp = "exists"     // Bool: any row
	OpCount     AggOp = "count"      // Number: rows (0 when none)
	OpSum       AggOp = "sum"        // Number: sum of the row value (0 when none)
	OpFirst     AggOp = "first"      // Date: earliest row date (null when none)
	OpLast      AggOp = "last"       // Date: latest row date (null when none)
	OpEachMonth AggOp = "each_month" // Bool: a row in each calendar month of the window (a months window)
)

// RowValue is the per-row value an aggregate sums.
type RowValue int

// Row values.
const (
	ValueNone         RowValue = iota
	ValueQuantity              // issues: quantity (NULL or <= 0 contributes 0 and is unknown)
	ValueQuantityRef           // issues: quantity x Reference value (missing reference, NULL or <= 0 quantity: 0, unknown)
	ValueNumericValue          // events: numeric_value (NULL contributes 0 and is unknown)
)

// RowFilter restricts the rows an aggregate reads by whether their value is
// known.
type RowFilter int

// Row filters.
const (
	RowsAll RowFilter = iota
	RowsValueKnown
	RowsValueUnknown
)
