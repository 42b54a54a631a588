// Package semver is the one rule for pack versions, used by every part of
// Steward that reads one: the search loader (pack.yaml), bundles, the
// collector's TUF repository, the agent's updater and the incentive
// schemes' version ranges.
//
// A pack version is a semantic version (semver.org, 2.0.0) without build
// metadata: MAJOR.MINOR.PATCH, three numbers without leading zeros, with an
// optional pre-release label after a hyphen, such as 2026.4.0 or
// 2026.4.0-rc.1. Versions are ordered by semantic-version precedence: the
// numbers compare numerically, and a pre-release comes before the release
// of the same numbers (2026.4.0-rc.1 < 2026.4.0 < 2026.4.1). Build metadata
// ("+build.5") is refused, because two versions differing only there would
// have the same precedence but different bundles.
package semver

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Rule says the rule in words, for error messages.
const Rule = "three numbers without leading zeros and an optional pre-release label, e.g. 2026.1.0 or 2026.4.0-rc.1"

// MaxLen bounds a version's length: versions name files and folders.
const MaxLen = 64

// ErrInvalid is matched (errors.Is) by every error Parse returns.
var ErrInvalid = errors.New("not a pack version")

// Error says why a text is not a pack version.
type Error struct {
	Input string
	Why   string // e.g. "has 2 dot-separated numbers, not 3"
}

func (e *Error) Error() string {
	return fmt.Sprintf("%v: %q %s (write %s)", ErrInvalid, e.Input, e.Why, Rule)
}

// Is makes errors.Is(err, ErrInvalid) hold.
func (e *Error) Is(target error) bool { return target == ErrInvalid }

// Version is a parsed pack version.
type Version struct {
	Major, Minor, Patch int
	// Pre are the dot-separated identifiers of the pre-release label,
	// nil for a release.
	Pre []string
}

// Parse parses a pack version.
func Parse(s string) (Version, error) {
	bad := func(why string) (Version, error) {
		return Version{}, &Error{Input: s, Why: why}
	}
	if s == "" {
		return bad("is empty")
	}
	if len(s) > MaxLen {
		return bad(fmt.Sprintf("is longer than %d characters", MaxLen))
	}
	if strings.Contains(s, "+") {
		return bad("has build metadata (+...), which is not allowed")
	}
	core, pre, hasPre := strings.Cut(s, "-")
	parts := strings.Split(core, ".")
	if len(parts) != 3 {
		return bad(fmt.Sprintf("has %d dot-separated numbers, not 3", len(parts)))
	}
	var v Version
	nums := []*int{&v.Major, &v.Minor, &v.Patch}
	for i, p := range parts {
		n, ok := number(p)
		if !ok {
			return bad(fmt.Sprintf("has %q where a number without leading zeros belongs", p))
		}
		*nums[i] = n
	}
	if hasPre {
		if pre == "" {
			return bad("has an empty pre-release label after the hyphen")
		}
		for _, id := range strings.Split(pre, ".") {
			if id == "" {
				return bad("has an empty part in its pre-release label")
			}
			for _, r := range id {
				if !(r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r == '-') {
					return bad(fmt.Sprintf("has %q in its pre-release label (letters, digits and - only)", r))
				}
			}
			if allDigits(id) && len(id) > 1 && id[0] == '0' {
				return bad(fmt.Sprintf("has %q in its pre-release label: a number part must not start with 0", id))
			}
			v.Pre = append(v.Pre, id)
		}
	}
	return v, nil
}

// Valid reports whether s is a pack version.
func Valid(s string) bool {
	_, err := Parse(s)
	return err == nil
}

// number parses a version number: 0, or up to 9 digits not starting with 0.
func number(p string) (int, bool) {
	if p == "" || len(p) > 9 || !allDigits(p) || (len(p) > 1 && p[0] == '0') {
		return 0, false
	}
	n, err := strconv.Atoi(p)
	return n, err == nil
}

func allDigits(s string) bool {
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return s != ""
}

// String formats the version.
func (v Version) String() string {
	s := fmt.Sprintf("%d.%d.%d", v.Major, v.Minor, v.Patch)
	if len(v.Pre) > 0 {
		s += "-" + strings.Join(v.Pre, ".")
	}
	return s
}

// IsPrerelease reports whether the version has a pre-release label.
func (v Version) IsPrerelease() bool { return len(v.Pre) > 0 }

// SameCore reports whether v and w have the same three numbers.
func (v Version) SameCore(w Version) bool {
	return v.Major == w.Major && v.Minor == w.Minor && v.Patch == w.Patch
}

// Cmp compares v and w by precedence: -1, 0 or 1.
func (v Version) Cmp(w Version) int {
	for _, d := range [][2]int{{v.Major, w.Major}, {v.Minor, w.Minor}, {v.Patch, w.Patch}} {
		if c := cmpInt(d[0], d[1]); c != 0 {
			return c
		}
	}
	switch {
	case len(v.Pre) == 0 && len(w.Pre) == 0:
		return 0
	case len(v.Pre) == 0:
		return 1 // a release comes after its pre-releases
	case len(w.Pre) == 0:
		return -1
	}
	for i := 0; i < min(len(v.Pre), len(w.Pre)); i++ {
		a, b := v.Pre[i], w.Pre[i]
		an, bn := allDigits(a), allDigits(b)
		var c int
		switch {
		case an && bn:
			x, _ := strconv.Atoi(a)
			y, _ := strconv.Atoi(b)
			c = cmpInt(x, y)
		case an:
			c = -1 // numeric identifiers come before alphanumeric ones
		case bn:
			c = 1
		default:
			c = strings.Compare(a, b)
		}
		if c != 0 {
			return c
		}
	}
	return cmpInt(len(v.Pre), len(w.Pre))
}

func cmpInt(a, b int) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// Compare parses a and b and compares them by precedence: -1, 0 or 1.
func Compare(a, b string) (int, error) {
	x, err := Parse(a)
	if err != nil {
		return 0, err
	}
	y, err := Parse(b)
	if err != nil {
		return 0, err
	}
	return x.Cmp(y), nil
}

// Less reports whether a comes before b; a version that does not parse
// comes before every one that does (for sorting lists read from outside).
func Less(a, b string) bool {
	x, errA := Parse(a)
	y, errB := Parse(b)
	switch {
	case errA != nil && errB != nil:
		return a < b
	case errA != nil:
		return true
	case errB != nil:
		return false
	}
	return x.Cmp(y) < 0
}

// Max returns the later of a and b by precedence; "" counts as earliest.
func Max(a, b string) string {
	if a == "" {
		return b
	}
	if b == "" {
		return a
	}
	if Less(a, b) {
		return b
	}
	return a
}

// Range is a set of comparisons a version must all satisfy, as incentive
// schemes name the pack versions they pay on: ">=2026.1.0 <2027.0.0".
type Range struct {
	cons []constraint
}

type constraint struct {
	op string // >=, >, <=, <, =
	v  Version
}

// ParseRange parses comparisons separated by spaces, each an operator (>=,
// >, <=, < or =) followed by a version.
func ParseRange(s string) (Range, error) {
	fields := strings.Fields(s)
	if len(fields) == 0 {
		return Range{}, errors.New("empty version range")
	}
	var r Range
	for _, f := range fields {
		var op string
		for _, o := range []string{">=", "<=", ">", "<", "="} {
			if strings.HasPrefix(f, o) {
				op = o
				break
			}
		}
		if op == "" {
			return Range{}, fmt.Errorf("%q has no comparison (>=, >, <=, < or =)", f)
		}
		v, err := Parse(f[len(op):])
		if err != nil {
			return Range{}, err
		}
		r.cons = append(r.cons, constraint{op: op, v: v})
	}
	return r, nil
}

// Contains reports whether v satisfies every comparison. A pre-release
// satisfies a range only when one of the range's comparisons names a
// pre-release of the same three numbers (">=2026.4.0-rc.1 <2027.0.0"
// admits 2026.4.0-rc.2, but ">=2026.1.0 <2027.0.0" admits no pre-release
// at all): a pilot release never counts for payment by accident.
func (r Range) Contains(v Version) bool {
	if v.IsPrerelease() {
		named := false
		for _, c := range r.cons {
			if c.v.IsPrerelease() && c.v.SameCore(v) {
				named = true
			}
		}
		if !named {
			return false
		}
	}
	for _, c := range r.cons {
		d := v.Cmp(c.v)
		var ok bool
		switch c.op {
		case ">=":
			ok = d >= 0
		case ">":
			ok = d > 0
		case "<=":
			ok = d <= 0
		case "<":
			ok = d < 0
		case "=":
			ok = d == 0
		}
		if !ok {
			return false
		}
	}
	return true
}

// ContainsString is Contains for a version given as text; a version that
// does not parse is in no range.
func (r Range) ContainsString(s string) bool {
	v, err := Parse(s)
	return err == nil && r.Contains(v)
}
