package reference

import (
	"errors"
	"fmt"
	"math/big"
	"regexp"
	"strings"
)

// ErrUnderivable marks a product whose OME cannot be derived from its name
// and the factor set. Such a product gets no value, never a guessed one.
var ErrUnderivable = errors.New("OME not derivable")

func underivable(format string, a ...any) error {
	return fmt.Errorf("%w: %s", ErrUnderivable, fmt.Sprintf(format, a...))
}

// Derivation is the OME of one product worked out from the strength in its
// dm+d name and a factor set.
type Derivation struct {
	Ingredient   string // the opioid, lower case without salt: "codeine"
	Route        string
	Unit         string // tablet, capsule, sachet, ml or patch
	MgOMEPerUnit float64
	// Basis says how the value was reached, for people checking it.
	Basis string
}

// compoundNames are the BNF approved names of compound analgesics whose dm+d
// names carry the strengths without the ingredient names
// ("Co-codamol 30mg/500mg tablets"). The first strength is the opioid's
// (ome_factors_by_source.csv: co-codamol and co-codaprin are counted via their
// codeine content, co-dydramol via dihydrocodeine; co-proxamol is
// dextropropoxyphene 32.5mg with paracetamol 325mg).
var compoundNames = map[string]string{
	"co-codamol":  "codeine",
	"co-codaprin": "codeine",
	"co-dydramol": "dihydrocodeine",
	"co-proxamol": "dextropropoxyphene",
}

// saltWords are dropped from an ingredient to find its factor: dm+d names say
// "Morphine sulfate 10mg/5ml" or "Morphine 10mg"; both are morphine sulfate
// strengths and the factor tables give one factor per base opioid and route.
var saltWords = []string{"sulfate", "hydrochloride", "phosphate", "tartrate"}

const num = `(\d+(?:\.\d+)?)`

var (
	// A compound name: "Co-codamol 30mg/500mg/5ml oral solution".
	compoundRE = regexp.MustCompile(`^(Co-[a-z]+) ` + num + `(mg|g|micrograms?)/` + num + `(?:mg|g|micrograms?)(/` + num + `?ml)? (.+)$`)
	// One component: "Morphine sulfate 10mg/5ml oral solution",
	// "Tramadol 37.5mg", "Fentanyl 12micrograms/hour transdermal patches".
	componentRE = regexp.MustCompile(`^([A-Za-z][A-Za-z-]*(?: [a-z][a-z-]*)?) ` + num + `(mg|g|micrograms?)(?:/` + num + `?(ml|hour))?(?: (.+))?$`)
)

// strength is one parsed ingredient strength.
type strength struct {
	ingredient string
	amount     *big.Rat // in the name's unit
	unit       string   // mg, g, microgram(s)
	per        *big.Rat // denominator quantity (5 in "10mg/5ml"); nil when none
	perUnit    string   // "ml", "hour" or ""
	text       string
}

// Derive works out mg OME per unit of quantity for a product from its dm+d
// name, its route (oral or transdermal) and a factor set. Oral products are
// strength in mg per unit (per ml for liquids) x factor; patches are
// micrograms/hour x factor (mg OME per day per microgram/hour) x wear hours /
// 24, which is how OpenPrescribing's ome_vmp.csv computes its weighting.
func Derive(name, route string, factors *FactorSet) (Derivation, error) {
	s, form, err := parseName(name, factors)
	if err != nil {
		return Derivation{}, err
	}
	d := Derivation{Ingredient: s.ingredient, Route: route}
	switch route {
	case RouteTransdermal:
		if s.perUnit != "hour" || s.per != nil || !strings.Contains(form, "patch") {
			return d, underivable("transdermal product %q is not a micrograms/hour patch", name)
		}
		ugh := new(big.Rat).Mul(s.amount, unitScale(s.unit, true))
		f, ok := factors.lookup(s.ingredient, route, ugh)
		if !ok {
			return d, underivable("factor set %s has no %s transdermal factor for %s micrograms/hour", factors.Version(), s.ingredient, ratString(ugh))
		}
		v := new(big.Rat).Mul(ugh, f.factor)
		v.Mul(v, f.wear)
		v.Quo(v, big.NewRat(24, 1))
		d.Unit = "patch"
		d.MgOMEPerUnit, _ = v.Float64()
		d.Basis = fmt.Sprintf("%s %s micrograms/hour x %s mg OME/day per microgram/hour x %s h wear / 24 h", s.ingredient, ratString(ugh), f.Factor, f.WearHours)
		return d, nil
	case RouteOral:
		mg := new(big.Rat).Mul(s.amount, unitScale(s.unit, false))
		switch s.perUnit {
		case "ml":
			per := s.per
			if per == nil {
				per = big.NewRat(1, 1)
			}
			mg.Quo(mg, per)
			d.Unit = "ml"
		case "":
			d.Unit = solidUnit(form)
			if d.Unit == "" {
				return d, underivable("cannot tell the unit of quantity of %q (form %q)", name, form)
			}
		default:
			return d, underivable("oral product %q has a strength per %s", name, s.perUnit)
		}
		f, ok := factors.lookup(s.ingredient, route, nil)
		if !ok {
			return d, underivable("factor set %s has no %s oral factor", factors.Version(), s.ingredient)
		}
		v := new(big.Rat).Mul(mg, f.factor)
		d.MgOMEPerUnit, _ = v.Float64()
		d.Basis = fmt.Sprintf("%s %s = %s mg per %s x %s", s.ingredient, s.text, ratString(mg), d.Unit, f.Factor)
		return d, nil
	}
	return d, underivable("route %q is not oral or transdermal", route)
}

// parseName finds the single opioid strength in a dm+d name and the form
// words after the strengths.
func parseName(name string, factors *FactorSet) (strength, string, error) {
	if m := compoundRE.FindStringSubmatch(name); m != nil {
		ing, ok := compoundNames[strings.ToLower(m[1])]
		if !ok {
			return strength{}, "", underivable("unknown compound name %q", m[1])
		}
		s := strength{ingredient: ing, amount: rat(m[2]), unit: m[3], text: m[2] + m[3]}
		if m[5] != "" {
			s.perUnit = "ml"
			s.text += m[5]
			if m[6] != "" {
				s.per = rat(m[6])
			}
		}
		return s, m[7], nil
	}
	parts := strings.Split(name, " / ")
	var found []strength
	var names []string
	form := ""
	for i, p := range parts {
		m := componentRE.FindStringSubmatch(p)
		if m == nil {
			return strength{}, "", underivable("no strength in %q", name)
		}
		if m[6] != "" && i != len(parts)-1 {
			return strength{}, "", underivable("cannot read the components of %q", name)
		}
		form = m[6]
		s := strength{ingredient: baseIngredient(m[1]), amount: rat(m[2]), unit: m[3], perUnit: m[5]}
		s.text = m[2] + m[3]
		if m[5] != "" {
			s.text += "/" + m[4] + m[5]
		}
		if m[4] != "" {
			s.per = rat(m[4])
		}
		names = append(names, s.ingredient)
		if factors.has(s.ingredient) {
			found = append(found, s)
		}
	}
	switch len(found) {
	case 0:
		return strength{}, "", underivable("factor set %s has no factor for %s", factors.Version(), strings.Join(names, ", "))
	case 1:
		return found[0], form, nil
	}
	return strength{}, "", underivable("more than one opioid in %q", name)
}

// baseIngredient lower-cases an ingredient and drops its salt.
func baseIngredient(s string) string {
	s = strings.ToLower(s)
	for _, w := range saltWords {
		s = strings.TrimSuffix(s, " "+w)
	}
	return s
}

// solidUnit names the unit of quantity of a solid oral form.
func solidUnit(form string) string {
	switch {
	case strings.Contains(form, "sachet"):
		return "sachet"
	case strings.Contains(form, "capsule"):
		return "capsule"
	case strings.Contains(form, "tablet"), strings.Contains(form, "caplet"):
		return "tablet"
	}
	return ""
}

// unitScale converts a strength unit to mg (or, for patches, micrograms).
func unitScale(unit string, micrograms bool) *big.Rat {
	var mg *big.Rat
	switch unit {
	case "g":
		mg = big.NewRat(1000, 1)
	case "microgram", "micrograms":
		mg = big.NewRat(1, 1000)
	default:
		mg = big.NewRat(1, 1)
	}
	if micrograms {
		return mg.Mul(mg, big.NewRat(1000, 1))
	}
	return mg
}

func rat(s string) *big.Rat {
	r, ok := new(big.Rat).SetString(s)
	if !ok {
		panic("reference: bad number " + s) // the regexps only match decimals
	}
	return r
}

func ratString(r *big.Rat) string {
	f, _ := r.Float64()
	return formatFloat(f)
}
