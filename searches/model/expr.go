package model

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Expr is a per-patient expression. Booleans are never null: a comparison
// with a null operand is false. Numbers and dates may be null (first/last
// with no rows, division by zero); arithmetic with a null operand is null.
type Expr interface {
	Type() Type
	Position() Pos
	isExpr()
}

// NumberLit is a number literal.
type NumberLit struct {
	Value float64
	P     Pos
}

// BoolLit is true or false.
type BoolLit struct {
	Value bool
	P     Pos
}

// ParamRef is a reference to a search parameter (a bind parameter in SQL).
type ParamRef struct {
	Param *Parameter
	P     Pos
}

// VarRef refers to a variable, evaluated at At (AnchorCurrent: the date the
// enclosing expression is evaluated at). Resolve inlines every VarRef.
type VarRef struct {
	Var *Variable
	At  Anchor
	P   Pos
}

// Not negates a boolean.
type Not struct {
	X Expr
	P Pos
}

// Logic is "and" or "or" of two booleans.
type Logic struct {
	Op   string // "and", "or"
	L, R Expr
	P    Pos
}

// Compare compares two numbers or two dates: "<", "<=", ">", ">=", "=", "!=".
// A null operand makes it false.
type Compare struct {
	Op   string
	L, R Expr
	P    Pos
}

// Arith is "+", "-", "*" or "/" of two numbers; division by zero is null.
type Arith struct {
	Op   string
	L, R Expr
	P    Pos
}

// Registered is true when a registration spell at the practice covers the
// anchor date and the patient had not died on or before it.
type Registered struct {
	At Anchor
	P  Pos
}

// Age is the patient's age in whole years completed on the anchor date.
type Age struct {
	At Anchor
	P  Pos
}

// Aggregate computes Op over the rows of Source whose code is in Codelist
// and whose date is in Window (and never after the run's as-of date).
type Aggregate struct {
	Op       AggOp
	Source   Source
	Codelist *Codelist
	Window   Window
	// Value is what OpSum adds up, and what Filter tests for being known.
	Value RowValue
	Ref   *Reference // for ValueQuantityRef
	// Filter restricts rows by whether Value is known.
	Filter RowFilter
	// Where restricts rows by comparisons of their columns (rows: as a
	// mapping): a row is read when every one holds.
	Where []RowCond
	// PerDay divides a sum by the number of days in the window.
	PerDay bool
	// Of is the attribute first and last return (the date by default) and
	// what count_distinct counts (the code by default).
	Of Attr
	// Nth picks the nth first or last row (0 or 1: the first or last).
	Nth int
	P   Pos
}

func (*NumberLit) isExpr()  {}
func (*BoolLit) isExpr()    {}
func (*ParamRef) isExpr()   {}
func (*VarRef) isExpr()     {}
func (*Not) isExpr()        {}
func (*Logic) isExpr()      {}
func (*Compare) isExpr()    {}
func (*Arith) isExpr()      {}
func (*Registered) isExpr() {}
func (*Age) isExpr()        {}
func (*Aggregate) isExpr()  {}

func (e *NumberLit) Position() Pos  { return e.P }
func (e *BoolLit) Position() Pos    { return e.P }
func (e *ParamRef) Position() Pos   { return e.P }
func (e *VarRef) Position() Pos     { return e.P }
func (e *Not) Position() Pos        { return e.P }
func (e *Logic) Position() Pos      { return e.P }
func (e *Compare) Position() Pos    { return e.P }
func (e *Arith) Position() Pos      { return e.P }
func (e *Registered) Position() Pos { return e.P }
func (e *Age) Position() Pos        { return e.P }
func (e *Aggregate) Position() Pos  { return e.P }

func (*NumberLit) Type() Type  { return Number }
func (*BoolLit) Type() Type    { return Bool }
func (*ParamRef) Type() Type   { return Number }
func (e *VarRef) Type() Type   { return e.Var.Expr.Type() }
func (*Not) Type() Type        { return Bool }
func (*Logic) Type() Type      { return Bool }
func (*Compare) Type() Type    { return Bool }
func (*Arith) Type() Type      { return Number }
func (*Registered) Type() Type { return Bool }
func (*Age) Type() Type        { return Number }

// Type of an aggregate follows its operation.
func (e *Aggregate) Type() Type {
	switch e.Op {
	case OpExists, OpEachMonth:
		return Bool
	case OpFirst, OpLast:
		switch e.Of.Kind {
		case AttrDate:
			return Date
		case AttrCode:
			return Text
		}
		return Number
	}
	return Number
}

// WindowKind is the shape of a window.
type WindowKind int

// Window kinds.
const (
	// WindowMonths is the N whole calendar months whose last one contains
	// the end date, up to and including the end date.
	WindowMonths WindowKind = iota + 1
	// WindowDays is the N days ending on and including the end date.
	WindowDays
	// WindowEver is every date on or before the end date.
	WindowEver
	// WindowBetween is the dates after Start and on or before End.
	WindowBetween
)

// Window is a date range relative to anchors. Its end is the date of End,
// or the literal EndLit when EndIsLit, shifted by EndShifts in order: a run
// date (RunDate), the same for every patient.
type Window struct {
	Kind      WindowKind
	N         int
	End       Anchor
	EndLit    time.Time
	EndIsLit  bool
	EndShifts []Shift
	Start     Anchor // WindowBetween only: exclusive
}

// EndDate is the window's end as a run date.
func (w Window) EndDate() *RunDate {
	return &RunDate{Lit: w.EndLit, IsLit: w.EndIsLit, At: w.End, Shifts: w.EndShifts}
}

// UsesAnchor reports whether the window's end reads its End anchor (a
// literal end does not).
func (w Window) UsesAnchor() bool { return !w.EndIsLit }

// Dates are the concrete dates of a run.
type Dates struct {
	AsOf     time.Time
	Baseline time.Time // zero when the run has no baseline
}

// Date returns the concrete date of a resolved anchor.
func (d Dates) Date(a Anchor) time.Time {
	if a == AnchorBaseline {
		return d.Baseline
	}
	return d.AsOf
}

// Range returns the inclusive first and last dates of a resolved window.
// For WindowEver, from is the zero time and hasFrom is false.
//
// A window ending after the as-of date (a literal or a forward shift) is
// cut at the as-of date: nothing from the future is visible. Its number of
// days (Days, for per_day) is still that of the whole window.
func (w Window) Range(d Dates) (from, to time.Time, hasFrom bool) {
	from, to, hasFrom = w.nominal(d)
	if !d.AsOf.IsZero() && to.After(d.AsOf) {
		to = d.AsOf
	}
	return from, to, hasFrom
}

// nominal is the window's range before the cut at the as-of date.
func (w Window) nominal(d Dates) (from, to time.Time, hasFrom bool) {
	to = w.EndDate().On(d)
	switch w.Kind {
	case WindowMonths:
		first := time.Date(to.Year(), to.Month(), 1, 0, 0, 0, 0, time.UTC)
		return first.AddDate(0, -(w.N - 1), 0), to, true
	case WindowDays:
		return to.AddDate(0, 0, -(w.N - 1)), to, true
	case WindowBetween:
		return d.Date(w.Start).AddDate(0, 0, 1), to, true
	}
	return time.Time{}, to, false
}

// Days returns the number of days in a resolved window, or 0 for WindowEver.
func (w Window) Days(d Dates) int {
	from, to, ok := w.nominal(d)
	if !ok || to.Before(from) {
		return 0
	}
	return int(to.Sub(from).Hours()/24+0.5) + 1
}

// Months returns the first day of each calendar month of a resolved months
// window, oldest first.
func (w Window) Months(d Dates) []time.Time {
	if w.Kind != WindowMonths {
		return nil
	}
	from, _, _ := w.Range(d)
	out := make([]time.Time, w.N)
	for i := range out {
		out[i] = from.AddDate(0, i, 0)
	}
	return out
}

func (w Window) String() string {
	end := w.EndDate().String()
	switch w.Kind {
	case WindowMonths:
		return fmt.Sprintf("months(%d,%s)", w.N, end)
	case WindowDays:
		return fmt.Sprintf("days(%d,%s)", w.N, end)
	case WindowEver:
		return fmt.Sprintf("ever(%s)", end)
	case WindowBetween:
		return fmt.Sprintf("between(%s,%s)", w.Start, end)
	}
	return "window(?)"
}

// Key returns a canonical text of an expression: equal keys mean equal
// expressions. Engines use it to share work between equal sub-expressions,
// and golden files use it to name columns stably.
func Key(e Expr) string {
	var b strings.Builder
	writeKey(&b, e)
	return b.String()
}

func writeKey(b *strings.Builder, e Expr) {
	switch e := e.(type) {
	case *NumberLit:
		b.WriteString(strconv.FormatFloat(e.Value, 'g', -1, 64))
	case *BoolLit:
		b.WriteString(strconv.FormatBool(e.Value))
	case *ParamRef:
		b.WriteString("params." + e.Param.Name)
	case *VarRef:
		fmt.Fprintf(b, "%s@%s", e.Var.Name, e.At)
	case *Not:
		b.WriteString("not(")
		writeKey(b, e.X)
		b.WriteString(")")
	case *Logic, *Compare, *Arith:
		var op string
		var l, r Expr
		switch e := e.(type) {
		case *Logic:
			op, l, r = e.Op, e.L, e.R
		case *Compare:
			op, l, r = e.Op, e.L, e.R
		case *Arith:
			op, l, r = e.Op, e.L, e.R
		}
		b.WriteString("(")
		writeKey(b, l)
		b.WriteString(" " + op + " ")
		writeKey(b, r)
		b.WriteString(")")
	case *Registered:
		fmt.Fprintf(b, "registered@%s", e.At)
	case *Age:
		fmt.Fprintf(b, "age@%s", e.At)
	case *RunDate:
		b.WriteString(e.String())
	case *DateShift:
		b.WriteString("shift(")
		writeKey(b, e.X)
		b.WriteString("," + e.Shift.String() + ")")
	case *DaysBetweenExpr:
		b.WriteString("days_between(")
		writeKey(b, e.A)
		b.WriteString(",")
		writeKey(b, e.B)
		b.WriteString(")")
	case *AgeAt:
		b.WriteString("age_at(")
		writeKey(b, e.X)
		b.WriteString(")")
	case *RegDate:
		fmt.Fprintf(b, "%s@%s", e.Kind, e.At)
	case *Case:
		e.writeKey(b)
	case *Aggregate:
		fmt.Fprintf(b, "%s(%s:%s,%s", e.Op, e.Source, e.Codelist.Name, e.Window)
		if e.Value != ValueNone {
			fmt.Fprintf(b, ",value=%d", e.Value)
			if e.Ref != nil {
				b.WriteString(",ref=" + e.Ref.Name)
			}
		}
		if e.Filter != RowsAll {
			fmt.Fprintf(b, ",filter=%d", e.Filter)
		}
		if e.PerDay {
			b.WriteString(",per_day")
		}
		b.WriteString(e.rowKey())
		b.WriteString(")")
	default:
		fmt.Fprintf(b, "?%T", e)
	}
}
