package web

import (
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/nhs-steward/steward/reporting/results"
)

// Numbers for people. The pages show figures the way an analyst writes
// them in a board paper: proportions as percentages with one decimal,
// thousands separated by commas, a unit beside every figure, months as
// "March 2025" and money as £1,234.56. Ids and raw values stay in title
// attributes, data- attributes and the CSV downloads, for those who need
// them.

// Thousands formats v with decimals places and commas between thousands:
// 101683.5985 with 1 gives "101,683.6". Negative zero is shown as 0.
func Thousands(v float64, decimals int) string {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return "—"
	}
	s := strconv.FormatFloat(v, 'f', decimals, 64)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	whole, frac, _ := strings.Cut(s, ".")
	var b strings.Builder
	for i, r := range whole {
		if i > 0 && (len(whole)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(r)
	}
	out := b.String()
	if frac != "" {
		out += "." + frac
	}
	if neg && strings.Trim(out, "0.,") != "" {
		out = "-" + out
	}
	return out
}

// Percent formats a proportion (0.7636) as a percentage with one decimal
// ("76.4%").
func Percent(p float64) string { return Thousands(p*100, 1) + "%" }

// Money formats pence as pounds: 123456 gives "£1,234.56".
func Money(pence int64) string {
	if pence < 0 {
		return "-£" + Pounds(-pence)
	}
	return "£" + Pounds(pence)
}

// Pounds is Money without the pound sign, for cells under a "£" heading.
func Pounds(pence int64) string {
	neg := pence < 0
	if neg {
		pence = -pence
	}
	s := Thousands(float64(pence/100), 0) + "." + strconv.FormatInt(100+pence%100, 10)[1:]
	if neg {
		s = "-" + s
	}
	return s
}

// Month formats a month end ("2025-03-31") or a month ("2025-03") as
// "March 2025"; anything else is returned as it is.
func Month(s string) string {
	for _, layout := range []string{time.DateOnly, "2006-01"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.Format("January 2006")
		}
	}
	return s
}

// ShortMonth formats a month end or month as "Mar 2025", for axis labels.
func ShortMonth(s string) string {
	for _, layout := range []string{time.DateOnly, "2006-01"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.Format("Jan 2006")
		}
	}
	return s
}

// When formats a moment as "4 December 2026, 21:37 UTC".
func When(t time.Time) string {
	if t.IsZero() {
		return "—"
	}
	return t.UTC().Format("2 January 2006, 15:04 UTC")
}

// Unit describes how a measure's figures read: the unit of its value and,
// for a ratio, of its numerator and denominator.
type Unit struct {
	// Value is the value's unit ("patients", "mg OME", "mg OME per 1,000
	// adults"); "" for a proportion, shown as a percentage.
	Value string
	// Numerator and Denominator are a ratio's units.
	Numerator, Denominator string
	// Proportion: the value is a share of the denominator, shown as %.
	Proportion bool
	// Count: the value counts patients or milligrams, never negative, so
	// its charts start at zero.
	Count bool
}

// UnitOf returns the unit of a measure of kind with scale per, from its
// spec in the pack when there is one (nil: known from the kind alone).
func UnitOf(id, kind string, per float64, spec *results.MeasureSpec) Unit {
	mg := strings.Contains(id, "ome") // OME sums are milligrams
	switch kind {
	case results.KindCount:
		if strings.Contains(id, "issues") {
			return Unit{Value: "issues", Count: true}
		}
		return Unit{Value: "patients", Count: true}
	case results.KindSum:
		if mg {
			return Unit{Value: "mg OME", Count: true}
		}
		return Unit{Count: true}
	}
	u := Unit{Numerator: "patients", Denominator: "patients", Count: true}
	if spec != nil && !spec.NumeratorPatients || spec == nil && mg {
		u.Numerator = "mg OME"
	}
	if strings.Contains(id, "per_1000") || strings.Contains(id, "ome") {
		u.Denominator = "adults"
	}
	if per <= 1 {
		u.Proportion = true
		return u
	}
	u.Value = u.Numerator + " per " + Thousands(per, 0) + " " + u.Denominator
	if u.Numerator == "patients" {
		u.Value = "per " + Thousands(per, 0) + " " + u.Denominator
	}
	return u
}

// FormatFigure formats a measure's value with its unit: "76.4%", "41
// patients", "12,400 mg OME per 1,000 adults"; "suppressed" when
// disclosure control withheld it and "—" when there is none.
func FormatFigure(v *float64, suppressed bool, u Unit) string {
	switch {
	case suppressed:
		return "suppressed"
	case v == nil:
		return "—"
	}
	return FormatNumber(*v, u) + unitSuffix(u.Value)
}

// FormatNumber formats a value without its unit: a proportion as a
// percentage, whole numbers with separators, others to one decimal.
func FormatNumber(v float64, u Unit) string {
	if u.Proportion {
		return Percent(v)
	}
	if v == math.Trunc(v) {
		return Thousands(v, 0)
	}
	return Thousands(v, 1)
}

// FormatPart formats a ratio's numerator or denominator with its unit.
func FormatPart(v *float64, unit string) string {
	if v == nil {
		return "—"
	}
	return FormatNumber(*v, Unit{}) + unitSuffix(unit)
}

func unitSuffix(unit string) string {
	if unit == "" {
		return ""
	}
	return " " + unit
}
