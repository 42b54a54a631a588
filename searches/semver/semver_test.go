package semver

import (
	"slices"
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	for _, good := range []string{"0.0.0", "2026.1.0", "2026.4.0-rc1", "2026.4.0-rc.1", "1.0.0-0.3.7", "1.0.0-x-y.7a", "999999999.0.1"} {
		v, err := Parse(good)
		if err != nil {
			t.Errorf("Parse(%q) = %v", good, err)
			continue
		}
		if got := v.String(); got != good {
			t.Errorf("Parse(%q).String() = %q", good, got)
		}
	}
	for bad, why := range map[string]string{
		"":                                 "is empty",
		"2026.4":                           "has 2 dot-separated numbers, not 3",
		"2026.1.0.1":                       "has 4 dot-separated numbers, not 3",
		"v1.0.0":                           `has "v1" where a number`,
		"1.02.0":                           `has "02" where a number`,
		"1..0":                             `has "" where a number`,
		"1.0.0-":                           "empty pre-release label",
		"1.0.0-rc..1":                      "empty part",
		"1.0.0-rc_1":                       `has '_' in its pre-release label`,
		"1.0.0-01":                         `has "01" in its pre-release label`,
		"1.0.0+build.5":                    "build metadata",
		"1.0.0-rc1+b":                      "build metadata",
		"1234567890.0.0":                   `where a number`,
		"../1.0.0":                         "has 5 dot-separated numbers",
		"1.0.0-" + strings.Repeat("a", 64): "longer than 64",
	} {
		_, err := Parse(bad)
		if err == nil || !strings.Contains(err.Error(), why) || !strings.Contains(err.Error(), Rule) {
			t.Errorf("Parse(%q) = %v, want an error saying %q and the rule", bad, err, why)
		}
	}
}

func TestPrecedence(t *testing.T) {
	// semver.org 2.0.0, section 11's example, with our three-number cores.
	want := []string{"1.0.0-alpha", "1.0.0-alpha.1", "1.0.0-alpha.beta", "1.0.0-beta", "1.0.0-beta.2", "1.0.0-beta.11", "1.0.0-rc.1", "1.0.0", "1.0.1", "1.10.0", "2026.1.0", "2026.4.0-rc1", "2026.4.0"}
	got := slices.Clone(want)
	slices.Reverse(got)
	slices.SortFunc(got, func(a, b string) int { c, _ := Compare(a, b); return c })
	if !slices.Equal(got, want) {
		t.Fatalf("sorted = %v\nwant     %v", got, want)
	}
	if c, err := Compare("2026.1.0", "2026.1.0"); c != 0 || err != nil {
		t.Fatalf("Compare equal = %d, %v", c, err)
	}
	if _, err := Compare("2026.1", "2026.1.0"); err == nil {
		t.Fatal("Compare accepted a two-number version")
	}
	if got := Max("2026.4.0-rc1", "2026.3.9"); got != "2026.4.0-rc1" {
		t.Fatalf("Max = %s", got)
	}
	if got := Max("", "1.0.0"); got != "1.0.0" {
		t.Fatalf("Max with empty = %s", got)
	}
}

func TestRange(t *testing.T) {
	r, err := ParseRange(">=2026.1.0 <2027.0.0")
	if err != nil {
		t.Fatal(err)
	}
	for v, want := range map[string]bool{
		"2026.1.0": true, "2026.9.3": true, "2027.0.0": false, "2025.12.0": false,
		"2026.4.0-rc1": false, // a pre-release is not named by the range
		"2027.0.0-rc1": false, "nonsense": false,
	} {
		if got := r.ContainsString(v); got != want {
			t.Errorf("%q contains %s = %v, want %v", ">=2026.1.0 <2027.0.0", v, got, want)
		}
	}
	r, err = ParseRange(">=2026.4.0-rc.1 <2027.0.0")
	if err != nil {
		t.Fatal(err)
	}
	for v, want := range map[string]bool{"2026.4.0-rc.1": true, "2026.4.0-rc.2": true, "2026.4.0-alpha": false, "2026.5.0-rc.1": false, "2026.4.0": true} {
		if got := r.ContainsString(v); got != want {
			t.Errorf("pre-release range contains %s = %v, want %v", v, got, want)
		}
	}
	for _, bad := range []string{"", "2026.1.0", ">=2026.1", "~1.0.0"} {
		if _, err := ParseRange(bad); err == nil {
			t.Errorf("ParseRange(%q) succeeded", bad)
		}
	}
}
