package reference

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"math/big"
	"os"
	"slices"
	"strconv"
	"strings"
)

// Routes an in-scope product can have.
const (
	RouteOral        = "oral"
	RouteTransdermal = "transdermal"
)

// Factor is one row of a factor set: the mg oral morphine equivalent of one
// unit of an ingredient by a route. Oral factors are mg OME per mg of the
// ingredient (as the product's strength states it, salt included).
// Transdermal factors are mg OME per day per microgram/hour, applied over the
// patch's wear time.
type Factor struct {
	Ingredient string // lower case, no salt: "morphine", "fentanyl"
	Route      string
	Factor     string // decimal, exactly as in the file
	FactorUnit string
	// WearHours is the patch wear time (transdermal only).
	WearHours string
	// PatchStrengths lists the microgram/hour strengths the row applies to;
	// empty means every strength.
	PatchStrengths []string
	Reference      string

	factor, wear *big.Rat
	strengths    []*big.Rat
}

// FactorSet is a named, versioned set of OME factors (e.g. uk-2020.1).
type FactorSet struct {
	version string
	factors []Factor
}

// Version is the factor set's id, recorded in every reference row.
func (s *FactorSet) Version() string { return s.version }

var factorHeader = []string{"factor_set", "ingredient", "route", "factor", "factor_unit", "wear_hours", "patch_strengths", "reference"}

// LoadFactors reads a factor set file.
func LoadFactors(path string) (*FactorSet, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("open factor set: %w", err)
	}
	defer f.Close()
	s, err := ParseFactors(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return s, nil
}

// ParseFactors reads a factor set from CSV with the columns factor_set,
// ingredient, route, factor, factor_unit, wear_hours, patch_strengths
// (semicolon separated) and reference. Every row must name the same set.
func ParseFactors(r io.Reader) (*FactorSet, error) {
	cr := csv.NewReader(r)
	header, err := cr.Read()
	if err != nil {
		return nil, fmt.Errorf("read factor header: %w", err)
	}
	if !slices.Equal(header, factorHeader) {
		return nil, fmt.Errorf("factor header is %q, want %q", header, factorHeader)
	}
	s := &FactorSet{}
	var errs []error
	for line := 2; ; line++ {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("read factors: %w", err)
		}
		f, err := parseFactor(rec)
		if err != nil {
			errs = append(errs, fmt.Errorf("line %d: %w", line, err))
			continue
		}
		switch {
		case s.version == "":
			s.version = rec[0]
		case rec[0] != s.version:
			errs = append(errs, fmt.Errorf("line %d: factor_set %q differs from %q (one set per file)", line, rec[0], s.version))
			continue
		}
		for _, g := range s.factors {
			if g.Ingredient == f.Ingredient && g.Route == f.Route && overlaps(g.strengths, f.strengths) {
				errs = append(errs, fmt.Errorf("line %d: %s %s is already defined for these strengths", line, f.Ingredient, f.Route))
			}
		}
		s.factors = append(s.factors, f)
	}
	if len(s.factors) == 0 && len(errs) == 0 {
		errs = append(errs, errors.New("factor set has no rows"))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return s, nil
}

func parseFactor(rec []string) (Factor, error) {
	f := Factor{
		Ingredient: rec[1], Route: rec[2], Factor: rec[3], FactorUnit: rec[4],
		WearHours: rec[5], Reference: rec[7],
	}
	if rec[0] == "" {
		return f, errors.New("factor_set is empty")
	}
	if f.Ingredient == "" || f.Ingredient != strings.ToLower(f.Ingredient) {
		return f, fmt.Errorf("ingredient %q must be non-empty lower case", f.Ingredient)
	}
	var ok bool
	if f.factor, ok = positiveRat(f.Factor); !ok {
		return f, fmt.Errorf("factor %q is not a positive decimal", f.Factor)
	}
	if f.Reference == "" {
		return f, errors.New("reference is empty (cite the source of every factor)")
	}
	switch f.Route {
	case RouteOral:
		if f.FactorUnit != "mg OME per mg" || f.WearHours != "" || rec[6] != "" {
			return f, errors.New(`oral factors are "mg OME per mg" with no wear_hours or patch_strengths`)
		}
	case RouteTransdermal:
		if f.FactorUnit != "mg OME per day per microgram/hour" {
			return f, errors.New(`transdermal factors are "mg OME per day per microgram/hour"`)
		}
		if f.wear, ok = positiveRat(f.WearHours); !ok {
			return f, fmt.Errorf("wear_hours %q is not a positive decimal", f.WearHours)
		}
		if rec[6] != "" {
			f.PatchStrengths = strings.Split(rec[6], ";")
			for _, p := range f.PatchStrengths {
				r, ok := positiveRat(p)
				if !ok {
					return f, fmt.Errorf("patch strength %q is not a positive decimal", p)
				}
				f.strengths = append(f.strengths, r)
			}
		}
	default:
		return f, fmt.Errorf("route %q is not oral or transdermal", f.Route)
	}
	return f, nil
}

// overlaps reports whether two strength lists could both match one product;
// an empty list matches every strength.
func overlaps(a, b []*big.Rat) bool {
	if len(a) == 0 || len(b) == 0 {
		return true
	}
	for _, x := range a {
		for _, y := range b {
			if x.Cmp(y) == 0 {
				return true
			}
		}
	}
	return false
}

// lookup finds the factor for an ingredient and route; strength is the
// patch's micrograms/hour (nil for oral products).
func (s *FactorSet) lookup(ingredient, route string, strength *big.Rat) (Factor, bool) {
	for _, f := range s.factors {
		if f.Ingredient != ingredient || f.Route != route {
			continue
		}
		if len(f.strengths) == 0 {
			return f, true
		}
		for _, x := range f.strengths {
			if strength != nil && x.Cmp(strength) == 0 {
				return f, true
			}
		}
	}
	return Factor{}, false
}

// has reports whether the set has any factor for the ingredient.
func (s *FactorSet) has(ingredient string) bool {
	for _, f := range s.factors {
		if f.Ingredient == ingredient {
			return true
		}
	}
	return false
}

func positiveRat(s string) (*big.Rat, bool) {
	if s == "" || strings.ContainsAny(s, "eE/") {
		return nil, false
	}
	if _, err := strconv.ParseFloat(s, 64); err != nil {
		return nil, false
	}
	r, ok := new(big.Rat).SetString(s)
	if !ok || r.Sign() <= 0 {
		return nil, false
	}
	return r, true
}
