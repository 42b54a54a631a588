package model

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Dates as values (docs/search-language.md, Dates).
//
// A date is either fixed for the whole run — a literal, the run's as-of or
// baseline date, each shifted by whole days, months or years (RunDate) — or
// per patient: first/last of an aggregate, a registration date, or such a
// date shifted (DateShift). Run dates are computed once, in Go, by every
// engine (RunDate.On), so the month-end rule cannot differ between them;
// per-patient shifts are computed by each engine with the same rule.

// Unit is the unit of a date shift.
type Unit string

// Units.
const (
	Days   Unit = "days"
	Months Unit = "months"
	Years  Unit = "years"
)

// Shift moves a date by N (signed) days, months or years.
type Shift struct {
	N    int
	Unit Unit
}

func (s Shift) String() string { return fmt.Sprintf("%+d %s", s.N, s.Unit) }

// Months returns the shift in whole months (years are 12 months), or 0
// and false for a days shift.
func (s Shift) Months() (int, bool) {
	switch s.Unit {
	case Months:
		return s.N, true
	case Years:
		return 12 * s.N, true
	}
	return 0, false
}

// AddShift shifts t. Days are exact. Months and years move to the same day
// of the target month, or to its last day when the month is shorter (month
// end clamping): 31 March - 1 month is 28 February (29 in a leap year),
// 29 February 2024 + 1 year is 28 February 2025, 31 January + 1 month is
// 28/29 February. Every engine implements exactly this.
func AddShift(t time.Time, s Shift) time.Time {
	m, ok := s.Months()
	if !ok {
		return t.AddDate(0, 0, s.N)
	}
	return AddMonths(t, m)
}

// AddMonths adds n calendar months to t with month-end clamping.
func AddMonths(t time.Time, n int) time.Time {
	first := time.Date(t.Year(), t.Month(), 1, 0, 0, 0, 0, time.UTC).AddDate(0, n, 0)
	last := first.AddDate(0, 1, -1).Day()
	d := t.Day()
	if d > last {
		d = last
	}
	return time.Date(first.Year(), first.Month(), d, 0, 0, 0, 0, time.UTC)
}

// DaysBetween is the number of days from a to b (negative when b is
// earlier).
func DaysBetween(a, b time.Time) int {
	return int(b.Sub(a).Round(time.Hour).Hours()) / 24
}

// RunDate is a date fixed for the whole run: a literal (IsLit) or the date
// of At (AnchorCurrent: the date the enclosing expression is evaluated at),
// then each shift in order.
type RunDate struct {
	Lit    time.Time
	IsLit  bool
	At     Anchor
	Shifts []Shift
	P      Pos
}

// Base returns the unshifted date of a resolved run date.
func (e *RunDate) Base(d Dates) time.Time {
	if e.IsLit {
		return e.Lit
	}
	return d.Date(e.At)
}

// On returns the date of a resolved run date.
func (e *RunDate) On(d Dates) time.Time {
	t := e.Base(d)
	for _, s := range e.Shifts {
		t = AddShift(t, s)
	}
	return t
}

func (e *RunDate) String() string {
	var b strings.Builder
	if e.IsLit {
		b.WriteString("date(" + e.Lit.Format(time.DateOnly) + ")")
	} else {
		b.WriteString(e.At.String())
	}
	for _, s := range e.Shifts {
		b.WriteString(" " + strconv.Itoa(s.N) + string(s.Unit[0]))
	}
	return b.String()
}

// DateShift shifts a per-patient date; null stays null.
type DateShift struct {
	X     Expr
	Shift Shift
	P     Pos
}

// DaysBetweenExpr is days_between(A, B): the number of days from A to B
// (B - A), null when either is null.
type DaysBetweenExpr struct {
	A, B Expr
	P    Pos
}

// AgeAt is the patient's age in whole years completed on the date X, null
// when X is null.
type AgeAt struct {
	X Expr
	P Pos
}

// RegDateKind says which registration date a RegDate is.
type RegDateKind int

// Registration dates.
const (
	// RegStart is the start of the registration spell at the practice
	// covering the date (the latest start when spells overlap), null when
	// none covers it.
	RegStart RegDateKind = iota + 1
	// Joined is the earliest start of a spell at the practice on or before
	// the date: when the patient joined the practice; null when none.
	Joined
)

// RegDate is a registration date of the patient at an anchor date.
type RegDate struct {
	Kind RegDateKind
	At   Anchor
	P    Pos
}

func (*RunDate) isExpr()         {}
func (*DateShift) isExpr()       {}
func (*DaysBetweenExpr) isExpr() {}
func (*AgeAt) isExpr()           {}
func (*RegDate) isExpr()         {}

func (e *RunDate) Position() Pos         { return e.P }
func (e *DateShift) Position() Pos       { return e.P }
func (e *DaysBetweenExpr) Position() Pos { return e.P }
func (e *AgeAt) Position() Pos           { return e.P }
func (e *RegDate) Position() Pos         { return e.P }

func (*RunDate) Type() Type         { return Date }
func (*DateShift) Type() Type       { return Date }
func (*DaysBetweenExpr) Type() Type { return Number }
func (*AgeAt) Type() Type           { return Number }
func (*RegDate) Type() Type         { return Date }

func (k RegDateKind) String() string {
	if k == Joined {
		return "joined_practice"
	}
	return "registration_start"
}
