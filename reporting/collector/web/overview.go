package web

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/nhs-steward/steward/reporting/collector"
	"github.com/nhs-steward/steward/reporting/collector/claims"
	"github.com/nhs-steward/steward/reporting/schemes"
	"github.com/nhs-steward/steward/reporting/wire"
	"github.com/nhs-steward/steward/searches/bundle"
)

// Claims is what the web side needs to show and move claims;
// *claims.Service implements it.
type Claims interface {
	Schemes(ctx context.Context) ([]*schemes.Scheme, error)
	// Scheme loads a stored scheme, retired or not (collector.ErrNotFound
	// when there is none).
	Scheme(ctx context.Context, id string) (*schemes.Scheme, error)
	Periods(ctx context.Context, schemeID string) ([]string, error)
	Calculated(ctx context.Context, sc *schemes.Scheme, period string) (*schemes.Reconciliation, int64, error)
	History(ctx context.Context, schemeID, period, practice string) ([]schemes.Event, error)
	PaidAmounts(ctx context.Context, schemeID, period string) (map[string]int64, error)
	Move(ctx context.Context, req claims.MoveRequest, u collector.User) (schemes.Event, error)
	// PracticeClaims reads one practice's part of the latest calculated
	// periods, not every practice's.
	PracticeClaims(ctx context.Context, sc *schemes.Scheme, practice string, limit int) ([]claims.PracticeClaim, error)
}

var _ Claims = (*claims.Service)(nil)

// OverviewFigures are the measures the overview shows for each practice,
// from its latest submission.
var OverviewFigures = []string{"long_term", "high_dose", "long_term_reviewed", "ome_per_1000"}

// OverviewRow is one practice on the ICB overview.
type OverviewRow struct {
	Practice  collector.Practice
	Status    string // ok, silent, never heard from, not enrolled
	Heartbeat *collector.Heartbeat
	AsOf      string // latest as-of date with figures, "" if none
	Figures   map[string]collector.MeasureRow
	// Claim is the practice's result in the selected scheme's period, nil
	// when the practice is not in it or it is not calculated.
	Claim *schemes.PracticeResult
	// Bundle is what the latest heartbeat says of the search bundle: the
	// version running, waiting for approval, failed, withdrawn.
	Bundle *wire.BundleReport
	// RunningWithdrawn is set when the agent still runs a version its
	// authors withdrew (it falls back at its next update).
	RunningWithdrawn *bundle.Withdrawal
	// PackVersion is the pack version that produced the latest figures;
	// Withdrawn is set when its authors withdrew it.
	PackVersion string
	Withdrawn   *bundle.Withdrawal
}

// Figure returns the practice's latest value of measure id for the page.
func (r OverviewRow) Figure(id string) string {
	m, ok := r.Figures[id]
	if !ok {
		return "—"
	}
	u := UnitOf(m.MeasureID, m.Kind, m.Per, nil)
	if m.Suppressed || m.Value == nil {
		return FormatFigure(m.Value, m.Suppressed, u)
	}
	return FormatNumber(*m.Value, u) // the unit is in the column's heading
}

// OverviewView is the data of the overview page.
type OverviewView struct {
	Rows    []OverviewRow
	Schemes []*schemes.Scheme
	Scheme  *schemes.Scheme // selected; nil when none
	Periods []string        // calculated periods of Scheme, newest first
	// Period is the selected period: by default the latest whose month has
	// ended by the collector's clock (LatestEnded), never one still
	// running; "" when none has ended yet. Rec is nil when it is not
	// calculated.
	Period      string
	LatestEnded string
	Version     int64
	Rec         *schemes.Reconciliation
	SilentDays  int
	Counts      map[string]int // claim states and statuses, for the summary line
	// Releases are the pack's versions with how many practices run each,
	// newest first; Pack names the pack.
	Releases []ReleaseRow
	Pack     string
	// Totals says whether the user may see the scheme's totals across
	// the ICB (a practice user sees only their own practice's row).
	Totals bool
}

// SilenceDays is how long an agent may go without a heartbeat before the
// overview calls it silent.
const SilenceDays = 3

func (w *Web) index(rw http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	u := UserFrom(ctx)
	if fe := overviewQuery(r.URL.Query()); fe != nil {
		w.refuse(rw, r, http.StatusBadRequest, fe.Error())
		return
	}
	ps, err := w.PracticesFor(ctx, u)
	if err != nil {
		w.fail(rw, r, err)
		return
	}
	v := OverviewView{SilentDays: SilenceDays, Counts: map[string]int{}, Pack: DefaultPack}
	published := w.releases(ctx, DefaultPack)
	icb := ""
	if u.Role != collector.RoleAdmin {
		icb = u.ICB
	}
	hbs, err := w.opts.Store.LastHeartbeats(ctx, icb)
	if err != nil {
		w.fail(rw, r, err)
		return
	}
	latest, err := w.opts.Store.LatestMeasures(ctx, DefaultPack, icb, OverviewFigures)
	if err != nil {
		w.fail(rw, r, err)
		return
	}
	figures := map[string]map[string]collector.MeasureRow{}
	for _, m := range latest {
		if figures[m.Practice] == nil {
			figures[m.Practice] = map[string]collector.MeasureRow{}
		}
		figures[m.Practice][m.MeasureID] = m
	}
	if err := w.selectScheme(ctx, r, u, &v); err != nil {
		w.fail(rw, r, err)
		return
	}
	claimOf := map[string]*schemes.PracticeResult{}
	if v.Rec != nil {
		for i := range v.Rec.Practices {
			claimOf[v.Rec.Practices[i].ODS] = &v.Rec.Practices[i]
		}
	}
	now := w.now()
	for _, p := range ps {
		row := OverviewRow{Practice: p, Figures: figures[p.ODS], Claim: claimOf[p.ODS]}
		if hb, ok := hbs[p.ODS]; ok {
			row.Heartbeat = &hb
		}
		var versions []string
		for _, id := range OverviewFigures {
			if m, ok := row.Figures[id]; ok {
				row.AsOf = m.AsOf
				if !slices.Contains(versions, m.PackVersion) {
					versions = append(versions, m.PackVersion)
				}
			}
		}
		row.PackVersion = strings.Join(versions, ", ")
		if r, ok := published[row.PackVersion]; ok && r.Withdrawn != nil {
			row.Withdrawn = r.Withdrawn
			v.Counts["figures withdrawn"]++
		}
		if row.Bundle = BundleReport(row.Heartbeat); row.Bundle != nil {
			if r, ok := published[row.Bundle.Running]; ok && r.Withdrawn != nil && !row.Bundle.BuiltIn {
				row.RunningWithdrawn = r.Withdrawn
				v.Counts["running withdrawn"]++
			}
			if row.Bundle.Waiting != "" {
				v.Counts["waiting"]++
			}
			if row.Bundle.Failed != "" {
				v.Counts["failed"]++
			}
			if row.Bundle.FellBackFrom != "" {
				v.Counts["fell back"]++
			}
		}
		switch {
		case !p.Enrolled():
			row.Status = "not enrolled"
		case row.Heartbeat == nil:
			row.Status = "never heard from"
		case now.Sub(row.Heartbeat.ReceivedAt) > SilenceDays*24*time.Hour:
			row.Status = "silent"
		default:
			row.Status = "ok"
		}
		v.Counts[row.Status]++
		if row.Claim != nil {
			v.Counts[string(row.Claim.State)]++
		}
		v.Rows = append(v.Rows, row)
	}
	v.Releases = releaseRows(DefaultPack, published, v.Rows)
	w.Render(rw, r, http.StatusOK, "index", Page{Title: "Practices", Data: v})
}

// LatestEndedPeriod returns the latest of sc's periods whose month has
// ended at now (UTC), or "" when none has: the period the overview opens
// on, since a month still running has no final figures to pay on.
func LatestEndedPeriod(sc *schemes.Scheme, now time.Time) string {
	now = now.UTC()
	// The month before now's is the latest that has ended.
	ended := time.Date(now.Year(), now.Month(), 1, 0, 0, 0, 0, time.UTC).AddDate(0, -1, 0).Format("2006-01")
	if ended > sc.Periods.To {
		ended = sc.Periods.To
	}
	if ended < sc.Periods.From {
		return ""
	}
	return ended
}

// selectScheme fills the scheme part of the overview from ?scheme= and
// ?period= (defaults: the first scheme in force the user may see, and its
// latest period whose month has ended).
func (w *Web) selectScheme(ctx context.Context, r *http.Request, u *collector.User, v *OverviewView) error {
	if w.opts.Claims == nil {
		return nil
	}
	all, err := w.opts.Claims.Schemes(ctx)
	if err != nil {
		return err
	}
	for _, sc := range all {
		if claims.CanSeeScheme(u, sc) {
			v.Schemes = append(v.Schemes, sc)
		}
	}
	if len(v.Schemes) == 0 {
		return nil
	}
	v.Scheme = v.Schemes[0]
	if id := r.URL.Query().Get("scheme"); id != "" {
		i := slices.IndexFunc(v.Schemes, func(sc *schemes.Scheme) bool { return sc.ID == id })
		if i < 0 {
			return nil // unknown or not visible: show no scheme rather than guess
		}
		v.Scheme = v.Schemes[i]
	}
	if v.Periods, err = w.opts.Claims.Periods(ctx, v.Scheme.ID); err != nil {
		return err
	}
	v.LatestEnded = LatestEndedPeriod(v.Scheme, w.now())
	v.Period = v.LatestEnded
	if p := r.URL.Query().Get("period"); p != "" {
		if claims.CheckPeriod(v.Scheme, p) != nil {
			v.Period = "" // not one of the scheme's: show none rather than guess
			return nil
		}
		v.Period = p
	}
	if !slices.Contains(v.Periods, v.Period) {
		return nil // not calculated yet: the page says so
	}
	v.Rec, v.Version, err = w.opts.Claims.Calculated(ctx, v.Scheme, v.Period)
	v.Totals = collector.CanSeeICB(u, v.Scheme.ICB)
	return err
}

// PaymentView is one calculated period of a scheme on the practice page.
type PaymentView struct {
	Scheme  *schemes.Scheme
	Period  string
	Version int64
	Result  schemes.PracticeResult
	Moves   []schemes.State // what the signed-in user may do
	History []schemes.Event
	// Paid is what was paid on a paid claim; PaidDiffers says the figures
	// changed since, so the calculation now gives another amount.
	Paid        *int64
	PaidDiffers bool
	// ClosedWhy is why a closed claim pays nothing: the reason the
	// collector closed it with.
	ClosedWhy string
	// Declaration is the wording the practice manager confirms when
	// declaring (shown with the declare button).
	Declaration string
	// NoMovesWhy says why the user has no button, when they have none.
	NoMovesWhy string
}

// DeclarationText is what a practice declares when it declares a claim:
// the scheme's wording (sign_off.declaration), or the collector's standard
// wording when it has none, for the practice, period and amount.
func DeclarationText(sc *schemes.Scheme, practice collector.Practice, period string, pence int64) string {
	if sc.SignOff.Declaration != "" {
		return strings.NewReplacer("{practice}", practice.Name, "{ods}", practice.ODS, "{scheme}", sc.Title,
			"{period}", Month(period), "{amount}", Money(pence)).Replace(sc.SignOff.Declaration)
	}
	return fmt.Sprintf("I declare, on behalf of %s (%s), that the figures behind this claim under %s for %s are a true record of the practice's activity "+
		"taken from its clinical system by Steward, that the practice has met the scheme's conditions for the %s claimed, "+
		"and that I will tell the ICB at once if I find that any of them is wrong. I understand that the ICB may recover payments made on figures that were wrong.",
		practice.Name, practice.ODS, sc.Title, Month(period), Money(pence))
}

// noMovesWhy says why u has no move on claim c of sc, "" when they have
// one (or it is obvious from the claim, as for a closed one).
func noMovesWhy(sc *schemes.Scheme, u *collector.User, c schemes.Claim, payable int64) string {
	switch c.State {
	case schemes.Closed:
		return "" // the page says why it is closed
	case schemes.Paid:
		return "This claim is paid: there is nothing more to sign off."
	case schemes.Open:
		return "This claim is not calculated yet: there is nothing to sign off until it is."
	}
	if payable == 0 && c.State == schemes.Calculated {
		return "Nothing is payable on this claim, so there is nothing to declare. It can be declared if new figures make something payable."
	}
	next := map[schemes.State]schemes.State{schemes.Calculated: schemes.Declared, schemes.Declared: schemes.Approved, schemes.Approved: schemes.Paid}[c.State]
	verb := map[schemes.State]string{schemes.Declared: "declare", schemes.Approved: "approve", schemes.Paid: "mark as paid"}[next]
	allowed := sc.AllowedRoles(c.State, next)
	who := strings.Join(allowed, " or ")
	if who == "" {
		who = "nobody (the scheme names no role)"
	}
	mine := "you have no sign-off role"
	if len(u.SignOff) > 0 {
		mine = "your sign-off roles are " + strings.Join(u.SignOff, ", ")
	}
	msg := fmt.Sprintf("You cannot %s this claim: only %s may, and %s.", verb, who, mine)
	if next == schemes.Declared && slices.ContainsFunc(u.SignOff, func(r string) bool { return slices.Contains(allowed, r) }) && u.Practice != c.Practice {
		msg = fmt.Sprintf("You cannot declare this claim: only someone of the practice itself may, and you are not of %s.", c.Practice)
	}
	var unknown []string
	named := append(append(append([]string{}, sc.SignOff.Declare...), sc.SignOff.Approve...), sc.SignOff.Pay...)
	for _, r := range u.SignOff {
		if !slices.Contains(named, r) {
			unknown = append(unknown, r)
		}
	}
	if len(unknown) > 0 {
		slices.Sort(named)
		msg += fmt.Sprintf(" The scheme names no role %s (its roles are %s): if that is a misspelling, ask your Steward administrator to correct your sign-off roles.",
			strings.Join(unknown, ", "), strings.Join(slices.Compact(named), ", "))
	}
	if u.ICB != sc.ICB {
		msg = "You cannot sign off this claim: you are not of the scheme's ICB, " + sc.ICB + "."
	}
	return msg
}

// ElementTitle returns the title of element id of the view's scheme.
func (p PaymentView) ElementTitle(id string) string {
	for _, e := range p.Scheme.Elements {
		if e.ID == id {
			return e.Title
		}
	}
	return id
}

// maxPaymentPeriods bounds how many calculated periods of a scheme the
// practice page shows.
const maxPaymentPeriods = 12

// payments returns the calculated periods of every scheme covering p that
// u may see, newest first.
func (w *Web) payments(ctx context.Context, u *collector.User, p collector.Practice) ([]PaymentView, error) {
	if w.opts.Claims == nil {
		return nil, nil
	}
	all, err := w.opts.Claims.Schemes(ctx)
	if err != nil {
		return nil, err
	}
	var out []PaymentView
	for _, sc := range all {
		if !claims.CanSeeScheme(u, sc) || !claims.Covers(sc, p) {
			continue
		}
		pcs, err := w.opts.Claims.PracticeClaims(ctx, sc, p.ODS, maxPaymentPeriods)
		if err != nil {
			return nil, err
		}
		for _, pc := range pcs {
			period := pc.Period
			pv := PaymentView{Scheme: sc, Period: period, Version: pc.Version, Result: pc.Result, History: pc.History}
			claim := schemes.Claim{Scheme: sc.ID, Period: period, Practice: p.ODS, State: pv.Result.State}
			for _, to := range claims.MovesFor(sc, u, claim) {
				// Nothing payable: nothing to declare, approve or pay
				// (the collector would refuse it); sending back stays.
				if pv.Result.TotalPence == 0 && to != schemes.Calculated {
					continue
				}
				pv.Moves = append(pv.Moves, to)
			}
			if slices.Contains(pv.Moves, schemes.Declared) {
				pv.Declaration = DeclarationText(sc, p, period, pv.Result.TotalPence)
			}
			if len(pv.Moves) == 0 {
				pv.NoMovesWhy = noMovesWhy(sc, u, claim, pv.Result.TotalPence)
			}
			if pc.Paid != nil {
				pv.Paid, pv.PaidDiffers = pc.Paid, *pc.Paid != pv.Result.TotalPence
			}
			if pv.Result.State == schemes.Closed && len(pv.History) > 0 {
				pv.ClosedWhy = pv.History[len(pv.History)-1].Reason
			}
			out = append(out, pv)
		}
	}
	return out, nil
}

// moveClaim answers POST /claims/move, the buttons of the practice page.
func (w *Web) moveClaim(rw http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	u := UserFrom(ctx)
	if w.opts.Claims == nil {
		w.refuse(rw, r, http.StatusNotFound, "claims are not available on this collector")
		return
	}
	r.Body = http.MaxBytesReader(rw, r.Body, maxFormBytes)
	if err := r.ParseForm(); err != nil {
		w.refuse(rw, r, http.StatusBadRequest, "the form could not be read")
		return
	}
	f := r.PostForm
	ods := f.Get("practice")
	p, err := w.practiceNamed(ctx, ods)
	if err != nil || !collector.CanSeePractice(u, &p) {
		w.refuse(rw, r, http.StatusNotFound, "no such practice, or you may not see it")
		return
	}
	req, fe := moveRequest(f, ods)
	if fe != nil {
		w.log.Warn("claim move refused: malformed form", "user", u.Name, "practice", ods, "field", fe.field)
		w.refuse(rw, r, http.StatusBadRequest, fe.Error())
		return
	}
	if status, err := w.checkPeriod(ctx, req); status == http.StatusInternalServerError {
		w.fail(rw, r, err)
		return
	} else if err != nil {
		w.log.Warn("claim move refused", "user", u.Name, "practice", ods, "scheme", req.Scheme, "period", req.Period, "err", err)
		w.Render(rw, r, status, "claim", Page{Title: "Claim not moved", Error: err.Error(), Data: p})
		return
	}
	// Whoever may declare must confirm the declaration's wording; anyone
	// else is refused by the claims service, saying why.
	if sc, err := w.opts.Claims.Scheme(ctx, req.Scheme); err == nil && req.To == schemes.Declared && f.Get("confirm") != "yes" &&
		slices.ContainsFunc(u.SignOff, func(r string) bool { return slices.Contains(sc.SignOff.Declare, r) }) {
		w.log.Warn("claim move refused: declaration not confirmed", "user", u.Name, "practice", ods, "scheme", req.Scheme, "period", req.Period)
		w.Render(rw, r, http.StatusUnprocessableEntity, "claim", Page{Title: "Claim not moved",
			Error: "Tick the box to confirm the declaration before you declare the claim: nothing was declared.", Data: p})
		return
	}
	ev, err := w.opts.Claims.Move(ctx, req, *u)
	if err != nil {
		status := http.StatusInternalServerError
		switch {
		case errors.Is(err, claims.ErrStale), errors.Is(err, schemes.ErrTransition), errors.Is(err, claims.ErrNothingPayable),
			errors.Is(err, claims.ErrRetired):
			status = http.StatusConflict
		case errors.Is(err, schemes.ErrRole), errors.Is(err, claims.ErrSameActor):
			status = http.StatusForbidden
		case errors.Is(err, schemes.ErrReason), errors.Is(err, collector.ErrNotFound), errors.Is(err, claims.ErrNotCalculated):
			status = http.StatusUnprocessableEntity
		}
		if status == http.StatusInternalServerError {
			w.fail(rw, r, err)
			return
		}
		w.log.Warn("claim move refused", "user", u.Name, "practice", ods, "scheme", req.Scheme, "period", req.Period, "to", req.To, "err", err)
		w.Render(rw, r, status, "claim", Page{Title: "Claim not moved", Error: err.Error(), Data: p})
		return
	}
	w.log.Info("claim moved", "user", u.Name, "practice", ods, "scheme", ev.Scheme, "period", ev.Period, "from", ev.From, "to", ev.To)
	q := url.Values{"moved": {string(ev.To)}, "scheme": {ev.Scheme}, "period": {ev.Period}}
	http.Redirect(rw, r, fmt.Sprintf("/practices/%s?%s#claim-%s-%s", p.ODS, q.Encode(), ev.Scheme, ev.Period), http.StatusSeeOther)
}
