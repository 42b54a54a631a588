// Package schemes defines local incentive schemes that pay GP practices on
// Steward's measures, and reconciles one reporting period of a scheme against
// the figures practices submitted.
//
// The package is pure: the collector loads a scheme file with Load, feeds
// Evaluate the stored figures of each practice for a period, persists the
// Reconciliation and the audit Events of each claim's state machine, and
// exports finance's CSV with WriteCSV. Nothing here touches a database or the
// network.
//
// Money is exact. Every amount is computed from whole-number inputs (A, B, C
// and list sizes) and the scheme's exact decimal parameters in integer
// arithmetic, then rounded once per element to whole pence, halves rounded
// up. No floating point is used for money. docs/schemes.md is the reference
// for the file format and the rules.
package schemes

import (
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/nhs-steward/steward/internal/yamlstrict"
	"github.com/nhs-steward/steward/searches/semver"
)

// FormatVersion is the scheme file format version this package reads.
const FormatVersion = 1

// Pos is a position in a scheme file: the one position type every loader
// uses.
type Pos = yamlstrict.Pos

// Scheme is a validated, immutable scheme definition. Build one with Load or
// Parse; a Scheme built by hand is not checked.
type Scheme struct {
	ID    string
	Title string
	// ICB is the ODS code of the commissioning integrated care board.
	ICB      string
	Pack     PackRange
	Baseline string // YYYY-MM-DD, a month end
	Periods  Periods
	// Practices lists the enrolled practices' ODS codes, sorted; empty
	// when AllPractices is set.
	Practices    []string
	AllPractices bool
	Gateway      []Condition
	Elements     []Element
	// PracticeCapPence caps what one practice earns in one period across
	// all elements; 0 means no cap.
	PracticeCapPence int64
	SignOff          SignOff
	Pos              Pos
	// Positions says where values are in the file, by path: top-level
	// keys ("icb", "baseline"), keys under pack and periods
	// ("pack.versions", "periods.to"), each listed practice
	// ("practices/Y01001") and each sign-off role ("sign_off.approve/icb_lead").
	// Validate uses them to point at the line to fix.
	Positions map[string]Pos
}

// PosOf returns where path is in the scheme's file, or the scheme's own
// position when it is not recorded.
func (s *Scheme) PosOf(path string) Pos {
	if p, ok := s.Positions[path]; ok {
		return p
	}
	return s.Pos
}

// PackRange is the search pack a scheme accepts and its version range, a
// space-separated list of comparisons that must all hold, e.g.
// ">=2026.1.0 <2027.0.0".
type PackRange struct {
	ID       string
	Versions string
	cons     *semver.Range
}

// ParsePackRange makes the range of versions of pack id that versions
// (">=2026.1.0 <2027.0.0") names.
func ParsePackRange(id, versions string) (PackRange, error) {
	r, err := semver.ParseRange(versions)
	if err != nil {
		return PackRange{}, err
	}
	return PackRange{ID: id, Versions: versions, cons: &r}, nil
}

// Accepts reports whether the pack id and version satisfy the range.
func (p PackRange) Accepts(id, version string) bool {
	if id != p.ID {
		return false
	}
	return p.cons != nil && p.cons.ContainsString(version)
}

// LatePolicy says what happens to figures received after the deadline.
type LatePolicy string

// Late policies.
const (
	// LatePay pays late figures and lists the practice as late.
	LatePay LatePolicy = "pay"
	// LateWithhold fails the practice's gateway for the period.
	LateWithhold LatePolicy = "withhold"
)

// Periods are a scheme's monthly reporting periods, From to To inclusive.
type Periods struct {
	From string // YYYY-MM
	To   string // YYYY-MM
	// FinalAchievementDate is the month end whose figures elements paid
	// "final" are paid on (YYYY-MM-DD).
	FinalAchievementDate string
	// PaymentPeriodEnd is the date by which the final payment is made.
	PaymentPeriodEnd string
	// DeadlineDays is how many days after a period's month end figures must
	// be received: received before 00:00 UTC on the day after month end +
	// DeadlineDays is on time.
	DeadlineDays int
	Late         LatePolicy
}

// ConditionType is the kind of a gateway condition.
type ConditionType string

// Gateway condition types.
const (
	// CondSubmission needs a submission for the period.
	CondSubmission ConditionType = "submission"
	// CondThreshold compares a measure figure with a number.
	CondThreshold ConditionType = "threshold"
	// CondDeclaration needs the practice to have made a named declaration.
	CondDeclaration ConditionType = "declaration"
)

// Built-in gateway condition ids. Evaluate adds them to a practice's gateway
// when they fail; a scheme may not use them as its own ids.
const (
	GateFigures     = "figures"      // no figures, or figures for another as-of or baseline date
	GatePackVersion = "pack_version" // figures from a pack outside the scheme's range
	GateDeadline    = "deadline"     // figures late and the scheme withholds late figures
)

// Condition is one gateway condition.
type Condition struct {
	ID          string
	Title       string
	Type        ConditionType
	Measure     Ref     // CondThreshold
	Op          string  // CondThreshold: > >= < <= == !=
	Value       Decimal // CondThreshold
	Declaration string  // CondDeclaration
	Pos         Pos
}

// ElementType is the kind of a payment element.
type ElementType string

// Payment element types. docs/schemes.md says what A, B and C hold for each.
const (
	// PerPatient pays a rate per counted patient (A), e.g. long-term
	// opioid users reviewed, or high-dose baseline patients who stopped.
	PerPatient ElementType = "per_patient"
	// PerRegisteredPatient pays pence per patient on the list by the tier
	// reached by achievement A / (B - C) x 100.
	PerRegisteredPatient ElementType = "per_registered_patient"
	// Points pays QOF-style threshold points on A / (B - C) x 100.
	Points ElementType = "points"
	// Reduction pays a rate per unit of reduction of a current count (B)
	// against its baseline (A): max(0, A - B).
	Reduction ElementType = "reduction"
)

// Timing says in which periods an element is payable.
type Timing string

// When elements are paid.
const (
	// PaidFinal: payable only in the period of the final achievement
	// date; other periods show the amount as indicative.
	PaidFinal Timing = "final"
	// PaidMonthly: payable in every period.
	PaidMonthly Timing = "monthly"
)

// ListSizeRegisteredPatients is the list_size value that takes the list size
// from PracticeFigures.ListSize instead of a measure.
const ListSizeRegisteredPatients = "registered_patients"

// Element is one payment element.
type Element struct {
	ID    string
	Title string
	Type  ElementType
	Paid  Timing
	// Count is A for PerPatient.
	Count Ref
	// Numerator, Denominator and Exclusions (optional, Measure "" when
	// absent) are A, B and C for PerRegisteredPatient and Points.
	Numerator, Denominator, Exclusions Ref
	// Baseline and Current are A and B for Reduction.
	Baseline, Current Ref
	// RatePence is paid per patient (PerPatient) or per unit (Reduction).
	RatePence Decimal
	// Tiers, ascending by From, for PerRegisteredPatient.
	Tiers []Tier
	// ListSize is the list-size measure, or ListSizeRegisteredPatients
	// (Measure set to that string), for PerRegisteredPatient and Points.
	ListSize Ref
	// Points parameters: E, F (percent), G, value per point, the national
	// average list size and an optional prevalence adjustment.
	LowerThreshold, UpperThreshold Decimal
	MaxPoints                      Decimal
	PencePerPoint                  Decimal
	NationalAverageList            Decimal
	Prevalence                     *Prevalence
	// CapPence caps the element's amount in a period; 0 means no cap.
	CapPence int64
	Pos      Pos
}

// Tier is one achievement tier: from From percent (inclusive) up to the next
// tier, PencePerPatient per patient on the list.
type Tier struct {
	From            Decimal
	PencePerPatient Decimal
}

// Prevalence is a QOF-style prevalence factor: (register / list size) /
// NationalPrevalence, where NationalPrevalence is a proportion (0.012 for
// 1.2%).
type Prevalence struct {
	Register           Ref
	NationalPrevalence Decimal
}

// SignOff names the roles that may move a claim through its states.
type SignOff struct {
	Declare []string // practice roles that declare (calculated -> declared)
	Approve []string // ICB roles that approve or reject (declared -> approved or calculated)
	Pay     []string // finance roles that mark approved claims paid
	// Declaration is the wording a practice confirms when it declares,
	// with the placeholders of DeclarationPlaceholders; "" for the
	// collector's standard wording.
	Declaration string
}

// DeclarationPlaceholders are the names a scheme's declaration wording
// may hold in braces, each replaced for the claim being declared.
var DeclarationPlaceholders = []string{"practice", "ods", "scheme", "period", "amount"}

// MaxDeclarationLen is the longest declaration wording, in characters.
const MaxDeclarationLen = 2000

// Field is the part of a measure row a Ref reads.
type Field string

// Measure row fields.
const (
	FieldValue       Field = "value"
	FieldNumerator   Field = "numerator"
	FieldDenominator Field = "denominator"
)

// Ref names a figure: a measure id and a field ("long_term_reviewed.numerator";
// a bare id reads the value).
type Ref struct {
	Measure string
	Field   Field
	Pos     Pos
}

func (r Ref) String() string {
	if r.Measure == "" {
		return ""
	}
	if r.Field == FieldValue || r.Field == "" {
		return r.Measure
	}
	return r.Measure + "." + string(r.Field)
}

// MeasureKind is a measure's kind in a pack.
type MeasureKind string

// Measure kinds, as in a results document.
const (
	KindCount MeasureKind = "count"
	KindSum   MeasureKind = "sum"
	KindRatio MeasureKind = "ratio"
)

// MeasureDef describes one measure a scheme may refer to.
type MeasureDef struct {
	Kind MeasureKind
	// WholeDenominator is true for a ratio whose denominator is a count of
	// patients (false for ome_per_1000, whose denominator is per 1,000).
	WholeDenominator bool
}

// Catalogue maps the measure ids of a pack to their definitions.
type Catalogue map[string]MeasureDef

// MedSIPMeasures returns the measure ids and kinds of the standard medsip
// pack (measure definitions v1).
func MedSIPMeasures() Catalogue {
	count := MeasureDef{Kind: KindCount}
	ratio := MeasureDef{Kind: KindRatio, WholeDenominator: true}
	return Catalogue{
		"registered_adults":          count,
		"eligible_adults":            count,
		"long_term":                  count,
		"high_dose":                  count,
		"long_term_reviewed":         ratio,
		"high_dose_reviewed":         ratio,
		"ome_total_mg":               {Kind: KindSum},
		"ome_per_1000":               {Kind: KindRatio},
		"long_term_baseline":         count,
		"high_dose_baseline":         count,
		"long_term_baseline_stopped": ratio,
		"high_dose_baseline_stopped": ratio,
		"baseline_lost":              count,
		"ome_unknown_issues":         count,
	}
}

// wholeNumber reports whether the figure a ref reads is a count of patients
// (or issues): a count's value, or a ratio's numerator or whole denominator.
func (c Catalogue) wholeNumber(r Ref) bool {
	d, ok := c[r.Measure]
	if !ok {
		return false
	}
	switch r.Field {
	case FieldValue:
		return d.Kind == KindCount
	case FieldNumerator:
		return d.Kind == KindRatio && d.WholeDenominator
	case FieldDenominator:
		return d.Kind == KindRatio && d.WholeDenominator
	}
	return false
}

// Decimal is an exact decimal number: Units / 10^Scale.
type Decimal struct {
	Units int64
	Scale int
}

// maxDecimalPlaces bounds the decimals a scheme parameter may carry.
const maxDecimalPlaces = 6

// ParseDecimal parses a plain decimal ("12", "-0.5", "220.62"; no exponent)
// with at most six decimal places.
func ParseDecimal(s string) (Decimal, error) {
	t := s
	neg := false
	if strings.HasPrefix(t, "-") || strings.HasPrefix(t, "+") {
		neg = t[0] == '-'
		t = t[1:]
	}
	whole, frac, hasDot := strings.Cut(t, ".")
	if whole == "" || (hasDot && frac == "") || !allDigits(whole) || !allDigits(frac) {
		return Decimal{}, fmt.Errorf("%q is not a plain decimal number", s)
	}
	if len(frac) > maxDecimalPlaces {
		return Decimal{}, fmt.Errorf("%q has more than %d decimal places", s, maxDecimalPlaces)
	}
	u, err := strconv.ParseInt(whole+frac, 10, 64)
	if err != nil || u > 1e12 {
		return Decimal{}, fmt.Errorf("%q is too large", s)
	}
	if neg {
		u = -u
	}
	d := Decimal{Units: u, Scale: len(frac)}
	return d, nil
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// String formats d with its own number of decimal places.
func (d Decimal) String() string {
	if d.Scale == 0 {
		return strconv.FormatInt(d.Units, 10)
	}
	u := d.Units
	sign := ""
	if u < 0 {
		sign, u = "-", -u
	}
	p := pow10[d.Scale]
	return fmt.Sprintf("%s%d.%0*d", sign, u/p, d.Scale, u%p)
}

// Sign returns -1, 0 or 1.
func (d Decimal) Sign() int {
	switch {
	case d.Units < 0:
		return -1
	case d.Units > 0:
		return 1
	}
	return 0
}

// Cmp compares d and e exactly.
func (d Decimal) Cmp(e Decimal) int {
	s := max(d.Scale, e.Scale)
	a := d.Units * pow10[s-d.Scale]
	b := e.Units * pow10[s-e.Scale]
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

var pow10 = [...]int64{1, 10, 100, 1000, 10000, 100000, 1000000, 10000000, 100000000}

// Declarations lists the declarations the scheme's gateway asks for, in
// gateway order.
func (s *Scheme) Declarations() []string {
	var out []string
	for _, c := range s.Gateway {
		if c.Type == CondDeclaration {
			out = append(out, c.Declaration)
		}
	}
	return out
}

// HasDeclaration reports whether the gateway asks for declaration name.
func (s *Scheme) HasDeclaration(name string) bool {
	for _, d := range s.Declarations() {
		if d == name {
			return true
		}
	}
	return false
}

// MeasureIDs lists, sorted and once each, the measures the scheme reads:
// Evaluate looks at no other measure of a practice's figures, so a store
// may give it only these.
func (s *Scheme) MeasureIDs() []string {
	seen := map[string]bool{}
	add := func(refs ...Ref) {
		for _, r := range refs {
			if r.Measure != "" && r.Measure != ListSizeRegisteredPatients {
				seen[r.Measure] = true
			}
		}
	}
	for _, c := range s.Gateway {
		add(c.Measure)
	}
	for _, e := range s.Elements {
		add(e.Count, e.Numerator, e.Denominator, e.Exclusions, e.Baseline, e.Current, e.ListSize)
		if e.Prevalence != nil {
			add(e.Prevalence.Register)
		}
	}
	out := make([]string, 0, len(seen))
	for id := range seen {
		out = append(out, id)
	}
	sort.Strings(out)
	return out
}
