package model

import "strconv"

// Stratum labels. Every engine labels strata with these functions, so the
// results document is the same whichever engine produced it.

// AgeBand returns the label of age in bands (ascending lower bounds): for
// [18, 40, 65, 80], 18-39, 40-64, 65-79 and 80+; below the first bound,
// "under_18".
func AgeBand(age int, bands []int) string {
	if len(bands) == 0 {
		return "all"
	}
	if age < bands[0] {
		return "under_" + strconv.Itoa(bands[0])
	}
	for i := len(bands) - 1; i >= 0; i-- {
		if age >= bands[i] {
			if i == len(bands)-1 {
				return strconv.Itoa(bands[i]) + "+"
			}
			return strconv.Itoa(bands[i]) + "-" + strconv.Itoa(bands[i+1]-1)
		}
	}
	return "unknown"
}

// AgeBandLabels lists every label AgeBand can return for bands, in order
// (the under-first-band label first).
func AgeBandLabels(bands []int) []string {
	if len(bands) == 0 {
		return []string{"all"}
	}
	out := []string{"under_" + strconv.Itoa(bands[0])}
	for i := range bands {
		out = append(out, AgeBand(bands[i], bands))
	}
	return out
}

// IMDQuintile returns the IMD quintile of a decile (1-2 is quintile 1, most
// deprived; 9-10 is 5), or "unknown" for a missing or out-of-range decile.
func IMDQuintile(decile int, ok bool) string {
	if !ok || decile < 1 || decile > 10 {
		return "unknown"
	}
	return strconv.Itoa((decile + 1) / 2)
}

// IMDQuintileLabels lists the quintile labels in order.
var IMDQuintileLabels = []string{"1", "2", "3", "4", "5", "unknown"}

// Sex returns the stratum of a canonical sex code: "F", "M", or "U" for
// anything else.
func Sex(s string) string {
	if s == "F" || s == "M" {
		return s
	}
	return "U"
}

// SexLabels lists the sex strata in order.
var SexLabels = []string{"F", "M", "U"}

// Labels returns the strata of a dimension in document order.
func Labels(d Dimension, bands []int) []string {
	switch d {
	case DimSex:
		return SexLabels
	case DimAgeBand:
		return AgeBandLabels(bands)
	case DimIMDQuintile:
		return IMDQuintileLabels
	}
	return nil
}

// AgeOn returns the whole years completed on date by someone born on dob
// (born 2007-03-31 is 18 on 2025-03-31; born 29 February turns a year older
// on 1 March in a non-leap year).
func AgeOn(dobY, dobM, dobD, y, m, d int) int {
	age := y - dobY
	if m < dobM || (m == dobM && d < dobD) {
		age--
	}
	return age
}
