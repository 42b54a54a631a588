package synth

import (
	"fmt"
	"time"
)

// day is a civil date as a count of days since 1970-01-01. The generator
// works in days throughout: it is cheap to add to, compare and format.
type day int32

// noDay marks an absent date.
const noDay day = -1 << 30

// mkDay returns the day of y-m-d (proleptic Gregorian).
func mkDay(y, m, d int) day {
	// Days-from-civil (Hinnant).
	if m <= 2 {
		y--
	}
	era := y / 400
	if y < 0 && y%400 != 0 {
		era = (y - 399) / 400
	}
	yoe := y - era*400
	mp := (m + 9) % 12
	doy := (153*mp+2)/5 + d - 1
	doe := yoe*365 + yoe/4 - yoe/100 + doy
	return day(era*146097 + doe - 719468)
}

// civil returns the year, month and day of d.
func (d day) civil() (y, m, dd int) {
	z := int(d) + 719468
	era := z / 146097
	if z < 0 && z%146097 != 0 {
		era = (z - 146096) / 146097
	}
	doe := z - era*146097
	yoe := (doe - doe/1460 + doe/36524 - doe/146096) / 365
	y = yoe + era*400
	doy := doe - (365*yoe + yoe/4 - yoe/100)
	mp := (5*doy + 2) / 153
	dd = doy - (153*mp+2)/5 + 1
	m = mp + 3
	if m > 12 {
		m -= 12
	}
	if m <= 2 {
		y++
	}
	return y, m, dd
}

func dayOf(t time.Time) day {
	return mkDay(t.Year(), int(t.Month()), t.Day())
}

func (d day) time() time.Time {
	y, m, dd := d.civil()
	return time.Date(y, time.Month(m), dd, 0, 0, 0, 0, time.UTC)
}

// String formats d as YYYY-MM-DD.
func (d day) String() string {
	var b [10]byte
	return string(d.appendISO(b[:0]))
}

func (d day) appendISO(b []byte) []byte {
	y, m, dd := d.civil()
	if y < 0 || y > 9999 {
		return fmt.Appendf(b, "%04d-%02d-%02d", y, m, dd)
	}
	b = append(b, byte('0'+y/1000), byte('0'+y/100%10), byte('0'+y/10%10), byte('0'+y%10), '-',
		byte('0'+m/10), byte('0'+m%10), '-', byte('0'+dd/10), byte('0'+dd%10))
	return b
}

// monthIndex counts calendar months (year*12 + month-1).
func (d day) monthIndex() int {
	y, m, _ := d.civil()
	return y*12 + m - 1
}

// addYears returns the same calendar day n years later (29 Feb -> 28 Feb).
func (d day) addYears(n int) day {
	y, m, dd := d.civil()
	if m == 2 && dd == 29 {
		dd = 28
	}
	return mkDay(y+n, m, dd)
}

// ageOn returns whole years completed on on by someone born on d.
func (d day) ageOn(on day) int {
	by, bm, bd := d.civil()
	y, m, dd := on.civil()
	a := y - by
	if m < bm || (m == bm && dd < bd) {
		a--
	}
	return a
}

// monthStart returns the first day of month index mi.
func monthStart(mi int) day { return mkDay(mi/12, mi%12+1, 1) }

// monthEnd returns the last day of month index mi.
func monthEnd(mi int) day { return monthStart(mi+1) - 1 }
