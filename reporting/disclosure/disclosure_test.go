package disclosure

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"

	"github.com/nhs-steward/steward/reporting/results"
)

// shownCell is a test's compact spelling of a published cell: a number is a
// shown value, "S" a suppressed cell (which must carry no value and no
// reason).
type shownCell any

func cellsOf(values ...float64) []results.Cell {
	cells := make([]results.Cell, len(values))
	for i, v := range values {
		cells[i] = results.Cell{Stratum: fmt.Sprintf("s%d", i), Value: results.F(v)}
	}
	return cells
}

func compact(cells []results.Cell) []shownCell {
	out := make([]shownCell, len(cells))
	for i, c := range cells {
		switch {
		case c.Suppressed && c.Reason == "" && c.Value == nil:
			out[i] = "S"
		case !c.Suppressed && c.Reason == "" && c.Value != nil:
			out[i] = *c.Value
		default:
			out[i] = fmt.Sprintf("bad %+v", c)
		}
	}
	return out
}

func doc(measures ...results.Measure) *results.Document {
	return &results.Document{
		Schema:   results.Schema,
		Practice: "Y01234",
		Pack:     results.PackRef{ID: "medsip", Version: "2026.1.0"},
		AsOf:     "2025-03-31",
		Baseline: "2024-03-31",
		Measures: measures,
		Producer: results.Producer{Name: "steward", Version: "test"},
	}
}

func stratified(values ...float64) results.Measure {
	total := 0.0
	for _, v := range values {
		total += v
	}
	return results.Measure{
		ID: "long_term", Kind: results.KindCount, Value: results.F(total),
		Strata: []results.Strata{{Dimension: "age_band", Cells: cellsOf(values...)}},
	}
}

func TestStratificationCases(t *testing.T) {
	tests := []struct {
		name          string
		values        []float64
		want          []shownCell
		small, comp   int  // Summary.Small, Summary.Complementary
		unprotectable bool // named in Summary.Unprotectable
	}{
		{"nothing small", []float64{20, 13, 12, 8, 0}, []shownCell{20.0, 15.0, 10.0, 10.0, 0.0}, 0, 0, false},
		{"rounding edges", []float64{8, 12, 13, 17, 18, 22, 23}, []shownCell{10.0, 10.0, 15.0, 15.0, 20.0, 20.0, 25.0}, 0, 0, false},
		{"all zero", []float64{0, 0, 0}, []shownCell{0.0, 0.0, 0.0}, 0, 0, false},
		{"one small, smallest non-zero goes", []float64{3, 20, 10}, []shownCell{"S", 20.0, "S"}, 1, 1, false},
		{"1 and 7 are small, 8 is not", []float64{1, 7, 8, 100}, []shownCell{"S", "S", 10.0, 100.0}, 2, 0, false},
		{"two small need no complement", []float64{3, 4, 50}, []shownCell{"S", "S", 50.0}, 2, 0, false},
		{"non-zero before zero", []float64{3, 0, 15}, []shownCell{"S", 0.0, "S"}, 1, 1, false},
		{"tie: first in order", []float64{3, 9, 9, 40}, []shownCell{"S", "S", 10.0, 40.0}, 1, 1, false},
		{"unknown stratum small", []float64{40, 31, 22, 18, 12, 2}, []shownCell{40.0, 30.0, 20.0, 20.0, "S", "S"}, 1, 1, false},
		{"all small", []float64{2, 3, 1}, []shownCell{"S", "S", "S"}, 3, 0, false},
		{"single big cell", []float64{20}, []shownCell{20.0}, 0, 0, false},
		{"single zero cell", []float64{0}, []shownCell{0.0}, 0, 0, false},
		{"single small cell: kept, suppressed", []float64{5}, []shownCell{"S"}, 1, 0, true},
		{"small beside zeros only", []float64{3, 0, 0}, []shownCell{"S", "S", 0.0}, 1, 1, false},
		{"small plus 8, total 9", []float64{1, 8}, []shownCell{"S", "S"}, 1, 1, false},
		{"small plus 8 plus zero", []float64{1, 8, 0}, []shownCell{"S", "S", 0.0}, 1, 1, false},
		{"small plus 9", []float64{2, 9}, []shownCell{"S", "S"}, 1, 1, false},
		{"small plus zero", []float64{4, 0}, []shownCell{"S", "S"}, 1, 1, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := doc(stratified(tc.values...))
			sum, err := Apply(d)
			if err != nil {
				t.Fatalf("Apply: %v", err)
			}
			m := d.Measures[0]
			if len(m.Strata) != 1 || m.Strata[0].Dimension != "age_band" || len(m.Strata[0].Cells) != len(tc.values) {
				t.Fatalf("strata %+v: want the stratification kept whole", m.Strata)
			}
			for i, c := range m.Strata[0].Cells {
				if want := fmt.Sprintf("s%d", i); c.Stratum != want {
					t.Errorf("cell %d stratum %q, want %q", i, c.Stratum, want)
				}
			}
			if got := compact(m.Strata[0].Cells); !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("cells = %v, want %v", got, tc.want)
			}
			var wantUnprotectable []string
			if tc.unprotectable {
				wantUnprotectable = []string{"long_term/age_band"}
			}
			if sum.Small != tc.small || sum.Complementary != tc.comp || !reflect.DeepEqual(sum.Unprotectable, wantUnprotectable) {
				t.Errorf("summary %+v, want %d small, %d complementary, unprotectable %v", sum, tc.small, tc.comp, wantUnprotectable)
			}
			if err := Protected(d); err != nil {
				t.Fatalf("Protected after Apply: %v", err)
			}
		})
	}
}

func TestHeadlineUnchangedAndRecord(t *testing.T) {
	lt := stratified(3, 20, 10)
	ratio := results.Measure{ID: "long_term_reviewed", Kind: results.KindRatio,
		Numerator: results.F(3), Denominator: results.F(33), Value: results.F(0.0909)}
	d := doc(lt, ratio)
	if _, err := Apply(d); err != nil {
		t.Fatal(err)
	}
	if got := d.Measures[0].Value; got == nil || *got != 33 || d.Measures[0].Suppressed {
		t.Errorf("headline long_term = %v, want exactly 33", got)
	}
	r := d.Measures[1]
	if *r.Numerator != 3 || *r.Denominator != 33 || *r.Value != 0.0909 || r.Suppressed {
		t.Errorf("non-publishable ratio changed: %+v", r)
	}
	want := results.Disclosure{Method: Method, SuppressFrom: 1, SuppressTo: 7, RoundTo: 5, Applied: true}
	if d.Disclosure == nil || *d.Disclosure != want {
		t.Errorf("Disclosure = %+v, want %+v", d.Disclosure, want)
	}
}

func TestPublishable(t *testing.T) {
	pub := func(m results.Measure) results.Measure { m.Publishable = true; return m }
	d := doc(
		pub(results.Measure{ID: "a", Kind: results.KindCount, Value: results.F(5)}),
		pub(results.Measure{ID: "b", Kind: results.KindCount, Value: results.F(12)}),
		pub(results.Measure{ID: "c", Kind: results.KindCount, Value: results.F(0)}),
		pub(results.Measure{ID: "d", Kind: results.KindSum, Value: results.F(12.5)}),
		pub(results.Measure{ID: "e", Kind: results.KindSum, Value: results.F(123456.5)}),
		pub(results.Measure{ID: "f", Kind: results.KindSum, Value: results.F(7.9)}),
		pub(results.Measure{ID: "g", Kind: results.KindRatio, Numerator: results.F(30), Denominator: results.F(41), Value: results.F(0.7317)}),
		pub(results.Measure{ID: "h", Kind: results.KindRatio, Numerator: results.F(3), Denominator: results.F(41), Value: results.F(0.0732)}),
		pub(results.Measure{ID: "i", Kind: results.KindRatio, Numerator: results.F(123456.5), Denominator: results.F(2346), Per: 1000, Value: results.F(52624.25)}),
		pub(results.Measure{ID: "j", Kind: results.KindRatio, Numerator: results.F(0), Denominator: results.F(0)}),
		pub(stratified(3, 20, 10)),
	)
	if _, err := Apply(d); err != nil {
		t.Fatal(err)
	}
	type fig struct {
		value      *float64
		suppressed bool
	}
	for _, tc := range []struct {
		id         string
		value      *float64
		suppressed bool
	}{
		{"a", nil, true},
		{"b", results.F(10), false},
		{"c", results.F(0), false},
		{"d", results.F(15), false}, // halves round away from zero
		{"e", results.F(123455), false},
		{"f", nil, true}, // 0 < v < 8 is small for a sum too
		{"g", results.F(0.75), false},
		{"h", nil, true},
		{"i", results.F(results.Round4(123455 / 2.345)), false},
		{"j", nil, false}, // zero denominator: null, not suppressed
		{"long_term", results.F(35), false},
	} {
		m := d.Find(tc.id)
		if got, want := (fig{m.Value, m.Suppressed}), (fig{tc.value, tc.suppressed}); !reflect.DeepEqual(got, want) {
			t.Errorf("%s: value %v suppressed %v, want %v %v", tc.id, ptr(m.Value), m.Suppressed, ptr(tc.value), tc.suppressed)
		}
	}
	if h := d.Find("h"); h.Numerator != nil || h.Denominator == nil || *h.Denominator != 40 {
		t.Errorf("h: numerator %v denominator %v, want null and 40", ptr(h.Numerator), ptr(h.Denominator))
	}
	if err := Protected(d); err != nil {
		t.Fatal(err)
	}
}

func ptr(p *float64) string {
	if p == nil {
		return "null"
	}
	return fmt.Sprint(*p)
}

func TestIdempotent(t *testing.T) {
	d := doc(stratified(3, 20, 10, 0), stratified(1, 8))
	d.Measures[1].ID = "high_dose"
	d.Measures[0].Publishable = true
	if _, err := Apply(d); err != nil {
		t.Fatal(err)
	}
	once, _ := json.Marshal(d)
	sum, err := Apply(d)
	if err != nil {
		t.Fatalf("second Apply: %v", err)
	}
	twice, _ := json.Marshal(d)
	if !bytes.Equal(once, twice) || !sum.AlreadyApplied {
		t.Fatalf("second Apply changed the document or did not notice:\n%s\n%s", once, twice)
	}
}

func TestApplyErrorsLeaveDocumentUnchanged(t *testing.T) {
	for name, mutate := range map[string]func(*results.Document){
		"negative":     func(d *results.Document) { d.Measures[1].Strata[0].Cells[0].Value = results.F(-1) },
		"fraction":     func(d *results.Document) { d.Measures[1].Strata[0].Cells[0].Value = results.F(2.5) },
		"huge":         func(d *results.Document) { d.Measures[1].Strata[0].Cells[1].Value = results.F(MaxCount) },
		"null":         func(d *results.Document) { d.Measures[1].Strata[0].Cells[0].Value = nil },
		"pre-suppress": func(d *results.Document) { d.Measures[1].Strata[0].Cells[0].Suppressed = true },
		"other method": func(d *results.Document) { d.Disclosure = &results.Disclosure{Method: "other", Applied: true} },
	} {
		t.Run(name, func(t *testing.T) {
			d := doc(stratified(3, 20, 10), stratified(4, 40))
			d.Measures[1].ID = "high_dose"
			mutate(d)
			before, _ := json.Marshal(d)
			if _, err := Apply(d); !errors.Is(err, ErrInput) {
				t.Fatalf("Apply error = %v, want ErrInput", err)
			}
			after, _ := json.Marshal(d)
			if !bytes.Equal(before, after) {
				t.Fatalf("failed Apply changed the document")
			}
		})
	}
}

func TestProtectedRejects(t *testing.T) {
	applied := func(m ...results.Measure) *results.Document {
		d := doc(m...)
		d.Disclosure = Record()
		return d
	}
	sup := func() results.Cell { return results.Cell{Stratum: "x", Suppressed: true} }
	withCells := func(total float64, cells ...results.Cell) results.Measure {
		return results.Measure{ID: "long_term", Kind: results.KindCount, Value: results.F(total),
			Strata: []results.Strata{{Dimension: "sex", Cells: cells}}}
	}
	v := func(x float64) results.Cell { return results.Cell{Stratum: "y", Value: results.F(x)} }
	tests := []struct {
		name string
		doc  *results.Document
		want string
	}{
		{"never applied", doc(stratified(20, 10)), "no disclosure record"},
		{"record not applied", func() *results.Document {
			d := applied(stratified(20, 10))
			d.Disclosure.Applied = false
			return d
		}(), "not applied"},
		{"other method", func() *results.Document {
			d := applied(stratified(20, 10))
			d.Disclosure.RoundTo = 10
			return d
		}(), "is not method"},
		{"unrounded cell", applied(stratified(20, 13)), "13 is neither"},
		{"small shown cell", applied(stratified(20, 5)), "5 is neither"},
		{"value on suppressed cell", applied(withCells(30, results.Cell{Stratum: "x", Value: results.F(10), Suppressed: true}, v(20))), "suppressed but carries a value"},
		{"null unsuppressed cell", applied(withCells(30, results.Cell{Stratum: "x"}, v(20))), "null but not marked suppressed"},
		{"single suppressed cell", applied(withCells(33, sup(), v(30))), "single suppressed cell"},
		// 10 hides at least 8, so with a total of 8 both suppressed cells are 0.
		{"recoverable pair", applied(withCells(8, sup(), sup(), v(10))), "can be recovered from the total"},
		{"published reason", applied(withCells(30, results.Cell{Stratum: "x", Suppressed: true, Reason: "small"}, sup(), v(25))), "reasons must not be published"},
		{"published reason on a shown cell", applied(withCells(30, results.Cell{Stratum: "x", Value: results.F(30), Reason: "complementary"}, v(0))), "reasons must not be published"},
		{"publishable unrounded", applied(results.Measure{ID: "a", Kind: results.KindCount, Value: results.F(12), Publishable: true}), "12 is neither"},
		{"publishable ratio numerator", applied(results.Measure{ID: "a", Kind: results.KindRatio, Numerator: results.F(3), Denominator: results.F(40), Value: results.F(0.075), Publishable: true}), "numerator: 3 is neither"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := Protected(tc.doc)
			if !errors.Is(err, ErrUnprotected) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Protected = %v, want ErrUnprotected mentioning %q", err, tc.want)
			}
		})
	}
}

// TestProtectedAccepts covers documents Protected must pass that Apply does
// not itself produce.
func TestProtectedAccepts(t *testing.T) {
	applied := func(total float64, cells ...results.Cell) *results.Document {
		d := doc(results.Measure{ID: "long_term", Kind: results.KindCount, Value: results.F(total),
			Strata: []results.Strata{{Dimension: "sex", Cells: cells}}})
		d.Disclosure = Record()
		return d
	}
	sup := results.Cell{Stratum: "x", Suppressed: true}
	for name, d := range map[string]*results.Document{
		// Without the reasons, [1, 8] published as two suppressed cells
		// leaves each anything from 0 to 9.
		"suppressed pair, total 9": applied(9, sup, sup),
		// A single cell is the headline: suppressing it is all Apply can do.
		"single suppressed cell, all of it": applied(5, sup),
		"suppressed pair beside a shown 10": applied(9, sup, sup, results.Cell{Stratum: "y", Value: results.F(10)}),
	} {
		if err := Protected(d); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
}

// TestDecodedDocumentStaysProtected round-trips a protected document through
// the wire format and results.Decode: every stratification survives, and no
// suppression reason is on the wire.
func TestDecodedDocumentStaysProtected(t *testing.T) {
	single := stratified(5)
	single.ID = "high_dose"
	d := doc(stratified(3, 20, 10, 0, 41), single)
	d.Measures[0].Strata = append(d.Measures[0].Strata, results.Strata{Dimension: "sex", Cells: cellsOf(1, 73, 0)})
	if _, err := Apply(d); err != nil {
		t.Fatal(err)
	}
	body, err := json.Marshal(d)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(body, []byte(`"reason"`)) {
		t.Fatalf("a suppression reason is on the wire: %s", body)
	}
	got, err := results.Decode(bytes.NewReader(body))
	if err != nil {
		t.Fatalf("Decode: %v", err)
	}
	if err := Protected(got); err != nil {
		t.Fatal(err)
	}
	want := map[string][]shownCell{
		"long_term/age_band": {"S", 20.0, "S", 0.0, 40.0},
		"long_term/sex":      {"S", "S", 0.0},
		"high_dose/age_band": {"S"},
	}
	n := 0
	for _, m := range got.Measures {
		for _, s := range m.Strata {
			n++
			if c, w := compact(s.Cells), want[m.ID+"/"+s.Dimension]; !reflect.DeepEqual(c, w) {
				t.Errorf("%s/%s decoded as %v, want %v", m.ID, s.Dimension, c, w)
			}
		}
	}
	if n != len(want) {
		t.Errorf("%d stratifications decoded, want %d", n, len(want))
	}
}

// TestRecoveryProperty checks, over every assignment of counts consistent
// with what is published and the exact total, that each suppressed cell can
// take at least two values. The reader modelled knows the method but not why
// a cell was suppressed: a suppressed cell is any whole number from 0 up, a
// shown value r > 0 hides something in r-2..r+2 and a shown 0 is 0. It also
// checks that no stratification is ever removed, that a shown value is within
// rounding of the truth, and that a stratification Apply reports as
// unprotectable really is: with every cell suppressed the reader still
// recovers one.
func TestRecoveryProperty(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	trials := 3000
	if testing.Short() {
		trials = 300
	}
	draw := func() float64 {
		switch rng.IntN(4) {
		case 0:
			return 0
		case 1:
			return float64(1 + rng.IntN(7))
		case 2:
			return float64(8 + rng.IntN(5))
		default:
			return float64(rng.IntN(40))
		}
	}
	unprotectableSeen, suppressedSeen := 0, 0
	for range trials {
		values := make([]float64, 1+rng.IntN(5))
		total := 0.0
		for i := range values {
			values[i] = draw()
			total += values[i]
		}
		d := doc(stratified(values...))
		sum, err := Apply(d)
		if err != nil {
			t.Fatalf("%v: %v", values, err)
		}
		if err := Protected(d); err != nil {
			t.Fatalf("%v: %v", values, err)
		}
		m := d.Measures[0]
		if len(m.Strata) != 1 || len(m.Strata[0].Cells) != len(values) {
			t.Fatalf("%v: stratification not kept whole: %+v", values, m.Strata)
		}
		cells := m.Strata[0].Cells
		nSupp := 0
		for i, c := range cells {
			if c.Reason != "" {
				t.Fatalf("%v: cell %d publishes reason %q", values, i, c.Reason)
			}
			if c.Value != nil {
				if diff := *c.Value - values[i]; diff < -2 || diff > 2 || (*c.Value == 0) != (values[i] == 0) {
					t.Fatalf("%v: cell %d shown as %v", values, i, *c.Value)
				}
			}
			if c.Suppressed {
				nSupp++
			}
			if IsSmall(values[i]) && !c.Suppressed {
				t.Fatalf("%v: small cell %d shown", values, i)
			}
		}
		suppressedSeen += nSupp
		if len(sum.Unprotectable) > 0 {
			unprotectableSeen++
			if nSupp != len(cells) {
				t.Fatalf("%v unprotectable, published as %v: want every cell suppressed", values, compact(cells))
			}
			if _, ok := bruteDetermined(cells, total); !ok {
				t.Fatalf("%v reported unprotectable, but suppressing every cell protects it", values)
			}
			continue
		}
		if nSupp == 1 {
			t.Fatalf("%v published as %v: a single suppressed cell", values, compact(cells))
		}
		if i, bad := bruteDetermined(cells, total); bad {
			t.Fatalf("%v published as %v: cell %d is recoverable from total %v", values, compact(cells), i, total)
		}
	}
	if unprotectableSeen == 0 || suppressedSeen == 0 {
		t.Fatalf("generator too narrow: %d unprotectable, %d suppressed cells", unprotectableSeen, suppressedSeen)
	}
}

// bruteDetermined works out, for every cell, the set of values it takes over
// all assignments consistent with cells and total, and reports a suppressed
// cell that takes a single value in all of them. Rather than list every
// assignment (a suppressed cell ranges over 0..total, so there are too many)
// it finds exactly the values that appear in one: x is possible for cell i
// when total-x is a sum the other cells can make, which it tracks as the set
// of sums reachable by the cells before i and by the cells after i.
func bruteDetermined(cells []results.Cell, total float64) (int, bool) {
	T := int(total)
	domains := make([][]int, len(cells))
	for i, c := range cells {
		switch {
		case c.Value != nil && *c.Value == 0:
			domains[i] = []int{0}
		case c.Value != nil:
			for x := int(*c.Value) - 2; x <= int(*c.Value)+2; x++ {
				domains[i] = append(domains[i], x)
			}
		default: // suppressed: the reader does not know why
			for x := 0; x <= T; x++ {
				domains[i] = append(domains[i], x)
			}
		}
	}
	// reach(from, to)[s]: cells[from:to] can sum to s (0 <= s <= T).
	reach := func(from, to int) []bool {
		r := make([]bool, T+1)
		r[0] = true
		for k := from; k < to; k++ {
			next := make([]bool, T+1)
			for s, ok := range r {
				if !ok {
					continue
				}
				for _, x := range domains[k] {
					if s+x <= T {
						next[s+x] = true
					}
				}
			}
			r = next
		}
		return r
	}
	for i, c := range cells {
		if !c.Suppressed {
			continue
		}
		before, after := reach(0, i), reach(i+1, len(cells))
		values := 0
		for _, x := range domains[i] {
			rest := T - x
			possible := false
			for a := 0; a <= rest && !possible; a++ {
				possible = before[a] && after[rest-a]
			}
			if possible {
				values++
			}
		}
		if values == 1 {
			return i, true
		}
	}
	return -1, false
}

// TestDeterminedMatchesBruteForce checks the recovery test Protected uses
// against the brute force, on published stratifications Apply would not
// necessarily produce and on totals anywhere near what they show.
func TestDeterminedMatchesBruteForce(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for range 3000 {
		n := 1 + rng.IntN(5)
		cells := make([]results.Cell, n)
		views := make([]view, n)
		top := 0
		for i := range cells {
			switch rng.IntN(3) {
			case 0:
				cells[i] = results.Cell{Suppressed: true}
				views[i] = view{kind: suppressed}
				top += 10
			case 1:
				cells[i] = results.Cell{Value: results.F(0)}
				views[i] = view{kind: shown}
			default:
				r := float64(5 * (2 + rng.IntN(5)))
				cells[i] = results.Cell{Value: results.F(r)}
				views[i] = view{kind: shown, value: r}
				top += int(r) + 2
			}
		}
		total := float64(rng.IntN(top + 3))
		gi, gbad := determined(views, total)
		wi, wbad := bruteDetermined(cells, total)
		if gi != wi || gbad != wbad {
			t.Fatalf("%v total %v: determined = %d %v, brute force %d %v", compact(cells), total, gi, gbad, wi, wbad)
		}
	}
}

// TestRatioStrata: a stratified ratio's numerator and denominator strata
// are each protected as a partition of their own exact total, and Protected
// checks recovery against that total, not the ratio's value.
func TestRatioStrata(t *testing.T) {
	ratio := func(num, den []float64) results.Measure {
		n, d := 0.0, 0.0
		for _, v := range num {
			n += v
		}
		for _, v := range den {
			d += v
		}
		return results.Measure{ID: "share", Kind: results.KindRatio, Numerator: results.F(n), Denominator: results.F(d), Value: results.F(n / d),
			Strata: []results.Strata{
				{Dimension: "sex", Part: results.PartNumerator, Cells: cellsOf(num...)},
				{Dimension: "sex", Part: results.PartDenominator, Cells: cellsOf(den...)},
			}}
	}
	d := doc(ratio([]float64{3, 20, 0}, []float64{30, 40, 12}))
	sum, err := Apply(d)
	if err != nil {
		t.Fatal(err)
	}
	m := d.Measures[0]
	if len(m.Strata) != 2 || m.Strata[0].Part != results.PartNumerator || m.Strata[1].Part != results.PartDenominator {
		t.Fatalf("strata = %+v", m.Strata)
	}
	// 3 is small; 20 is suppressed with it (0 cannot hide anything).
	if got := fmt.Sprint(compact(m.Strata[0].Cells)); got != "[S S 0]" {
		t.Errorf("numerator cells = %s", got)
	}
	if got := fmt.Sprint(compact(m.Strata[1].Cells)); got != "[30 40 10]" {
		t.Errorf("denominator cells = %s", got)
	}
	if sum.Small != 1 || sum.Complementary != 1 {
		t.Errorf("summary = %+v", sum)
	}
	if err := Protected(d); err != nil {
		t.Fatalf("Protected after Apply: %v", err)
	}
	// A numerator whose two suppressed cells must both be 0 is recoverable
	// from the numerator (8: the shown 10 holds at least 8), whatever the
	// ratio's value.
	bad := doc(results.Measure{ID: "share", Kind: results.KindRatio, Numerator: results.F(8), Denominator: results.F(80), Value: results.F(0.1),
		Strata: []results.Strata{{Dimension: "sex", Part: results.PartNumerator, Cells: []results.Cell{
			{Stratum: "F", Suppressed: true}, {Stratum: "M", Suppressed: true}, {Stratum: "U", Value: results.F(10)}}}}})
	bad.Disclosure = Record()
	if err := Protected(bad); !errors.Is(err, ErrUnprotected) || !strings.Contains(err.Error(), "share/numerator/sex") {
		t.Fatalf("Protected = %v, want the numerator's cells recoverable", err)
	}
}
