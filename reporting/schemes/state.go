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
)

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
type Claim struct {
	Scheme   string
	Period   string
	Practice string
	State    State
}

// Event is an audit record of one move. The collector stores every event
// and applies To as the claim's new state.
type Event struct {
	Scheme   string
	Period   string
	Practice string
	Actor    string
	Role     string
	At       time.Time
	From     State
	To       State
	Reason   string
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

func findMove(from, to State) *move {
	for i := range moves {
		if moves[i].from == from && moves[i].to == to {
			return &moves[i]
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

// RequiredTransition says where a claim in state must go when Steward
// recalculates it; changed says whether its figures changed. It returns the
// target and true when a move (and audit event) is needed. A paid claim
// whose figures changed returns ErrChangedAfterPayment.
func RequiredTransition(state State, changed bool) (State, bool, error) {
	switch state {
	case "", Open:
		return Calculated, true, nil
	case Calculated, Declared, Approved:
		return Calculated, changed, nil
	case Paid:
		if changed {
			return Paid, false, ErrChangedAfterPayment
		}
		return Paid, false, nil
	}
	return state, false, fmt.Errorf("%w: unknown state %q", ErrTransition, state)
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
// apply, given each practice's stored state (absent means open): open claims
// become calculated; calculated, declared and approved claims whose figures
// changed go (back) to calculated, with the changes as the reason. The
// changes are returned too. Paid claims whose figures changed are not moved;
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
	for _, pr := range next.Practices {
		if pr.Missing {
			continue // nothing to calculate until figures arrive
		}
		state := states[pr.ODS]
		if state == "" {
			state = Open
		}
		pc := byPractice[pr.ODS]
		to, needed, err := RequiredTransition(state, len(pc) > 0)
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
		reason := "calculated"
		if state != Open {
			parts := make([]string, len(pc))
			for i, c := range pc {
				parts[i] = fmt.Sprintf("%s %s -> %s", c.What, c.Old, c.New)
			}
			reason = "figures changed: " + strings.Join(parts, "; ")
		}
		events = append(events, Event{Scheme: next.Scheme, Period: next.Period, Practice: pr.ODS,
			Actor: Steward.ID, Role: Steward.Role, At: at.UTC(), From: state, To: to, Reason: reason})
	}
	if len(paid) > 0 {
		return events, changes, fmt.Errorf("%w: %s %s: %s", ErrChangedAfterPayment, next.Scheme, next.Period, strings.Join(paid, ", "))
	}
	return events, changes, nil
}
