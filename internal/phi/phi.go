// Package phi recognises patient identifiers in text that should hold none:
// NHS numbers (ten digits whose last is the modulus 11 check digit of the
// other nine, NHS Data Dictionary "NHS Number") and full calendar dates,
// which in a title or a label look like a date of birth. The collector uses
// it to screen the free text of what agents send; typed date fields (a
// results document's as_of, say) are not free text and are not screened.
package phi

import (
	"regexp"
	"strconv"
	"strings"
	"time"
)

// NHSCheckDigit returns the modulus 11 check digit of the nine digits
// nine: weights 10 down to 2, 11 minus the remainder of the sum by 11, and
// 11 read as 0. ok is false when the result is 10, which no NHS number
// has, or when nine is not nine ASCII digits.
func NHSCheckDigit(nine string) (digit int, ok bool) {
	if len(nine) != 9 {
		return 0, false
	}
	sum := 0
	for i := range 9 {
		c := nine[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		sum += int(c-'0') * (10 - i)
	}
	d := 11 - sum%11
	switch d {
	case 11:
		return 0, true
	case 10:
		return 0, false
	}
	return d, true
}

// IsNHSNumber reports whether s is an NHS number: ten digits, written
// together or grouped 3-3-4 with spaces or dashes, whose last digit is the
// check digit of the first nine.
func IsNHSNumber(s string) bool {
	s = normaliseDigits(s)
	d, n, ok := nhsAt(s, 0)
	return ok && n == len(s) && validDigits(d)
}

func validDigits(ten string) bool {
	want, ok := NHSCheckDigit(ten[:9])
	return ok && int(ten[9]-'0') == want
}

// nhsAt reads ten digits at s[i:], with an optional space or dash after
// the third and the sixth. It returns the digits and how many bytes they
// took; ok is false if s[i:] does not start that way or the digits go on.
func nhsAt(s string, i int) (digits string, n int, ok bool) {
	var b [10]byte
	j, k := i, 0
	for _, group := range []int{3, 3, 4} {
		if k > 0 && j < len(s) && (s[j] == ' ' || s[j] == '-') && j+1 < len(s) && isDigit(s[j+1]) {
			j++
		}
		for range group {
			if j >= len(s) || !isDigit(s[j]) {
				return "", 0, false
			}
			b[k] = s[j]
			j++
			k++
		}
	}
	if j < len(s) && isDigit(s[j]) {
		return "", 0, false
	}
	return string(b[:]), j - i, true
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// digits counts the ASCII digits of s.
func digits(s string) int {
	n := 0
	for i := 0; i < len(s); i++ {
		if isDigit(s[i]) {
			n++
		}
	}
	return n
}

// ContainsNHSNumber reports whether text holds an NHS number (IsNHSNumber)
// that is not part of a longer run of digits.
func ContainsNHSNumber(text string) bool {
	s := normaliseDigits(text)
	if digits(s) < 10 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !isDigit(s[i]) || (i > 0 && isDigit(s[i-1])) {
			continue
		}
		if d, _, ok := nhsAt(s, i); ok && validDigits(d) {
			return true
		}
	}
	return false
}

// normaliseDigits writes fullwidth digits (U+FF10 to U+FF19) as ASCII, so
// that they cannot hide a number.
func normaliseDigits(s string) string {
	if strings.IndexFunc(s, isFullwidthDigit) < 0 {
		return s
	}
	return strings.Map(func(r rune) rune {
		if isFullwidthDigit(r) {
			return '0' + (r - 0xFF10)
		}
		return r
	}, s)
}

func isFullwidthDigit(r rune) bool { return r >= 0xFF10 && r <= 0xFF19 }

const months = `jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?`

// Full dates, each between non-digits: 1950-03-12 (or 1950/03/12; not with
// dots, which is how versions are written), 12/03/1950 (or with dashes or
// dots, day-month or month-day order), 12/03/50, and 12 March 1950 or
// March 12, 1950 (names or three-letter abbreviations).
var (
	isoDate     = regexp.MustCompile(`(?:^|[^0-9])([0-9]{4})[-/]([0-9]{1,2})[-/]([0-9]{1,2})(?:[^0-9]|$)`)
	numericDate = regexp.MustCompile(`(?:^|[^0-9])([0-9]{1,2})([-/.])([0-9]{1,2})[-/.]([0-9]{4}|[0-9]{2})(?:[^0-9]|$)`)
	dayMonth    = regexp.MustCompile(`(?i)(?:^|[^0-9a-z])([0-9]{1,2})(?:st|nd|rd|th)?[ -]+(` + months + `)\.?,?[ -]+([0-9]{4}|'?[0-9]{2})(?:[^0-9]|$)`)
	monthDay    = regexp.MustCompile(`(?i)(?:^|[^a-z])(` + months + `)\.?[ -]+([0-9]{1,2})(?:st|nd|rd|th)?,?[ -]+([0-9]{4})(?:[^0-9]|$)`)
)

// ContainsDate reports whether text holds a full calendar date (day, month
// and year) in a common written form.
func ContainsDate(text string) bool {
	s := normaliseDigits(text)
	if digits(s) < 3 { // the shortest date, 1 Mar 50, has three
		return false
	}
	// Cheap tests first: a numeric date has two separators and four
	// digits, a written one a month's name.
	if digits(s) >= 4 && strings.Count(s, "-")+strings.Count(s, "/")+strings.Count(s, ".") >= 2 {
		for _, m := range isoDate.FindAllStringSubmatch(s, -1) {
			if validDate(m[1], m[2], m[3]) {
				return true
			}
		}
		for _, m := range numericDate.FindAllStringSubmatch(s, -1) {
			year := m[4]
			if len(year) == 2 && m[2] != "/" {
				continue // 12-03-50 is too often a range; 12/03/50 is a date
			}
			if validDate(year, m[3], m[1]) || validDate(year, m[1], m[3]) {
				return true
			}
		}
	}
	if !hasMonthName(s) {
		return false
	}
	for _, m := range dayMonth.FindAllStringSubmatch(s, -1) {
		if validDate(m[3], monthNumber(m[2]), m[1]) {
			return true
		}
	}
	for _, m := range monthDay.FindAllStringSubmatch(s, -1) {
		if validDate(m[3], monthNumber(m[1]), m[2]) {
			return true
		}
	}
	return false
}

var monthPrefixes = []string{"jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"}

func hasMonthName(s string) bool {
	l := strings.ToLower(s)
	for _, p := range monthPrefixes {
		if strings.Contains(l, p) {
			return true
		}
	}
	return false
}

func monthNumber(name string) string {
	name = strings.ToLower(name)
	for i, p := range monthPrefixes {
		if strings.HasPrefix(name, p) {
			return strconv.Itoa(i + 1)
		}
	}
	return ""
}

// validDate reports whether year (four digits, or two with an optional
// apostrophe), month and day name a real day; a four-digit year must be
// 1880 to 2099.
func validDate(year, month, day string) bool {
	y, err1 := strconv.Atoi(strings.TrimPrefix(year, "'"))
	m, err2 := strconv.Atoi(month)
	d, err3 := strconv.Atoi(day)
	if err1 != nil || err2 != nil || err3 != nil || m < 1 || m > 12 || d < 1 {
		return false
	}
	if len(strings.TrimPrefix(year, "'")) == 2 {
		y += 2000 // any century has the same month lengths but February's
	} else if y < 1880 || y > 2099 {
		return false
	}
	return d <= time.Date(y, time.Month(m)+1, 0, 0, 0, 0, 0, time.UTC).Day()
}

// What names what Screen found.
type What string

// What Screen finds.
const (
	Nothing   What = ""
	NHSNumber What = "an NHS number"
	Date      What = "a date of birth or other full date"
)

// Screen returns what text holds that free text must not: an NHS number,
// a full date, or Nothing.
func Screen(text string) What {
	switch {
	case ContainsNHSNumber(text):
		return NHSNumber
	case ContainsDate(text):
		return Date
	}
	return Nothing
}
