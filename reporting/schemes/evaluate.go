package schemes

import (
	"errors"
	"fmt"
	"math"
	"math/big"
	"sort"
	"strings"
	"time"

	"github.com/nhs-steward/steward/reporting/results"
)

// ErrPeriod marks a period that is malformed or outside the scheme.
var ErrPeriod = errors.New("period not in scheme")

// ErrFigures marks figures Evaluate cannot reconcile (a practice twice, or
// no ODS code).
var ErrFigures = errors.New("invalid figures")

// Measure is one stored measure row of a practice's submission.
type Measure struct {
	ID          string
	Kind        string
	Numerator   *float64
	Denominator *float64
	Value       *float64
}

// PracticeFigures are one practice's stored figures for the as-of date of a
// period (the period's month end): the latest accepted submission.
type PracticeFigures struct {
	ODS  string
	Name string // practice name, optional, for finance's export
	// ListSize is the practice's registered patients (all ages), when the
	// collector has it; elements with list_size: registered_patients use it.
	ListSize     *int64
	SubmissionID string
	ReceivedAt   time.Time
	PackID       string
	PackVersion  string
	// AsOf and Baseline, when set, must be the period's month end and the
	// scheme's baseline.
	AsOf     string
	Baseline string
	// Declarations the practice has made for the period (gateway
	// conditions of type declaration).
	Declarations []string
	Measures     []Measure
}

// FiguresFromDocument builds PracticeFigures from a stored results document.
func FiguresFromDocument(doc *results.Document, submissionID string, received time.Time) PracticeFigures {
	f := PracticeFigures{
		ODS: doc.Practice, SubmissionID: submissionID, ReceivedAt: received,
		PackID: doc.Pack.ID, PackVersion: doc.Pack.Version, AsOf: doc.AsOf, Baseline: doc.Baseline,
		Measures: make([]Measure, len(doc.Measures)),
	}
	for i, m := range doc.Measures {
		f.Measures[i] = Measure{ID: m.ID, Kind: m.Kind, Numerator: m.Numerator, Denominator: m.Denominator, Value: m.Value}
	}
	return f
}

// Reconciliation is a scheme's reconciliation for one period.
type Reconciliation struct {
	Scheme string
	Title  string
	ICB    string
	Period string // YYYY-MM
	AsOf   string // the period's month end, YYYY-MM-DD
	// Deadline is the first instant at which figures are late.
	Deadline time.Time
	// Final is true in the period of the final achievement date, when
	// elements paid "final" are payable.
	Final bool
	// Practices hold every enrolled practice (missing ones included) and,
	// with practices: all, every practice with figures; sorted by ODS.
	Practices []PracticeResult
	// Missing, Late and WrongPack list ODS codes, sorted. NotEnrolled lists
	// practices whose figures were given but which are not enrolled; they
	// are not reconciled.
	Missing     []string
	Late        []string
	WrongPack   []string
	NotEnrolled []string
	Summary     Summary
}

// PracticeResult is one practice's reconciliation.
type PracticeResult struct {
	ODS          string          `json:",omitempty"`
	Name         string          `json:",omitempty"`
	SubmissionID string          `json:",omitempty"`
	ReceivedAt   time.Time       `json:",omitzero"`
	PackVersion  string          `json:",omitempty"`
	Missing      bool            `json:",omitempty"`
	Late         bool            `json:",omitempty"`
	WrongPack    bool            `json:",omitempty"`
	Gateway      Gateway         `json:",omitzero"`
	Elements     []ElementResult `json:",omitempty"`
	// PracticeCapApplied is true when the scheme's practice cap reduced
	// the payable total.
	PracticeCapApplied bool `json:",omitempty"`
	// TotalPence is payable this period: payable elements after caps,
	// 0 when the gateway failed.
	TotalPence int64 `json:",omitempty"`
	// IndicativePence is what elements not payable this period would earn
	// on these figures, after element caps.
	IndicativePence int64 `json:",omitempty"`
	// State is the claim's state. Evaluate sets calculated (open for a
	// missing practice); the collector overwrites it with the stored state
	// before export.
	State State `json:",omitempty"`
}

// Gateway is a practice's gateway result: built-in checks (figures,
// pack_version, deadline) then the scheme's conditions, in order.
type Gateway struct {
	Pass   bool    `json:",omitempty"`
	Checks []Check `json:",omitempty"`
}

// Check is one gateway check.
type Check struct {
	ID     string `json:",omitempty"`
	Pass   bool   `json:",omitempty"`
	Reason string `json:",omitempty"`
}

// Failed returns the ids of failed checks.
func (g Gateway) Failed() []string {
	var out []string
	for _, c := range g.Checks {
		if !c.Pass {
			out = append(out, c.ID)
		}
	}
	return out
}

// ElementResult is one element for one practice. A, B and C are the inputs
// (see docs/schemes.md for what each element type puts in them).
type ElementResult struct {
	ID      string      `json:",omitempty"`
	Type    ElementType `json:",omitempty"`
	Payable bool        `json:",omitempty"`
	A       *int64      `json:",omitempty"`
	B       *int64      `json:",omitempty"`
	C       *int64      `json:",omitempty"`
	// ListSize is the list size used (tiers and points).
	ListSize *int64 `json:",omitempty"`
	// Achievement is A / (B - C) x 100; Points the QOF-style points; Tier
	// the 1-based tier reached (0: none).
	Achievement *Fixed `json:",omitempty"`
	Points      *Fixed `json:",omitempty"`
	Tier        int    `json:",omitempty"`
	// CalculatedPence is the amount before caps and gateway.
	CalculatedPence    int64 `json:",omitempty"`
	ElementCapApplied  bool  `json:",omitempty"`
	PracticeCapApplied bool  `json:",omitempty"`
	// AmountPence is the amount after caps; 0 when the gateway failed or
	// the inputs could not be used.
	AmountPence int64 `json:",omitempty"`
	// Note says why an amount is 0 or reduced, or is empty.
	Note string `json:",omitempty"`
}

// Summary totals a reconciliation.
type Summary struct {
	Enrolled      int // enrolled practices; with practices: all, those with figures
	WithFigures   int
	Missing       int
	Late          int
	WrongPack     int
	NotEnrolled   int
	GatewayFailed int
	// PayablePence is the total payable this period.
	PayablePence    int64
	IndicativePence int64
	Elements        []ElementTotal
}

// ElementTotal totals one element over practices.
type ElementTotal struct {
	ID              string
	Practices       int // practices with an amount above 0
	PayablePence    int64
	IndicativePence int64
}

// periodMonthEnd parses "YYYY-MM" and returns its month end.
func periodMonthEnd(period string) (time.Time, error) {
	if !monthPattern.MatchString(period) {
		return time.Time{}, fmt.Errorf("%w: %q is not YYYY-MM", ErrPeriod, period)
	}
	t, err := time.Parse("2006-01", period)
	if err != nil {
		return time.Time{}, fmt.Errorf("%w: %q: %w", ErrPeriod, period, err)
	}
	return monthEndOf(t), nil
}

// PeriodList lists the scheme's periods, YYYY-MM, in order.
func (s *Scheme) PeriodList() []string {
	var out []string
	t, err := time.Parse("2006-01", s.Periods.From)
	if err != nil {
		return nil
	}
	for p := t.Format("2006-01"); p <= s.Periods.To; p = t.Format("2006-01") {
		out = append(out, p)
		t = t.AddDate(0, 1, 0)
	}
	return out
}

// Deadline returns the first instant at which figures for period are late.
func (s *Scheme) Deadline(period string) (time.Time, error) {
	end, err := periodMonthEnd(period)
	if err != nil {
		return time.Time{}, err
	}
	return end.AddDate(0, 0, s.Periods.DeadlineDays+1), nil
}

// Evaluate reconciles period (YYYY-MM) of s against figures, one entry per
// practice. It fails only on a period outside the scheme or figures it
// cannot attribute (ErrPeriod, ErrFigures); everything wrong with a
// practice's figures is reported in its result.
func Evaluate(s *Scheme, period string, figures []PracticeFigures) (*Reconciliation, error) {
	if s == nil {
		return nil, errors.New("evaluate: nil scheme")
	}
	end, err := periodMonthEnd(period)
	if err != nil {
		return nil, err
	}
	if period < s.Periods.From || period > s.Periods.To {
		return nil, fmt.Errorf("%w: %s is outside %s to %s", ErrPeriod, period, s.Periods.From, s.Periods.To)
	}
	asOf := end.Format(time.DateOnly)
	rec := &Reconciliation{
		Scheme: s.ID, Title: s.Title, ICB: s.ICB, Period: period, AsOf: asOf,
		Deadline: end.AddDate(0, 0, s.Periods.DeadlineDays+1),
		Final:    asOf == s.Periods.FinalAchievementDate,
	}
	byODS := make(map[string]*PracticeFigures, len(figures))
	for i := range figures {
		f := &figures[i]
		if f.ODS == "" {
			return nil, fmt.Errorf("%w: figures[%d] have no ODS code", ErrFigures, i)
		}
		if _, dup := byODS[f.ODS]; dup {
			return nil, fmt.Errorf("%w: practice %s appears twice; pass its latest submission only", ErrFigures, f.ODS)
		}
		byODS[f.ODS] = f
	}
	var odsList []string
	if s.AllPractices {
		odsList = make([]string, 0, len(byODS))
		for ods := range byODS {
			odsList = append(odsList, ods)
		}
		sort.Strings(odsList)
	} else {
		odsList = s.Practices // sorted by the loader
		enrolled := make(map[string]bool, len(s.Practices))
		for _, ods := range s.Practices {
			enrolled[ods] = true
		}
		for ods := range byODS {
			if !enrolled[ods] {
				rec.NotEnrolled = append(rec.NotEnrolled, ods)
			}
		}
		sort.Strings(rec.NotEnrolled)
	}
	rec.Practices = make([]PracticeResult, len(odsList))
	ne, nc := len(s.Elements), 3+len(s.Gateway)
	ev := evaluator{s: s, rec: rec, accepts: map[[2]string]bool{},
		elements: make([]ElementResult, len(odsList)*ne),
		checks:   make([]Check, 0, len(odsList)*nc),
		ints:     make([]int64, 0, len(odsList)*4*ne),
		fixed:    make([]Fixed, 0, len(odsList)*2*ne),
	}
	for i, ods := range odsList {
		pr := &rec.Practices[i]
		if f := byODS[ods]; f != nil {
			ev.practice(pr, f)
		} else {
			ev.missing(pr, ods)
		}
	}
	rec.summarise(s)
	return rec, nil
}

type evaluator struct {
	s   *Scheme
	rec *Reconciliation
	// accepts caches pack range checks by pack id and version.
	accepts map[[2]string]bool
	// Pools for all practices' results, carved up practice by practice so
	// that a reconciliation allocates a few large blocks.
	elements []ElementResult
	checks   []Check
	ints     []int64
	fixed    []Fixed
}

// takeElements returns the next practice's element results.
func (ev *evaluator) takeElements() []ElementResult {
	n := len(ev.s.Elements)
	out := ev.elements[:n:n]
	ev.elements = ev.elements[n:]
	return out
}

// takeArena returns the next practice's arena.
func (ev *evaluator) takeArena() arena {
	n := len(ev.s.Elements)
	a := arena{ints: ev.ints[len(ev.ints) : len(ev.ints) : len(ev.ints)+4*n], fixed: ev.fixed[len(ev.fixed) : len(ev.fixed) : len(ev.fixed)+2*n]}
	ev.ints = ev.ints[:len(ev.ints)+4*n]
	ev.fixed = ev.fixed[:len(ev.fixed)+2*n]
	return a
}

func (ev *evaluator) packAccepted(id, version string) bool {
	key := [2]string{id, version}
	ok, seen := ev.accepts[key]
	if !seen {
		ok = ev.s.Pack.Accepts(id, version)
		ev.accepts[key] = ok
	}
	return ok
}

func (ev *evaluator) missing(pr *PracticeResult, ods string) {
	pr.ODS = ods
	pr.Missing = true
	pr.State = Open
	pr.Gateway.Checks = []Check{{ID: GateFigures, Reason: "no figures received for " + ev.rec.Period}}
	pr.Elements = make([]ElementResult, len(ev.s.Elements))
	for i, e := range ev.s.Elements {
		pr.Elements[i] = ElementResult{ID: e.ID, Type: e.Type, Payable: ev.payable(e), Note: "no figures"}
	}
	ev.rec.Missing = append(ev.rec.Missing, ods)
}

func (ev *evaluator) payable(e Element) bool { return e.Paid == PaidMonthly || ev.rec.Final }

func (ev *evaluator) practice(pr *PracticeResult, f *PracticeFigures) {
	s, rec := ev.s, ev.rec
	*pr = PracticeResult{ODS: f.ODS, Name: f.Name, SubmissionID: f.SubmissionID, ReceivedAt: f.ReceivedAt,
		PackVersion: f.PackVersion, State: Calculated}
	nc := 3 + len(s.Gateway)
	checks := ev.checks[len(ev.checks) : len(ev.checks) : len(ev.checks)+nc]
	ev.checks = ev.checks[:len(ev.checks)+nc]

	figures := Check{ID: GateFigures, Pass: true}
	switch {
	case f.AsOf != "" && f.AsOf != rec.AsOf:
		figures = Check{ID: GateFigures, Reason: fmt.Sprintf("figures are as of %s, not %s", f.AsOf, rec.AsOf)}
	case f.Baseline != "" && f.Baseline != s.Baseline:
		figures = Check{ID: GateFigures, Reason: fmt.Sprintf("figures use baseline %s, not %s", f.Baseline, s.Baseline)}
	}
	checks = append(checks, figures)

	pack := Check{ID: GatePackVersion, Pass: true}
	if !ev.packAccepted(f.PackID, f.PackVersion) {
		pr.WrongPack = true
		rec.WrongPack = append(rec.WrongPack, f.ODS)
		pack = Check{ID: GatePackVersion, Reason: fmt.Sprintf("pack %s %s is not %s %s", orNone(f.PackID), orNone(f.PackVersion), s.Pack.ID, s.Pack.Versions)}
	}
	checks = append(checks, pack)

	deadline := Check{ID: GateDeadline, Pass: true}
	if !f.ReceivedAt.IsZero() && !f.ReceivedAt.Before(rec.Deadline) {
		pr.Late = true
		rec.Late = append(rec.Late, f.ODS)
		reason := fmt.Sprintf("received %s, deadline %s", f.ReceivedAt.UTC().Format(time.RFC3339), rec.Deadline.Format(time.RFC3339))
		deadline.Reason = reason + "; the scheme pays late figures"
		if s.Periods.Late == LateWithhold {
			deadline = Check{ID: GateDeadline, Reason: reason + "; the scheme withholds late figures"}
		}
	}
	checks = append(checks, deadline)

	for _, c := range s.Gateway {
		checks = append(checks, evalCondition(c, f))
	}
	pr.Gateway.Checks = checks
	pr.Gateway.Pass = true
	for _, c := range checks {
		if !c.Pass {
			pr.Gateway.Pass = false
			break
		}
	}

	pr.Elements = ev.takeElements()
	ar := ev.takeArena()
	var paid int64
	for i := range s.Elements {
		e := &s.Elements[i]
		er := &pr.Elements[i]
		*er = evalElement(e, f, &ar)
		er.Payable = ev.payable(*e)
		amt := er.CalculatedPence
		if e.CapPence > 0 && amt > e.CapPence {
			amt = e.CapPence
			er.ElementCapApplied = true
			er.Note = joinNote(er.Note, fmt.Sprintf("element cap %s applied", FormatPence(e.CapPence)))
		}
		if !pr.Gateway.Pass {
			amt = 0
			er.Note = joinNote(er.Note, "gateway failed: "+strings.Join(pr.Gateway.Failed(), ", "))
		}
		if er.Payable && s.PracticeCapPence > 0 && paid+amt > s.PracticeCapPence {
			amt = s.PracticeCapPence - paid
			er.PracticeCapApplied = true
			pr.PracticeCapApplied = true
			er.Note = joinNote(er.Note, fmt.Sprintf("practice cap %s applied", FormatPence(s.PracticeCapPence)))
		}
		er.AmountPence = amt
		if er.Payable {
			paid += amt
		} else {
			pr.IndicativePence += amt
		}
	}
	pr.TotalPence = paid
}

func orNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}

func joinNote(a, b string) string {
	if a == "" {
		return b
	}
	return a + "; " + b
}

func findMeasure(f *PracticeFigures, id string) *Measure {
	for i := range f.Measures {
		if f.Measures[i].ID == id {
			return &f.Measures[i]
		}
	}
	return nil
}

// figure returns the number a ref reads, or a reason it has none.
func figure(f *PracticeFigures, r Ref) (float64, string) {
	m := findMeasure(f, r.Measure)
	if m == nil {
		return 0, fmt.Sprintf("%s missing from the submission", r.Measure)
	}
	var p *float64
	switch r.Field {
	case FieldNumerator:
		p = m.Numerator
	case FieldDenominator:
		p = m.Denominator
	default:
		p = m.Value
	}
	if p == nil {
		return 0, fmt.Sprintf("%s has no figure", r)
	}
	if math.IsNaN(*p) || math.IsInf(*p, 0) {
		return 0, fmt.Sprintf("%s is not a finite number", r)
	}
	return *p, ""
}

// maxCount bounds a count of patients (or issues): far above any practice,
// and low enough that the integer arithmetic in evalAchievement cannot
// overflow.
const maxCount = 1e9

// count returns a ref's figure as a whole number of patients.
func count(f *PracticeFigures, r Ref) (uint64, string) {
	v, why := figure(f, r)
	if why != "" {
		return 0, why
	}
	if v < 0 || v != math.Trunc(v) || v > maxCount {
		return 0, fmt.Sprintf("%s is %v, not a whole number of patients up to %d", r, v, int64(maxCount))
	}
	return uint64(v), ""
}

func evalCondition(c Condition, f *PracticeFigures) Check {
	ch := Check{ID: c.ID}
	switch c.Type {
	case CondSubmission:
		ch.Pass = f.SubmissionID != ""
		if !ch.Pass {
			ch.Reason = "no submission for the period"
		}
	case CondDeclaration:
		for _, d := range f.Declarations {
			if d == c.Declaration {
				ch.Pass = true
			}
		}
		if !ch.Pass {
			ch.Reason = fmt.Sprintf("practice has not declared %s", c.Declaration)
		}
	case CondThreshold:
		v, why := figure(f, c.Measure)
		if why != "" {
			ch.Reason = why
			return ch
		}
		ch.Pass = compare(cmpFloatDecimal(v, c.Value), c.Op)
		if !ch.Pass {
			ch.Reason = fmt.Sprintf("%s is %v; needs %s %s", c.Measure, v, c.Op, c.Value)
		}
	}
	return ch
}

func compare(r int, op string) bool {
	switch op {
	case ">":
		return r > 0
	case ">=":
		return r >= 0
	case "<":
		return r < 0
	case "<=":
		return r <= 0
	case "==":
		return r == 0
	case "!=":
		return r != 0
	}
	return false
}

// cmpFloatDecimal compares a finite float64 with a decimal exactly.
func cmpFloatDecimal(v float64, d Decimal) int {
	if v == math.Trunc(v) && math.Abs(v) < maxCount {
		a := int64(v)
		if d.Scale == 0 {
			return cmpInt(a, d.Units)
		}
	}
	x, y := new(big.Rat).SetFloat64(v), big.NewRat(d.Units, pow10[d.Scale])
	return x.Cmp(y)
}

func cmpInt(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// arena holds one practice's optional figures, so that figures are not
// allocated one by one. Its slices have a fixed capacity and never grow, so
// the pointers it hands out stay valid.
type arena struct {
	ints  []int64
	fixed []Fixed
}

func (a *arena) i64(v uint64) *int64 {
	a.ints = append(a.ints, int64(v))
	return &a.ints[len(a.ints)-1]
}

func (a *arena) fix(v int64) *Fixed {
	a.fixed = append(a.fixed, Fixed(v))
	return &a.fixed[len(a.fixed)-1]
}

// evalElement computes one element's inputs and amount before caps.
func evalElement(e *Element, f *PracticeFigures, ar *arena) ElementResult {
	er := ElementResult{ID: e.ID, Type: e.Type}
	fail := func(why string) ElementResult {
		er.CalculatedPence = 0
		er.Note = why
		return er
	}
	switch e.Type {
	case PerPatient:
		a, why := count(f, e.Count)
		if why != "" {
			return fail(why)
		}
		er.A = ar.i64(a)
		return er.money(mulDiv([]uint64{a, uint64(e.RatePence.Units)}, []uint64{scaleOf(e.RatePence)}))
	case Reduction:
		a, why := count(f, e.Baseline)
		if why != "" {
			return fail(why)
		}
		b, why := count(f, e.Current)
		if why != "" {
			return fail(why)
		}
		er.A, er.B = ar.i64(a), ar.i64(b)
		if b >= a {
			er.Note = "no reduction against baseline"
			return er
		}
		return er.money(mulDiv([]uint64{a - b, uint64(e.RatePence.Units)}, []uint64{scaleOf(e.RatePence)}))
	case PerRegisteredPatient, Points:
		return evalAchievement(e, f, er, ar)
	}
	return fail("unknown element type")
}

func (er ElementResult) money(v int64, ok bool) ElementResult {
	if !ok {
		er.Note = "amount too large"
		return er
	}
	er.CalculatedPence = v
	return er
}

// evalAchievement handles the two element types on D = A / (B - C) x 100.
func evalAchievement(e *Element, f *PracticeFigures, er ElementResult, ar *arena) ElementResult {
	a, why := count(f, e.Numerator)
	if why != "" {
		er.Note = why
		return er
	}
	b, why := count(f, e.Denominator)
	if why != "" {
		er.Note = why
		return er
	}
	var c uint64
	er.A, er.B = ar.i64(a), ar.i64(b)
	if e.Exclusions.Measure != "" {
		if c, why = count(f, e.Exclusions); why != "" {
			er.Note = why
			return er
		}
		er.C = ar.i64(c)
	}
	var list uint64
	if e.ListSize.Measure == ListSizeRegisteredPatients {
		if f.ListSize == nil || *f.ListSize < 0 {
			er.Note = "registered patients (list size) not supplied"
			return er
		}
		list = uint64(*f.ListSize)
	} else if list, why = count(f, e.ListSize); why != "" {
		er.Note = why
		return er
	}
	er.ListSize = ar.i64(list)
	switch {
	case c > b:
		er.Note = "exclusions (C) exceed the denominator (B)"
		return er
	case b == c:
		er.Note = "no patients in the denominator (B - C = 0)"
		return er
	case a > b-c:
		er.Note = "numerator (A) exceeds denominator less exclusions (B - C)"
		return er
	}
	n := b - c
	ach, _ := mulDiv([]uint64{100 * FixedScale, a}, []uint64{n})
	er.Achievement = ar.fix(ach)
	// atLeast reports D >= t exactly: 100 A 10^s >= t.Units (B - C).
	atLeast := func(t Decimal) bool {
		return cmpProducts([]uint64{100, a, scaleOf(t)}, []uint64{uint64(t.Units), n}) >= 0
	}

	if e.Type == PerRegisteredPatient {
		for i := len(e.Tiers) - 1; i >= 0; i-- {
			if atLeast(e.Tiers[i].From) {
				er.Tier = i + 1
				t := e.Tiers[i].PencePerPatient
				return er.money(mulDiv([]uint64{list, uint64(t.Units)}, []uint64{scaleOf(t)}))
			}
		}
		er.Note = "achievement below the lowest tier"
		return er
	}

	// Points: H = (D - E) / (F - E) x G, 0 below E, G at or above F.
	// With E and F at a common scale s (E' = E 10^s, F' = F 10^s):
	// (D - E) / (F - E) = (100 A 10^s - E' n) / (n (F' - E')).
	E, F, G := e.LowerThreshold, e.UpperThreshold, e.MaxPoints
	var pnum, pden []uint64 // points = prod(pnum) / prod(pden)
	switch {
	case !atLeast(E):
		er.Points = ar.fix(0)
		er.Note = "achievement below the lower threshold"
		return er
	case atLeast(F):
		pnum, pden = []uint64{uint64(G.Units)}, []uint64{scaleOf(G)}
	default:
		s := max(E.Scale, F.Scale)
		x := 100*a*uint64(pow10[s]) - rescale(E, s)*n
		pnum = []uint64{x, uint64(G.Units)}
		pden = []uint64{n, rescale(F, s) - rescale(E, s), scaleOf(G)}
	}
	pts, _ := mulDiv(append([]uint64{FixedScale}, pnum...), pden)
	er.Points = ar.fix(pts)
	// Money = points x pence per point x list / national average, and with
	// a prevalence factor x (register / list) / national prevalence, in
	// which list cancels.
	ppp, avg := e.PencePerPoint, e.NationalAverageList
	num := append(pnum, uint64(ppp.Units), scaleOf(avg))
	den := append(pden, scaleOf(ppp), uint64(avg.Units))
	if pv := e.Prevalence; pv != nil {
		reg, why := count(f, pv.Register)
		if why != "" {
			er.Note = why
			return er
		}
		if list == 0 {
			er.Note = "list size is 0"
			return er
		}
		num = append(num, reg, scaleOf(pv.NationalPrevalence))
		den = append(den, uint64(pv.NationalPrevalence.Units))
	} else {
		num = append(num, list)
	}
	return er.money(mulDiv(num, den))
}

func (rec *Reconciliation) summarise(s *Scheme) {
	sum := Summary{Enrolled: len(rec.Practices), Missing: len(rec.Missing), Late: len(rec.Late),
		WrongPack: len(rec.WrongPack), NotEnrolled: len(rec.NotEnrolled)}
	sum.Elements = make([]ElementTotal, len(s.Elements))
	for i, e := range s.Elements {
		sum.Elements[i].ID = e.ID
	}
	for i := range rec.Practices {
		pr := &rec.Practices[i]
		if !pr.Missing {
			sum.WithFigures++
		}
		if !pr.Gateway.Pass {
			sum.GatewayFailed++
		}
		sum.PayablePence += pr.TotalPence
		sum.IndicativePence += pr.IndicativePence
		for j, er := range pr.Elements {
			t := &sum.Elements[j]
			if er.AmountPence > 0 {
				t.Practices++
			}
			if er.Payable {
				t.PayablePence += er.AmountPence
			} else {
				t.IndicativePence += er.AmountPence
			}
		}
	}
	rec.Summary = sum
}
