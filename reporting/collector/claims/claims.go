// Package claims turns stored figures into scheme payments and keeps each
// claim's state: the collector's side of docs/schemes.md.
//
// A reconciliation of a scheme's period is calculated from the practices'
// current submissions, the list sizes and declarations the ICB recorded,
// and stored; every claim (one practice's period) then moves
// open → calculated → declared → approved → paid, each move an audited
// event. Figures that change after calculation send the claim back to
// calculated: every move and every export first recalculates, and a move
// is refused if the figures were recalculated since the person looked.
package claims

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nhs-steward/steward/internal/buildinfo"
	"github.com/nhs-steward/steward/reporting/collector"
	"github.com/nhs-steward/steward/reporting/collector/store"
	"github.com/nhs-steward/steward/reporting/schemes"
)

// Service reconciles schemes against a store.
type Service struct {
	DB  *store.DB
	Now func() time.Time // nil: time.Now
}

func (s *Service) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

// Errors.
var (
	// ErrNotCalculated: the period has not been calculated yet.
	ErrNotCalculated = errors.New("period not calculated")
	// ErrStale: the figures were recalculated since the caller looked.
	ErrStale = store.ErrStale
)

// Scheme loads a stored scheme, retired or not.
func (s *Service) Scheme(ctx context.Context, id string) (*schemes.Scheme, error) {
	l, err := s.Listed(ctx, id)
	if err != nil {
		return nil, err
	}
	return l.Scheme, nil
}

// Listed is a stored scheme, loaded, with whether it is retired.
type Listed struct {
	*schemes.Scheme
	// Retired is when the scheme was retired (zero while it is in force),
	// by RetiredBy, for RetiredReason.
	Retired       time.Time
	RetiredBy     string
	RetiredReason string
}

// IsRetired reports whether the scheme has been retired.
func (l Listed) IsRetired() bool { return !l.Retired.IsZero() }

func load(st store.StoredScheme) (Listed, error) {
	sc, err := schemes.Parse("scheme "+st.ID, []byte(st.YAML))
	if err != nil {
		return Listed{}, fmt.Errorf("stored scheme %s no longer loads: %w", st.ID, err)
	}
	return Listed{Scheme: sc, Retired: st.RetiredAt, RetiredBy: st.RetiredBy, RetiredReason: st.RetiredReason}, nil
}

// Listed loads a stored scheme with its retirement.
func (s *Service) Listed(ctx context.Context, id string) (Listed, error) {
	st, err := s.DB.Scheme(ctx, id)
	if err != nil {
		return Listed{}, err
	}
	return load(st)
}

// AllSchemes loads every stored scheme, retired ones included, by id.
func (s *Service) AllSchemes(ctx context.Context) ([]Listed, error) {
	list, err := s.DB.Schemes(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]Listed, 0, len(list))
	for _, st := range list {
		l, err := load(st)
		if err != nil {
			return nil, err
		}
		out = append(out, l)
	}
	return out, nil
}

// Schemes loads the schemes in force (not retired), by id: what the
// dashboard shows by default.
func (s *Service) Schemes(ctx context.Context) ([]*schemes.Scheme, error) {
	all, err := s.AllSchemes(ctx)
	if err != nil {
		return nil, err
	}
	var out []*schemes.Scheme
	for _, l := range all {
		if !l.IsRetired() {
			out = append(out, l.Scheme)
		}
	}
	return out, nil
}

// SchemesOf lists the schemes practice p takes part in, retired ones
// included (marked), by id: what its agent asks, to learn which baseline
// and pack versions the schemes use.
func (s *Service) SchemesOf(ctx context.Context, p collector.Practice) ([]Listed, error) {
	all, err := s.AllSchemes(ctx)
	if err != nil {
		return nil, err
	}
	var out []Listed
	for _, l := range all {
		if Covers(l.Scheme, p) {
			out = append(out, l)
		}
	}
	return out, nil
}

// ErrRetired: the scheme was retired; it is kept for audit and nothing
// moves under it.
var ErrRetired = store.ErrRetired

// ErrNothingPayable: a claim with nothing payable has nothing to sign off.
var ErrNothingPayable = errors.New("nothing payable")

// CheckPeriod checks that period (YYYY-MM) is one of the scheme's.
func CheckPeriod(sc *schemes.Scheme, period string) error {
	if _, err := time.Parse("2006-01", period); err != nil || len(period) != 7 {
		return fmt.Errorf("period %q: want a month, YYYY-MM", period)
	}
	if period < sc.Periods.From || period > sc.Periods.To {
		return fmt.Errorf("period %s is outside scheme %s's periods, %s to %s", period, sc.ID, sc.Periods.From, sc.Periods.To)
	}
	return nil
}

// MonthEnd returns the last day of period (YYYY-MM), YYYY-MM-DD.
func MonthEnd(period string) string {
	t, _ := time.Parse("2006-01", period)
	return t.AddDate(0, 1, -1).Format(time.DateOnly)
}

// inputs is everything a period's calculation reads besides measures.
type inputs struct {
	subs  []store.PeriodFigures // the current submissions, by practice
	sizes map[string]int64      // list sizes in force
	decl  map[string][]string   // declarations in force
	names *practiceNames
}

// practiceNames are every practice's name by ODS code, with a digest of
// them (a calculation's result holds names, so its inputs include them).
type practiceNames struct {
	byODS  map[string]string
	digest string
}

// names reads every practice's name.
func (s *Service) names(ctx context.Context) (*practiceNames, error) {
	practices, err := s.DB.Practices(ctx, "")
	if err != nil {
		return nil, err
	}
	n := &practiceNames{byODS: make(map[string]string, len(practices))}
	h := sha256.New()
	for _, p := range practices { // ordered by ODS code
		n.byODS[p.ODS] = p.Name
		h.Write([]byte(p.ODS + "\x00" + p.Name + "\n"))
	}
	n.digest = hex.EncodeToString(h.Sum(nil))
	return n, nil
}

// scope is the ICB whose practices' figures a scheme reads ("" for a
// scheme that lists its practices).
func scope(sc *schemes.Scheme) string {
	if sc.AllPractices {
		return sc.ICB
	}
	return ""
}

// load reads a period's inputs; names, when not nil, are reused.
func (s *Service) load(ctx context.Context, sc *schemes.Scheme, period string, names *practiceNames) (*inputs, error) {
	in := &inputs{names: names}
	var err error
	if in.subs, err = s.DB.PeriodSubmissions(ctx, sc.Pack.ID, MonthEnd(period), scope(sc)); err != nil {
		return nil, err
	}
	if in.sizes, err = s.DB.ListSizesAt(ctx, period); err != nil {
		return nil, err
	}
	if in.decl, err = s.DB.DeclarationsAt(ctx, sc.ID, period); err != nil {
		return nil, err
	}
	if in.names == nil {
		if in.names, err = s.names(ctx); err != nil {
			return nil, err
		}
	}
	return in, nil
}

// calcFormat changes whenever what a calculation depends on changes in a
// way the inputs below do not show.
const calcFormat = "steward reconciliation 2" // 2: claims with nothing payable are closed

// digest identifies the inputs of a scheme's period: the scheme (stored
// schemes are never replaced), the collector's version (its rules), each
// submission taken, the list sizes, declarations and names. Equal digests
// give equal results.
func (in *inputs) digest(sc *schemes.Scheme, period string) string {
	buf := make([]byte, 0, 128*len(in.subs)+64*len(in.sizes)+1024)
	line := func(parts ...string) {
		for _, p := range parts {
			buf = append(append(buf, p...), 0)
		}
		buf = append(buf, '\n')
	}
	line(calcFormat, buildinfo.String(), sc.ID, period, in.names.digest)
	for _, f := range in.subs {
		line("s", f.Practice, f.IdempotencyKey, f.PackVersion, f.Baseline, f.ReceivedAt.UTC().Format(time.RFC3339Nano))
	}
	for _, ods := range slices.Sorted(maps.Keys(in.sizes)) {
		line("l", ods, strconv.FormatInt(in.sizes[ods], 10))
	}
	for _, ods := range slices.Sorted(maps.Keys(in.decl)) {
		line(append([]string{"d", ods}, in.decl[ods]...)...)
	}
	sum := sha256.Sum256(buf)
	return hex.EncodeToString(sum[:])
}

// figures reads the measures the scheme uses and builds each practice's
// figures.
func (s *Service) figures(ctx context.Context, sc *schemes.Scheme, period string, in *inputs) ([]schemes.PracticeFigures, error) {
	if err := s.DB.MeasuresOf(ctx, in.subs, sc.MeasureIDs()); err != nil {
		return nil, err
	}
	asOf := MonthEnd(period)
	out := make([]schemes.PracticeFigures, 0, len(in.subs))
	for _, r := range in.subs {
		if len(r.Measures) == 0 {
			continue // none of the measures the scheme reads: as if missing
		}
		f := schemes.PracticeFigures{ODS: r.Practice, Name: in.names.byODS[r.Practice], SubmissionID: r.IdempotencyKey,
			ReceivedAt: r.ReceivedAt, PackID: sc.Pack.ID, PackVersion: r.PackVersion, AsOf: asOf, Baseline: r.Baseline,
			Declarations: in.decl[r.Practice], Measures: make([]schemes.Measure, len(r.Measures))}
		if n, ok := in.sizes[r.Practice]; ok {
			f.ListSize = &n
		}
		for i, m := range r.Measures {
			f.Measures[i] = schemes.Measure{ID: m.ID, Kind: m.Kind, Numerator: m.Numerator, Denominator: m.Denominator, Value: m.Value}
		}
		out = append(out, f)
	}
	return out, nil
}

// Figures builds the figures of every practice with a current submission
// of the scheme's pack as of the period's month end (the measures the
// scheme reads), with the list sizes and declarations in force, and
// returns every practice's name by ODS code.
func (s *Service) Figures(ctx context.Context, sc *schemes.Scheme, period string) ([]schemes.PracticeFigures, map[string]string, error) {
	in, err := s.load(ctx, sc, period, nil)
	if err != nil {
		return nil, nil, err
	}
	figures, err := s.figures(ctx, sc, period, in)
	return figures, in.names.byODS, err
}

// Evaluate reconciles a period from the stored figures without storing
// anything. Each practice's State is its stored claim state (open when it
// has none).
func (s *Service) Evaluate(ctx context.Context, sc *schemes.Scheme, period string) (*schemes.Reconciliation, error) {
	if err := CheckPeriod(sc, period); err != nil {
		return nil, err
	}
	in, err := s.load(ctx, sc, period, nil)
	if err != nil {
		return nil, err
	}
	rec, err := s.evaluate(ctx, sc, period, in)
	if err != nil {
		return nil, err
	}
	withImplicit(rec, rec)
	return rec, nil
}

// withImplicit gives each practice of rec without a claim row (State "")
// the state its calculation implies: calculated when calc has figures for
// it, open when calc is nil or has none. A claim gets a row only when it
// moves beyond that (store.DB.SaveCalculation).
func withImplicit(rec, calc *schemes.Reconciliation) {
	present := map[string]bool{}
	if calc != nil {
		for _, pr := range calc.Practices {
			present[pr.ODS] = !pr.Missing
		}
	}
	for i := range rec.Practices {
		if pr := &rec.Practices[i]; pr.State == "" {
			pr.State = schemes.Open
			if present[pr.ODS] {
				pr.State = schemes.Calculated
			}
		}
	}
}

func (s *Service) evaluate(ctx context.Context, sc *schemes.Scheme, period string, in *inputs) (*schemes.Reconciliation, error) {
	figures, err := s.figures(ctx, sc, period, in)
	if err != nil {
		return nil, err
	}
	rec, err := schemes.Evaluate(sc, period, figures)
	if err != nil {
		return nil, err
	}
	claims, err := s.DB.Claims(ctx, sc.ID, period)
	if err != nil {
		return nil, err
	}
	for i := range rec.Practices {
		pr := &rec.Practices[i]
		if pr.Name == "" {
			pr.Name = in.names.byODS[pr.ODS] // missing practices too, for finance
		}
		pr.State = "" // no row: derived by the caller (see withImplicit)
		if c, ok := claims[pr.ODS]; ok {
			pr.State = c.State
		}
	}
	return rec, nil
}

// Outcome is the result of a calculation.
type Outcome struct {
	Scheme, Period string
	// Rec is the reconciliation with the claims' states; Recalculate
	// leaves it nil when nothing changed.
	Rec *schemes.Reconciliation
	// Version is the stored calculation's version after this one; it
	// changes only when something in the reconciliation changed.
	Version int64
	// First is true for the period's first calculation.
	First bool
	// Unchanged is true when the inputs were those of the stored
	// calculation, so nothing was calculated again.
	Unchanged bool
	// Changes are the figure changes since the previous calculation.
	Changes []schemes.FigureChange
	// Events are the claim moves recorded (open → calculated, and back to
	// calculated when figures changed).
	Events []schemes.Event
	// PaidChanged, when not nil, names paid claims whose figures changed:
	// they stay paid and need an adjustment outside the scheme. It wraps
	// schemes.ErrChangedAfterPayment.
	PaidChanged error
}

// Calculate reconciles a period from the stored figures and stores the
// result with the claim moves it causes, as done by actor (a user name,
// or "steward" for the collector itself). Calculating again with the same
// inputs stores nothing new; the outcome always holds the reconciliation.
func (s *Service) Calculate(ctx context.Context, sc *schemes.Scheme, period, actor string) (*Outcome, error) {
	out, err := s.Recalculate(ctx, sc, period, actor)
	if err != nil || out.Rec != nil {
		return out, err
	}
	if out.Rec, out.Version, err = s.Calculated(ctx, sc, period); err != nil {
		return nil, err
	}
	return out, nil
}

// Recalculate is Calculate without reading back an unchanged result: what
// the collector does every few minutes and the benchmark measures.
func (s *Service) Recalculate(ctx context.Context, sc *schemes.Scheme, period, actor string) (*Outcome, error) {
	return s.recalculate(ctx, sc, period, actor, nil)
}

// recalculate is Recalculate with the practices' names, when already read
// (nil: read them).
func (s *Service) recalculate(ctx context.Context, sc *schemes.Scheme, period, actor string, names *practiceNames) (*Outcome, error) {
	if err := CheckPeriod(sc, period); err != nil {
		return nil, err
	}
	for attempt := 0; ; attempt++ {
		out, err := s.calculate(ctx, sc, period, actor, names)
		if errors.Is(err, store.ErrStale) && attempt < 5 {
			continue // someone else calculated or moved a claim meanwhile
		}
		return out, err
	}
}

// CalculatePeriods recalculates several periods of a scheme, reading the
// practices once and working on up to four periods at a time (each period
// is its own calculation and transaction). The outcomes are in the order
// of periods; on an error, the first error is returned.
func (s *Service) CalculatePeriods(ctx context.Context, sc *schemes.Scheme, periods []string, actor string) ([]*Outcome, error) {
	names, err := s.names(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]*Outcome, len(periods))
	errs := make([]error, len(periods))
	next := make(chan int)
	var wg sync.WaitGroup
	for range min(4, len(periods)) {
		wg.Go(func() {
			for i := range next {
				out[i], errs[i] = s.recalculate(ctx, sc, periods[i], actor, names)
				if errs[i] != nil {
					errs[i] = fmt.Errorf("%s %s: %w", sc.ID, periods[i], errs[i])
				}
			}
		})
	}
	for i := range periods {
		next <- i
	}
	close(next)
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}

func (s *Service) calculate(ctx context.Context, sc *schemes.Scheme, period, actor string, names *practiceNames) (*Outcome, error) {
	meta, err := s.DB.CalculationMeta(ctx, sc.ID, period)
	first := errors.Is(err, collector.ErrNotFound)
	if err != nil && !first {
		return nil, err
	}
	in, err := s.load(ctx, sc, period, names)
	if err != nil {
		return nil, err
	}
	digest := in.digest(sc, period)
	out := &Outcome{Scheme: sc.ID, Period: period, First: first, Version: meta.Version}
	if !first && digest == meta.Inputs {
		out.Unchanged = true
		return out, nil
	}
	rec, err := s.evaluate(ctx, sc, period, in)
	if err != nil {
		return nil, err
	}
	// About 900 bytes a practice: one allocation, no growing.
	result, spans, err := stored(rec).AppendJSONSpans(make([]byte, 0, 1024*len(rec.Practices)+4096))
	if err != nil {
		return nil, err
	}
	// The previous result is decoded only when it differs.
	var prevRec *schemes.Reconciliation
	var prevResult []byte
	if !first {
		prev, err := s.DB.Calculation(ctx, sc.ID, period)
		if err != nil {
			return nil, err
		}
		if prev.Version != meta.Version {
			return nil, fmt.Errorf("calculation of %s %s: %w", sc.ID, period, store.ErrStale)
		}
		prevResult = prev.Result
		if bytes.Equal(result, prevResult) {
			prevRec = rec
		} else {
			prevRec = new(schemes.Reconciliation)
			if err := json.Unmarshal(prevResult, prevRec); err != nil {
				return nil, fmt.Errorf("stored calculation of %s %s: %w", sc.ID, period, err)
			}
		}
	}
	// Each claim's state before this calculation: its row, or what the
	// previous calculation implied.
	withImplicit(rec, prevRec)
	states := make(map[string]schemes.State, len(rec.Practices))
	for _, pr := range rec.Practices {
		states[pr.ODS] = pr.State
	}
	now := s.now().UTC()
	events, changes, paidErr := schemes.Recalculated(prevRec, rec, states, now)
	if paidErr != nil && !errors.Is(paidErr, schemes.ErrChangedAfterPayment) {
		return nil, paidErr
	}
	for _, e := range events {
		states[e.Practice] = e.To
	}
	for i := range rec.Practices {
		rec.Practices[i].State = states[rec.Practices[i].ODS]
	}
	out.Rec, out.Changes, out.Events, out.PaidChanged = rec, changes, events, paidErr
	if !first && len(events) == 0 && bytes.Equal(result, prevResult) {
		// New inputs, same result (a resubmission of the same figures):
		// remember the inputs so the next recalculation is cheap.
		return out, s.DB.UpdateCalculationInputs(ctx, sc.ID, period, meta.Version, digest)
	}
	out.Version = meta.Version + 1
	parts := make([]store.PracticePart, len(spans))
	for i, sp := range spans {
		parts[i] = store.PracticePart{Practice: rec.Practices[i].ODS, Result: result[sp[0]:sp[1]]}
	}
	calc := store.Calculation{Scheme: sc.ID, Period: period, Version: out.Version, CalculatedAt: now, CalculatedBy: actor,
		Inputs: digest, Result: result, Practices: parts}
	if err := s.DB.SaveCalculation(ctx, calc, meta.Version, events); err != nil {
		return nil, err
	}
	return out, nil
}

// stored is the reconciliation as kept: states are kept in the claims
// table, so they are left out and a move alone does not make the stored
// result differ.
func stored(rec *schemes.Reconciliation) *schemes.Reconciliation {
	c := *rec
	c.Practices = slices.Clone(rec.Practices)
	for i := range c.Practices {
		c.Practices[i].State = ""
	}
	return &c
}

// Calculated returns the stored calculation of a period with the claims'
// current states, without recalculating (ErrNotCalculated if none).
func (s *Service) Calculated(ctx context.Context, sc *schemes.Scheme, period string) (*schemes.Reconciliation, int64, error) {
	c, err := s.DB.Calculation(ctx, sc.ID, period)
	if errors.Is(err, collector.ErrNotFound) {
		return nil, 0, fmt.Errorf("%s %s: %w", sc.ID, period, ErrNotCalculated)
	}
	if err != nil {
		return nil, 0, err
	}
	rec := new(schemes.Reconciliation)
	if err := json.Unmarshal(c.Result, rec); err != nil {
		return nil, 0, fmt.Errorf("stored calculation of %s %s: %w", sc.ID, period, err)
	}
	claims, err := s.DB.Claims(ctx, sc.ID, period)
	if err != nil {
		return nil, 0, err
	}
	for i := range rec.Practices {
		pr := &rec.Practices[i]
		pr.State = ""
		if c, ok := claims[pr.ODS]; ok {
			pr.State = c.State
		}
	}
	withImplicit(rec, rec)
	return rec, c.Version, nil
}

// MoveRequest asks to move one claim.
type MoveRequest struct {
	Scheme   string
	Period   string
	Practice string
	To       schemes.State
	Reason   string
	// Version is the calculation version the person saw; 0 accepts the
	// current one (the command line, which shows the result after).
	Version int64
}

// Move recalculates the period, so that the claim stands on current
// figures, then moves the claim as user, with one of the user's sign-off
// roles that the scheme allows for the move. It returns the recorded
// event. The error wraps ErrStale when the figures changed since
// req.Version, schemes.ErrRole when the user holds no allowed role and
// schemes.ErrTransition when the claim is not in a state the move starts
// from.
func (s *Service) Move(ctx context.Context, req MoveRequest, u collector.User) (schemes.Event, error) {
	l, err := s.Listed(ctx, req.Scheme)
	if err != nil {
		return schemes.Event{}, err
	}
	sc := l.Scheme
	if l.IsRetired() {
		return schemes.Event{}, fmt.Errorf("scheme %s was retired on %s (%s): %w; its claims are kept for audit and no longer move",
			sc.ID, l.Retired.UTC().Format(time.DateOnly), l.RetiredReason, ErrRetired)
	}
	if err := CheckPeriod(sc, req.Period); err != nil {
		return schemes.Event{}, err
	}
	if err := inICB(sc, u); err != nil {
		return schemes.Event{}, err
	}
	if _, err := s.DB.CalculationMeta(ctx, sc.ID, req.Period); errors.Is(err, collector.ErrNotFound) {
		return schemes.Event{}, fmt.Errorf("%s %s: %w (run 'reconcile' first)", sc.ID, req.Period, ErrNotCalculated)
	}
	out, err := s.Calculate(ctx, sc, req.Period, schemes.RoleSteward)
	if err != nil {
		return schemes.Event{}, err
	}
	if req.Version != 0 && req.Version != out.Version {
		return schemes.Event{}, fmt.Errorf("the figures of %s %s were recalculated since you looked (version %d, now %d); review them again: %w",
			sc.ID, req.Period, req.Version, out.Version, ErrStale)
	}
	i := slices.IndexFunc(out.Rec.Practices, func(pr schemes.PracticeResult) bool { return pr.ODS == req.Practice })
	if i < 0 {
		return schemes.Event{}, fmt.Errorf("practice %s has no claim under %s: %w", req.Practice, sc.ID, collector.ErrNotFound)
	}
	pr := out.Rec.Practices[i]
	claim := schemes.Claim{Scheme: sc.ID, Period: req.Period, Practice: pr.ODS, State: pr.State}
	allowed := sc.AllowedRoles(pr.State, req.To)
	role := ""
	for _, r := range u.SignOff {
		if slices.Contains(allowed, r) {
			role = r
			break
		}
	}
	if role == "" {
		if !slices.ContainsFunc(allowed, func(r string) bool { return r != schemes.RoleSteward }) && allowed != nil {
			why := ""
			if pr.State == schemes.Closed {
				why = "; a closed claim has nothing to sign off (" + schemes.NothingPayable(out.Rec, &pr) + ") and reopens when figures make something payable"
			}
			return schemes.Event{}, fmt.Errorf("%w: only the collector moves a claim from %s to %s, when it recalculates%s",
				schemes.ErrTransition, pr.State, req.To, why)
		}
		if allowed == nil {
			_, err := sc.Move(claim, req.To, schemes.Actor{ID: u.Name}, s.now(), req.Reason)
			return schemes.Event{}, err
		}
		have := "none"
		if len(u.SignOff) > 0 {
			have = strings.Join(u.SignOff, ", ")
		}
		return schemes.Event{}, fmt.Errorf("%w: %s holds sign-off roles %s; moving %s to %s needs one of %s",
			schemes.ErrRole, u.Name, have, pr.State, req.To, strings.Join(allowed, ", "))
	}
	if err := s.forPractice(ctx, pr.ODS, u); err != nil {
		return schemes.Event{}, err
	}
	if pr.TotalPence == 0 && (req.To == schemes.Declared || req.To == schemes.Approved || req.To == schemes.Paid) {
		// A recalculation closes such a claim; this guards the store.
		return schemes.Event{}, fmt.Errorf("%w: %s", ErrNothingPayable, schemes.NothingPayable(out.Rec, &pr))
	}
	if err := s.separateDuties(ctx, claim, req.To, u); err != nil {
		return schemes.Event{}, err
	}
	reason := req.Reason
	var paid *int64
	if req.To == schemes.Paid {
		// What is paid is fixed here: figures that change later leave the
		// claim paid and show beside this amount.
		amount := pr.TotalPence
		paid = &amount
		reason = strings.TrimSuffix(fmt.Sprintf("paid £%s on calculation %d; %s", schemes.FormatPence(amount), out.Version, reason), "; ")
	}
	ev, err := sc.Move(claim, req.To, schemes.Actor{ID: u.Name, Role: role, Practice: u.Practice}, s.now(), reason)
	if err != nil {
		return schemes.Event{}, err
	}
	moved := ev
	moved.PaidPence = paid
	if err := s.DB.MoveClaim(ctx, moved, out.Version); err != nil {
		return schemes.Event{}, err
	}
	return ev, nil
}

// inICB checks that u acts within scheme sc's ICB: a claim is moved only
// by people of the scheme's ICB (an admin too). A user of another ICB is
// refused even for a practice of their own ICB that the scheme lists.
func inICB(sc *schemes.Scheme, u collector.User) error {
	if u.Disabled {
		return fmt.Errorf("%w: %s is disabled", schemes.ErrRole, u.Name)
	}
	if u.ICB != sc.ICB {
		icb := "no ICB"
		if u.ICB != "" {
			icb = "ICB " + u.ICB
		}
		return fmt.Errorf("%w: %s belongs to %s, and scheme %s is ICB %s's: only that ICB's users move its claims",
			schemes.ErrRole, u.Name, icb, sc.ID, sc.ICB)
	}
	return nil
}

// forPractice checks that u may act for practice ods: see it, as the
// dashboard's rules say (a practice user only their own practice).
func (s *Service) forPractice(ctx context.Context, ods string, u collector.User) error {
	p, err := s.DB.Practice(ctx, ods)
	if errors.Is(err, collector.ErrNotFound) {
		return fmt.Errorf("practice %s: %w", ods, collector.ErrNotFound)
	}
	if err != nil {
		return err
	}
	if !collector.CanSeePractice(&u, &p) {
		return fmt.Errorf("%w: %s may not act for practice %s (ICB %s)", schemes.ErrRole, u.Name, p.ODS, p.ICB)
	}
	return nil
}

// ErrSameActor: one person may not both make and check a claim: whoever
// declared it may not approve it, and whoever declared or approved it may
// not pay it.
var ErrSameActor = errors.New("separation of duties")

// separateDuties refuses u approving or paying claim c when u already
// declared or approved it since it was last calculated.
func (s *Service) separateDuties(ctx context.Context, c schemes.Claim, to schemes.State, u collector.User) error {
	if to != schemes.Approved && to != schemes.Paid {
		return nil
	}
	history, err := s.DB.ClaimEvents(ctx, c.Scheme, c.Period, c.Practice)
	if err != nil {
		return err
	}
	for i := len(history) - 1; i >= 0 && history[i].To != schemes.Calculated; i-- {
		if e := history[i]; e.Actor == u.Name {
			return fmt.Errorf("%w: %s %s this claim, so someone else must move it to %s", ErrSameActor, u.Name, e.To, to)
		}
	}
	return nil
}

// RecalculateAll recalculates every calculated period of every scheme in
// force (a retired scheme stays as it was when retired), as
// the collector does in the background so that new figures send claims
// back to calculated without waiting for someone to look. It returns the
// outcomes that changed something; a paid claim with changed figures is
// reported in its outcome, not as an error.
func (s *Service) RecalculateAll(ctx context.Context) ([]*Outcome, error) {
	calcs, err := s.DB.Calculations(ctx, "")
	if err != nil {
		return nil, err
	}
	names, err := s.names(ctx)
	if err != nil {
		return nil, err
	}
	loaded := map[string]*schemes.Scheme{}
	var out []*Outcome
	var errs []error
	for _, c := range calcs {
		sc, ok := loaded[c.Scheme]
		if !ok {
			l, err := s.Listed(ctx, c.Scheme)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			if l.IsRetired() {
				sc = nil // kept as it was when retired
			} else {
				sc = l.Scheme
			}
			loaded[c.Scheme] = sc
		}
		if sc == nil {
			continue
		}
		o, err := s.recalculate(ctx, sc, c.Period, schemes.RoleSteward, names)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s %s: %w", c.Scheme, c.Period, err))
			continue
		}
		if o.Version != c.Version || o.PaidChanged != nil {
			out = append(out, o)
		}
	}
	return out, errors.Join(errs...)
}

// Periods returns the calculated periods of a scheme, newest first.
func (s *Service) Periods(ctx context.Context, schemeID string) ([]string, error) {
	calcs, err := s.DB.Calculations(ctx, schemeID)
	if err != nil {
		return nil, err
	}
	out := make([]string, len(calcs))
	for i, c := range calcs {
		out[i] = c.Period
	}
	return out, nil
}

// PaidAmounts returns what was paid on each paid claim of a period, by
// practice.
func (s *Service) PaidAmounts(ctx context.Context, schemeID, period string) (map[string]int64, error) {
	claims, err := s.DB.Claims(ctx, schemeID, period)
	if err != nil {
		return nil, err
	}
	out := map[string]int64{}
	for ods, c := range claims {
		if c.PaidPence != nil {
			out[ods] = *c.PaidPence
		}
	}
	return out, nil
}

// PracticeClaim is one practice's claim in a calculated period: its part
// of the stored calculation, with the claim's state, what was paid and
// its moves.
type PracticeClaim struct {
	Period  string
	Version int64 // the calculation's
	Result  schemes.PracticeResult
	// Paid is what was paid, once the claim is paid.
	Paid    *int64
	History []schemes.Event
}

// PracticeClaims returns a practice's claims in the latest limit
// calculated periods of sc, newest first, leaving out periods whose
// calculation does not include it. It reads that practice's part of each
// calculation only, in two queries whatever the number of periods: what
// the practice page shows, where Calculated would read every practice's
// results of every period.
func (s *Service) PracticeClaims(ctx context.Context, sc *schemes.Scheme, practice string, limit int) ([]PracticeClaim, error) {
	calcs, err := s.DB.PracticeCalculations(ctx, sc.ID, practice, limit)
	if err != nil {
		return nil, err
	}
	periods := make([]string, len(calcs))
	for i, c := range calcs {
		periods[i] = c.Period
	}
	events, err := s.DB.PracticeClaimEvents(ctx, sc.ID, practice, periods)
	if err != nil {
		return nil, err
	}
	out := make([]PracticeClaim, len(calcs))
	for i, c := range calcs {
		pc := PracticeClaim{Period: c.Period, Version: c.Version, Paid: c.PaidPence, History: events[c.Period]}
		if err := json.Unmarshal(c.Result, &pc.Result); err != nil {
			return nil, fmt.Errorf("stored calculation of %s %s for %s: %w", sc.ID, c.Period, practice, err)
		}
		// As Calculated: the claim's row, or what the calculation implies.
		pc.Result.State = schemes.State(c.State)
		if pc.Result.State == "" {
			pc.Result.State = schemes.Open
			if !pc.Result.Missing {
				pc.Result.State = schemes.Calculated
			}
		}
		out[i] = pc
	}
	return out, nil
}

// History returns the moves of one practice's claim, oldest first.
func (s *Service) History(ctx context.Context, schemeID, period, practice string) ([]schemes.Event, error) {
	return s.DB.ClaimEvents(ctx, schemeID, period, practice)
}

// Covers reports whether practice p takes part in scheme sc.
func Covers(sc *schemes.Scheme, p collector.Practice) bool {
	if sc.AllPractices {
		return p.ICB == sc.ICB
	}
	_, found := slices.BinarySearch(sc.Practices, p.ODS)
	return found
}

// CanSeeScheme reports whether u may see scheme sc's claims: admins all,
// others those of their ICB.
func CanSeeScheme(u *collector.User, sc *schemes.Scheme) bool {
	if u == nil || u.Disabled {
		return false
	}
	return u.Role == collector.RoleAdmin || (u.ICB != "" && u.ICB == sc.ICB)
}

// MovesFor lists the states u may move claim c to under sc, in the
// machine's order (forward moves first).
func MovesFor(sc *schemes.Scheme, u *collector.User, c schemes.Claim) []schemes.State {
	if u == nil || u.Disabled || u.ICB != sc.ICB {
		return nil
	}
	var out []schemes.State
	for _, to := range []schemes.State{schemes.Declared, schemes.Approved, schemes.Paid, schemes.Calculated} {
		allowed := sc.AllowedRoles(c.State, to)
		if !slices.ContainsFunc(u.SignOff, func(r string) bool { return slices.Contains(allowed, r) }) {
			continue
		}
		if to == schemes.Declared && u.Practice != c.Practice {
			continue
		}
		out = append(out, to)
	}
	return out
}
