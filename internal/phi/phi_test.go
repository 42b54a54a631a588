package phi

import "testing"

// Check digits worked by hand: 943 476 591 weighs 9x10 + 4x9 + 3x8 + 4x7 +
// 7x6 + 6x5 + 5x4 + 9x3 + 1x2 = 299; 299 mod 11 = 2; 11 - 2 = 9, so
// 943 476 5919 (the NHS Data Dictionary's example) is valid. 401 023 213
// weighs 4x10 + 0 + 1x8 + 0 + 2x6 + 3x5 + 2x4 + 1x3 + 3x2 = 92; 92 mod 11 =
// 4; 11 - 4 = 7: 401 023 2137. 123 456 789 weighs 10+18+24+28+30+30+28+24+18
// = 210 = 11x19 + 1: 11 - 1 = 10, so no number starting 123456789 is valid.
// 000 000 000 sums to 0: 11 - 0 = 11, read as 0: 000 000 0000.
func TestNHSCheckDigit(t *testing.T) {
	for _, c := range []struct {
		nine  string
		digit int
		ok    bool
	}{
		{"943476591", 9, true},
		{"401023213", 7, true},
		{"000000000", 0, true},
		{"123456789", 0, false},
		{"94347659", 0, false},
		{"94347659x", 0, false},
	} {
		if d, ok := NHSCheckDigit(c.nine); d != c.digit || ok != c.ok {
			t.Errorf("NHSCheckDigit(%q) = %d, %v; want %d, %v", c.nine, d, ok, c.digit, c.ok)
		}
	}
}

func TestIsNHSNumber(t *testing.T) {
	for s, want := range map[string]bool{
		"9434765919":    true,
		"943 476 5919":  true,
		"943-476-5919":  true,
		"4010232137":    true,
		"０９４３４７６５９１９":   false, // eleven digits
		"９４３４７６５９１９":    true,  // fullwidth
		"9434765918":    false, // wrong check digit
		"1234567890":    false, // check digit would be 10
		"1234567891":    false,
		"943 4765 919":  false, // not 3-3-4
		"943  476 5919": false,
		"94347659190":   false,
		"943476591":     false,
		"":              false,
	} {
		if got := IsNHSNumber(s); got != want {
			t.Errorf("IsNHSNumber(%q) = %v, want %v", s, got, want)
		}
	}
}

func TestContainsNHSNumber(t *testing.T) {
	for s, want := range map[string]bool{
		"patient 9434765919 reviewed": true,
		"(943 476 5919)":              true,
		"ref:943-476-5919.":           true,
		"a9434765919b":                true,
		"94347659190":                 false, // part of a longer run
		"19434765919":                 false,
		"9434765918":                  false,
		"v0.0.0-20250301123456-abc":   false,
		"Long-term users on 120 mg OME a day or more":             false,
		"Oral morphine equivalent (mg) per 1,000 eligible adults": false,
		"2026.1.0": false,
	} {
		if got := ContainsNHSNumber(s); got != want {
			t.Errorf("ContainsNHSNumber(%q) = %v, want %v", s, got, want)
		}
	}
}

func TestContainsDate(t *testing.T) {
	for s, want := range map[string]bool{
		"born 1950-03-12":   true,
		"1950/3/12":         true,
		"12/03/1950":        true,
		"12-03-1950":        true,
		"12.03.1950":        true,
		"03/31/1950":        true, // month first
		"12/03/50":          true,
		"dob 12 March 1950": true,
		"12th Mar. 1950":    true,
		"12-Mar-1950":       true,
		"March 12, 1950":    true,
		"29/02/2024":        true,
		"29/02/2023":        false, // no such day
		"31/04/1950":        false,
		"1950-13-01":        false,
		"12/03/1750":        false,
		"2026.1.0":          false, // a version
		"2026.1.1":          false,
		"18-39":             false,
		"12-03-50":          false, // could be a range
		"age_band 65-79":    false,
		"Long-term users with a medication review in 12 months": false,
		"Long-term opioid users at baseline":                    false,
		"March 2025":                                            false, // a month, not a day
		"uk-2020.1":                                             false,
	} {
		if got := ContainsDate(s); got != want {
			t.Errorf("ContainsDate(%q) = %v, want %v", s, got, want)
		}
	}
}

func TestScreen(t *testing.T) {
	if got := Screen("9434765919 on 12/03/1950"); got != NHSNumber {
		t.Errorf("Screen = %q, want %q", got, NHSNumber)
	}
	if got := Screen("on 12/03/1950"); got != Date {
		t.Errorf("Screen = %q, want %q", got, Date)
	}
	if got := Screen("High-dose users at baseline"); got != Nothing {
		t.Errorf("Screen = %q, want nothing", got)
	}
}
