package model

import (
	"testing"
	"time"
)

func day(s string) time.Time {
	t, err := time.Parse(time.DateOnly, s)
	if err != nil {
		panic(err)
	}
	return t
}

// TestAddShift pins the month-end rule every engine follows
// (docs/search-language.md, Dates).
func TestAddShift(t *testing.T) {
	for _, c := range []struct {
		from  string
		shift Shift
		want  string
	}{
		{"2025-03-31", Shift{-1, Months}, "2025-02-28"},
		{"2024-03-31", Shift{-1, Months}, "2024-02-29"},
		{"2025-01-31", Shift{1, Months}, "2025-02-28"},
		{"2024-02-29", Shift{1, Years}, "2025-02-28"},
		{"2024-02-29", Shift{4, Years}, "2028-02-29"},
		{"2025-03-31", Shift{-3, Months}, "2024-12-31"},
		{"2025-05-31", Shift{-13, Months}, "2024-04-30"},
		{"2025-01-10", Shift{-10, Days}, "2024-12-31"},
		{"2024-02-28", Shift{1, Days}, "2024-02-29"},
		{"2025-08-31", Shift{1, Months}, "2025-09-30"},
	} {
		if got := AddShift(day(c.from), c.shift).Format(time.DateOnly); got != c.want {
			t.Errorf("%s %v = %s, want %s", c.from, c.shift, got, c.want)
		}
	}
	if got, want := DaysBetween(day("2024-02-29"), day("2025-03-31")), 396; got != want {
		t.Errorf("DaysBetween = %d, want %d", got, want)
	}
	if got, want := DaysBetween(day("2025-03-31"), day("2025-01-31")), -59; got != want {
		t.Errorf("DaysBetween backwards = %d, want %d", got, want)
	}
}

// TestWindowEndingAfterAsOf: a window ending after the as-of date is cut
// there, but per_day keeps the whole window's days.
func TestWindowEndingAfterAsOf(t *testing.T) {
	d := Dates{AsOf: day("2025-03-31")}
	w := Window{Kind: WindowMonths, N: 2, End: AnchorCurrent, EndShifts: []Shift{{1, Months}}}
	from, to, _ := w.Range(d)
	if from != day("2025-03-01") || to != day("2025-03-31") {
		t.Errorf("range %s..%s, want 2025-03-01..2025-03-31", from.Format(time.DateOnly), to.Format(time.DateOnly))
	}
	if got := w.Days(d); got != 61 {
		t.Errorf("days = %d, want 61", got)
	}
	w = Window{Kind: WindowMonths, N: 3, End: AnchorCurrent, EndShifts: []Shift{{-6, Months}}}
	if from, to, _ := w.Range(d); from != day("2024-07-01") || to != day("2024-09-30") {
		t.Errorf("3 months ending 6 months before: %s..%s", from.Format(time.DateOnly), to.Format(time.DateOnly))
	}
}
