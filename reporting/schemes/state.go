package schemes

import (
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"
)

// State is the state of a claim: one practice's period under one scheme.
type State string

// Claim states, in order.
const (
	Open       State = "open"       // the period is running; nothing calculated
	Calculated State = "calculated" // Steward has calculated the amounts
	Declared   State = "declared"   // the practice has declared the calculation
	Approved   State = "approved"   // the ICB has approved the declaration
	Paid       State = "paid"       // finance has paid; final
	// Closed: nothing is payable on the calculated figures, so there is
	// nothing to sign off. Steward closes the claim with the reason and
	// reopens it (to calculated) if a recalculation makes something
	// payable; no person moves it.
	Closed State = "closed"
)

// States lists every claim state, in the order the machine runs through
// them, closed last.
var States = []State{Open, Calculated, Declared, Approved, Paid, Closed}

// Errors of the state machine.
var (
	// ErrTransition: the move is not one the machine allows.
	ErrTransition = errors.New("transition not allowed")
	// ErrRole: the actor's role may not make the move.
	ErrRole = errors.New("role not allowed")
	// ErrReason: a move backwards needs a reason.
	ErrReason = errors.New("reason required")
	// ErrChangedAfterPayment: figures changed on a paid claim; Steward
	// cannot reopen it, and an adjustment is needed outside the scheme.
	ErrChangedAfterPayment = errors.New("figures changed after payment")
)

// Actor is who moves a claim. For a practice role, Practice is the ODS code
// of the practice the person acts for.
type Actor struct {
	ID       string // a user id, or "steward" for Steward itself
	Role     string
	Practice string
}

// Steward is the actor for calculation and recalculation.
var Steward = Actor{ID: RoleSteward, Role: RoleSteward}

// Claim identifies one practice's period under a scheme, with its state.
// The collector stores claims as they are (reporting/collector/store).
type Claim struct {
	Scheme   string
	Period   string
	Practice string
	State    State
	// UpdatedAt is when the claim last moved, as stored; zero for a claim
	// the collector holds no row of.
	UpdatedAt time.Time
	// PaidPence is what was paid, once the claim is paid.
	PaidPence *int64
}

// Event is an audit record of one move. The collector stores every event
// and applies To as the claim's new state.
type Event struct {
	// ID is the stored event's number (0 until the collector stores it).
	ID       int64
	Scheme   string
	Period   string
	Practice string
	Actor    string
	Role     string
	At       time.Time
	From     State
	To       State
	Reason   string
	// PaidPence is the amount paid, on a move to paid.
	PaidPence *int64
}

// who says which kind of role may make a move.
type who int

const (
	bySteward who = iota
	byDeclarer
	byApprover
	byPayer
)

type move struct {
	from, to State
	by       []who
	// backward moves need a reason.
	backward bool
}

// moves are every allowed transition. A recalculation with changed figures
// is calculated -> calculated (audited, no change of state).
var moves = []move{
	{Open, Calculated, []who{bySteward}, false},
	{Calculated, Calculated, []who{bySteward}, false},
	{Calculated, Declared, []who{byDeclarer}, false},
	{Declared, Approved, []who{byApprover}, false},
	{Declared, Calculated, []who{bySteward, byApprover}, true},
	{Approved, Calculated, []who{bySteward, byApprover}, true},
	{Approved, Paid, []who{byPayer}, false},
}

// closingMoves are the moves Steward makes when a recalculation finds
// nothing payable, or something payable again: they follow the figures, so
// only Steward makes them, and none needs a person's sign-off. They are
// kept apart from moves so that a refused person's move lists only what
// people may do next.
var closingMoves = []move{
	{Open, Closed, []who{bySteward}, false},
	{Calculated, Closed, []who{bySteward}, false},
	{Closed, Closed, []who{bySteward}, false},
	{Closed, Calculated, []who{bySteward}, false},
	{Declared, Closed, []who{bySteward}, true},
	{Approved, Closed, []who{bySteward}, true},
}

func findMove(from, to State) *move {
	for _, table := range [][]move{moves, closingMoves} {
		for i := range table {
			if table[i].from == from && table[i].to == to {
				return &table[i]
			}
		}
	}
	return nil
}

func (s *Scheme) roles(w who) []string {
	switch w {
	case bySteward:
		return []string{RoleSteward}
	case byDeclarer:
		return s.SignOff.Declare
	case byApprover:
		return s.SignOff.Approve
	case byPayer:
		return s.SignOff.Pay
	}
	return nil
}

// AllowedRoles returns the roles that may move a claim from one state to
// another, sorted; nil when the move is not allowed.
func (s *Scheme) AllowedRoles(from, to State) []string {
	m := findMove(from, to)
	if m == nil {
		return nil
	}
	var out []string
	for _, w := range m.by {
		out = append(out, s.roles(w)...)
	}
	sort.Strings(out)
	return out
}

// Move checks that by may move c to the state to and returns the audit
// event. Moving backwards (to calculated from declared or approved) needs a
// reason; declaring needs an actor of the claim's own practice.
func (s *Scheme) Move(c Claim, to State, by Actor, at time.Time, reason string) (Event, error) {
	m := findMove(c.State, to)
	if m == nil {
		return Event{}, fmt.Errorf("%w: %s to %s (allowed from %s: %s)", ErrTransition, c.State, to, c.State, strings.Join(nextStates(c.State), ", "))
	}
	var ok bool
	for _, w := range m.by {
		if contains(s.roles(w), by.Role) {
			ok = true
			if w == byDeclarer && by.Practice != c.Practice {
				return Event{}, fmt.Errorf("%w: %s acts for practice %q, not %s", ErrRole, by.ID, by.Practice, c.Practice)
			}
		}
	}
	if !ok {
		return Event{}, fmt.Errorf("%w: %q may not move %s to %s (roles allowed: %s)", ErrRole, by.Role, c.State, to, strings.Join(s.AllowedRoles(c.State, to), ", "))
	}
	if m.backward && strings.TrimSpace(reason) == "" {
		return Event{}, fmt.Errorf("%w: moving %s back to %s", ErrReason, c.State, to)
	}
	return Event{Scheme: c.Scheme, Period: c.Period, Practice: c.Practice, Actor: by.ID, Role: by.Role,
		At: at.UTC(), From: c.State, To: to, Reason: reason}, nil
}

func nextStates(from State) []string {
	out := []string{}
	for _, m := range moves {
		if m.from == from {
			out = append(out, string(m.to))
		}
	}
	if len(out) == 0 {
		return []string{"none"}
	}
	return out
}

// RequiredTransition says where a claim in state with something payable
// must go when Steward recalculates it; changed says whether its figures
// changed. It is RequiredMove with payable true.
func RequiredTransition(state State, changed bool) (State, bool, error) {
	return RequiredMove(state, changed, true)
}

// RequiredMove says where a claim in state must go when Steward
// recalculates it: changed says whether its figures changed, payable
// whether anything is payable on the new figures. It returns the target and
// true when a move (and audit event) is needed. A claim with nothing
// payable is closed, whatever its state short of paid: there is nothing to
// sign off. A closed claim reopens to calculated once something is payable.
// A paid claim whose figures changed returns ErrChangedAfterPayment.
func RequiredMove(state State, changed, payable bool) (State, bool, error) {
	switch state {
	case "", Open:
		if !payable {
			return Closed, true, nil
		}
		return Calculated, true, nil
	case Calculated, Declared, Approved:
		if !payable {
			return Closed, true, nil
		}
		return Calculated, changed, nil
	case Closed:
		if payable {
			return Calculated, true, nil
		}
		return Closed, changed, nil
	case Paid:
		if changed {
			return Paid, false, ErrChangedAfterPayment
		}
		return Paid, false, nil
	}
	return state, false, fmt.Errorf("%w: unknown state %q", ErrTransition, state)
}

// NothingPayable says why a practice's result pays nothing this period, as
// the reason a claim is closed with: "nothing payable: ...". It returns ""
// when something is payable.
func NothingPayable(rec *Reconciliation, pr *PracticeResult) string {
	if pr.TotalPence > 0 {
		return ""
	}
	if !pr.Gateway.Pass {
		var failed []string
		for _, c := range pr.Gateway.Checks {
			if !c.Pass {
				failed = append(failed, c.ID+": "+c.Reason)
			}
		}
		return "nothing payable: gateway not met (" + strings.Join(failed, "; ") + ")"
	}
	anyPayable := false
	var notes []string
	for _, er := range pr.Elements {
		if er.Payable {
			anyPayable = true
			if er.Note != "" {
				notes = append(notes, er.ID+": "+er.Note)
			}
		}
	}
	if !anyPayable {
		return fmt.Sprintf("nothing payable: no element is payable in %s, elements are paid in the final period (indicative £%s)",
			rec.Period, FormatPence(pr.IndicativePence))
	}
	why := "nothing payable: every payable element is £0.00 on these figures"
	if len(notes) > 0 {
		why += " (" + strings.Join(notes, "; ") + ")"
	}
	return why
}

// FigureChange is one difference between two reconciliations of a practice.
type FigureChange struct {
	Practice string
	// What names the figure: "submission", "gateway", "gateway.<check>",
	// or "<element>.<a|b|c|list_size|amount_pence>".
	What string
	Old  string
	New  string
}

func (c FigureChange) String() string {
	return fmt.Sprintf("%s %s: %s -> %s", c.Practice, c.What, c.Old, c.New)
}

// CompareFigures lists what differs between two reconciliations of the same
// scheme and period, practice by practice (sorted by practice, then in
// element order). A resubmission with identical figures is no change.
func CompareFigures(prev, next *Reconciliation) []FigureChange {
	var out []FigureChange
	old := map[string]*PracticeResult{}
	if prev != nil {
		for i := range prev.Practices {
			old[prev.Practices[i].ODS] = &prev.Practices[i]
		}
	}
	seen := map[string]bool{}
	for i := range next.Practices {
		n := &next.Practices[i]
		seen[n.ODS] = true
		out = append(out, comparePractice(old[n.ODS], n)...)
	}
	var gone []string
	for ods := range old {
		if !seen[ods] {
			gone = append(gone, ods)
		}
	}
	sort.Strings(gone)
	for _, ods := range gone {
		out = append(out, FigureChange{Practice: ods, What: "submission", Old: "present", New: "absent"})
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Practice < out[j].Practice })
	return out
}

func presence(p *PracticeResult) string {
	if p == nil || p.Missing {
		return "absent"
	}
	return "present"
}

func passFail(b bool) string {
	if b {
		return "pass"
	}
	return "fail"
}

func optInt(p *int64) string {
	if p == nil {
		return ""
	}
	return fmt.Sprint(*p)
}

func comparePractice(o, n *PracticeResult) []FigureChange {
	var out []FigureChange
	add := func(what, a, b string) {
		if a != b {
			out = append(out, FigureChange{Practice: n.ODS, What: what, Old: a, New: b})
		}
	}
	add("submission", presence(o), presence(n))
	if o == nil {
		return out
	}
	add("gateway", passFail(o.Gateway.Pass), passFail(n.Gateway.Pass))
	oc := map[string]Check{}
	for _, c := range o.Gateway.Checks {
		oc[c.ID] = c
	}
	for _, c := range n.Gateway.Checks {
		if p, ok := oc[c.ID]; ok && p.Pass != c.Pass {
			add("gateway."+c.ID, passFail(p.Pass), passFail(c.Pass))
		}
	}
	oe := map[string]*ElementResult{}
	for i := range o.Elements {
		oe[o.Elements[i].ID] = &o.Elements[i]
	}
	for i := range n.Elements {
		ne := &n.Elements[i]
		pe := oe[ne.ID]
		if pe == nil {
			add(ne.ID, "absent", "present")
			continue
		}
		add(ne.ID+".a", optInt(pe.A), optInt(ne.A))
		add(ne.ID+".b", optInt(pe.B), optInt(ne.B))
		add(ne.ID+".c", optInt(pe.C), optInt(ne.C))
		add(ne.ID+".list_size", optInt(pe.ListSize), optInt(ne.ListSize))
		add(ne.ID+".amount_pence", fmt.Sprint(pe.AmountPence), fmt.Sprint(ne.AmountPence))
	}
	return out
}

// Recalculated compares a new reconciliation with the previous one (nil on
// the first calculation) and returns the audit events the collector must
// apply, given each practice's stored state (absent means open), as
// RequiredMove says: open claims become calculated; calculated, declared
// and approved claims whose figures changed go (back) to calculated, with
// the changes as the reason; a claim with nothing payable is closed, with
// NothingPayable's reason, and a closed claim with something payable again
// reopens to calculated. The changes are returned too. Paid claims whose figures changed are not moved;
// the error then wraps ErrChangedAfterPayment and names them, and the events
// for every other claim are still returned.
func Recalculated(prev, next *Reconciliation, states map[string]State, at time.Time) ([]Event, []FigureChange, error) {
	changes := CompareFigures(prev, next)
	byPractice := map[string][]FigureChange{}
	for _, c := range changes {
		byPractice[c.Practice] = append(byPractice[c.Practice], c)
	}
	var events []Event
	var paid []string
	for i := range next.Practices {
		pr := &next.Practices[i]
		if pr.Missing {
			continue // nothing to calculate until figures arrive
		}
		state := states[pr.ODS]
		if state == "" {
			state = Open
		}
		pc := byPractice[pr.ODS]
		nothing := NothingPayable(next, pr)
		to, needed, err := RequiredMove(state, len(pc) > 0, nothing == "")
		if err != nil {
			if errors.Is(err, ErrChangedAfterPayment) {
				paid = append(paid, pr.ODS)
				continue
			}
			return nil, nil, err
		}
		if !needed {
			continue
		}
		var parts []string
		if state != Open && len(pc) > 0 {
			changed := make([]string, len(pc))
			for i, c := range pc {
				changed[i] = fmt.Sprintf("%s %s -> %s", c.What, c.Old, c.New)
			}
			parts = append(parts, "figures changed: "+strings.Join(changed, "; "))
		}
		switch {
		case to == Closed:
			parts = append(parts, nothing)
		case state == Closed:
			parts = append(parts, fmt.Sprintf("reopened: £%s payable", FormatPence(pr.TotalPence)))
		case state == Open:
			parts = append(parts, "calculated")
		}
		events = append(events, Event{Scheme: next.Scheme, Period: next.Period, Practice: pr.ODS,
			Actor: Steward.ID, Role: Steward.Role, At: at.UTC(), From: state, To: to, Reason: strings.Join(parts, "; ")})
	}
	if len(paid) > 0 {
		return events, changes, fmt.Errorf("%w: %s %s: %s", ErrChangedAfterPayment, next.Scheme, next.Period, strings.Join(paid, ", "))
	}
	return events, changes, nil
}
