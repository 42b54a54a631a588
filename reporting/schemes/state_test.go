package schemes

import (
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

var at = time.Date(2027, 4, 20, 10, 0, 0, 0, time.UTC)

func TestMoves(t *testing.T) {
	s := testScheme(t, gatewayScheme)
	manager := Actor{ID: "u1", Role: "practice_manager", Practice: "Y01001"}
	otherManager := Actor{ID: "u2", Role: "practice_manager", Practice: "Y01002"}
	lead := Actor{ID: "u3", Role: "icb_lead"}
	finance := Actor{ID: "u4", Role: "icb_finance"}
	tests := []struct {
		from, to State
		by       Actor
		reason   string
		err      error
	}{
		{Open, Calculated, Steward, "", nil},
		{Calculated, Calculated, Steward, "figures changed", nil},
		{Calculated, Declared, manager, "", nil},
		{Declared, Approved, lead, "", nil},
		{Approved, Paid, finance, "", nil},
		{Declared, Calculated, lead, "review count disputed", nil},
		{Declared, Calculated, Steward, "figures changed", nil},
		{Approved, Calculated, Steward, "figures changed", nil},
		// Refused.
		{Open, Declared, manager, "", ErrTransition},
		{Calculated, Approved, lead, "", ErrTransition},
		{Paid, Calculated, Steward, "figures changed", ErrTransition},
		{Approved, Declared, manager, "", ErrTransition},
		{Open, Calculated, lead, "", ErrRole},
		{Calculated, Declared, lead, "", ErrRole},
		{Calculated, Declared, otherManager, "", ErrRole},
		{Declared, Approved, manager, "", ErrRole},
		{Approved, Paid, lead, "", ErrRole},
		{Declared, Calculated, lead, " ", ErrReason},
		{Approved, Calculated, Steward, "", ErrReason},
	}
	for _, tt := range tests {
		c := Claim{Scheme: s.ID, Period: "2027-03", Practice: "Y01001", State: tt.from}
		ev, err := s.Move(c, tt.to, tt.by, at, tt.reason)
		if !errors.Is(err, tt.err) || (tt.err == nil) != (err == nil) {
			t.Errorf("%s -> %s by %s: error %v, want %v", tt.from, tt.to, tt.by.Role, err, tt.err)
			continue
		}
		if err != nil {
			continue
		}
		want := Event{Scheme: "test-scheme", Period: "2027-03", Practice: "Y01001", Actor: tt.by.ID, Role: tt.by.Role,
			At: at, From: tt.from, To: tt.to, Reason: tt.reason}
		if ev != want {
			t.Errorf("event = %+v, want %+v", ev, want)
		}
	}
}

func TestMoveMessages(t *testing.T) {
	s := testScheme(t, gatewayScheme)
	c := Claim{Scheme: s.ID, Period: "2027-03", Practice: "Y01001", State: Calculated}
	_, err := s.Move(c, Paid, Actor{ID: "u4", Role: "icb_finance"}, at, "")
	if got, want := err.Error(), "transition not allowed: calculated to paid (allowed from calculated: calculated, declared)"; got != want {
		t.Errorf("error = %q, want %q", got, want)
	}
	c.State = Declared
	_, err = s.Move(c, Approved, Actor{ID: "u1", Role: "practice_manager", Practice: "Y01001"}, at, "")
	if got, want := err.Error(), `role not allowed: "practice_manager" may not move declared to approved (roles allowed: icb_lead)`; got != want {
		t.Errorf("error = %q, want %q", got, want)
	}
	if got, want := s.AllowedRoles(Declared, Calculated), []string{"icb_lead", "steward"}; !reflect.DeepEqual(got, want) {
		t.Errorf("AllowedRoles = %v, want %v", got, want)
	}
	if got := s.AllowedRoles(Paid, Calculated); got != nil {
		t.Errorf("AllowedRoles(paid, calculated) = %v, want nil", got)
	}
}

func TestRequiredTransition(t *testing.T) {
	tests := []struct {
		state   State
		changed bool
		to      State
		needed  bool
		err     error
	}{
		{Open, false, Calculated, true, nil},
		{Calculated, false, Calculated, false, nil},
		{Calculated, true, Calculated, true, nil},
		{Declared, true, Calculated, true, nil},
		{Approved, true, Calculated, true, nil},
		{Approved, false, Approved, false, nil},
		{Paid, false, Paid, false, nil},
		{Paid, true, Paid, false, ErrChangedAfterPayment},
	}
	for _, tt := range tests {
		to, needed, err := RequiredTransition(tt.state, tt.changed)
		if tt.to == Approved {
			tt.to = Calculated // no move needed; the target is irrelevant
		}
		if needed != tt.needed || !errors.Is(err, tt.err) || (tt.needed && to != tt.to) {
			t.Errorf("RequiredTransition(%s, %v) = %s, %v, %v; want %s, %v, %v", tt.state, tt.changed, to, needed, err, tt.to, tt.needed, tt.err)
		}
	}
}

// TestFigureChangeAfterCalculation: a practice declares, then a corrected
// submission changes its figures; the claim must go back to calculated.
func TestFigureChangeAfterCalculation(t *testing.T) {
	s := testScheme(t, gatewayScheme)
	a := practiceFigures("Y01001", 1000, cnt("eligible_adults", 800), rat("long_term_reviewed", 10, 20))
	b := practiceFigures("Y01002", 1000, cnt("eligible_adults", 800), rat("long_term_reviewed", 5, 20))
	c := practiceFigures("Y01003", 1000, cnt("eligible_adults", 800), rat("long_term_reviewed", 7, 20))
	first, err := Evaluate(s, "2027-03", []PracticeFigures{a, b, c})
	if err != nil {
		t.Fatal(err)
	}
	// First calculation: every practice with figures goes open -> calculated.
	events, _, err := Recalculated(nil, first, nil, at)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := len(events), 3; got != want {
		t.Fatalf("first calculation: %d events, want %d", got, want)
	}
	if ev := events[0]; ev.From != Open || ev.To != Calculated || ev.Actor != "steward" || ev.Reason != "calculated" {
		t.Errorf("first event = %+v", ev)
	}

	// Y01001 resubmits the same figures; Y01002 corrects its reviews; Y01003
	// (paid) changes too.
	a.SubmissionID = "sub-Y01001-2"
	b.Measures = []Measure{cnt("eligible_adults", 800), rat("long_term_reviewed", 6, 20)}
	c.Measures = []Measure{cnt("eligible_adults", 800), rat("long_term_reviewed", 8, 20)}
	second, err := Evaluate(s, "2027-03", []PracticeFigures{a, b, c})
	if err != nil {
		t.Fatal(err)
	}
	changes := CompareFigures(first, second)
	wantChanges := []FigureChange{
		{Practice: "Y01002", What: "reviews.a", Old: "5", New: "6"},
		{Practice: "Y01002", What: "reviews.amount_pence", Old: "500", New: "600"},
		{Practice: "Y01003", What: "reviews.a", Old: "7", New: "8"},
		{Practice: "Y01003", What: "reviews.amount_pence", Old: "700", New: "800"},
	}
	if !reflect.DeepEqual(changes, wantChanges) {
		t.Errorf("changes = %v, want %v", changes, wantChanges)
	}
	states := map[string]State{"Y01001": Declared, "Y01002": Declared, "Y01003": Paid}
	events, _, err = Recalculated(first, second, states, at)
	if !errors.Is(err, ErrChangedAfterPayment) || !strings.HasSuffix(err.Error(), ": test-scheme 2027-03: Y01003") {
		t.Errorf("error = %v, want ErrChangedAfterPayment naming Y01003", err)
	}
	want := []Event{{Scheme: "test-scheme", Period: "2027-03", Practice: "Y01002", Actor: "steward", Role: "steward", At: at,
		From: Declared, To: Calculated, Reason: "figures changed: reviews.a 5 -> 6; reviews.amount_pence 500 -> 600"}}
	if !reflect.DeepEqual(events, want) {
		t.Errorf("events = %+v, want %+v", events, want)
	}
	// The event is a move the machine allows.
	if _, err := s.Move(Claim{Scheme: s.ID, Period: "2027-03", Practice: "Y01002", State: Declared}, Calculated, Steward, at, events[0].Reason); err != nil {
		t.Errorf("Move: %v", err)
	}
}

func TestRequiredMove(t *testing.T) {
	tests := []struct {
		state            State
		changed, payable bool
		to               State
		needed           bool
		err              error
	}{
		{Open, false, true, Calculated, true, nil},
		{Open, false, false, Closed, true, nil},
		{Calculated, false, true, Calculated, false, nil},
		{Calculated, true, true, Calculated, true, nil},
		{Calculated, true, false, Closed, true, nil},
		// A claim calculated before closing existed is closed at the
		// next calculation, figures changed or not.
		{Calculated, false, false, Closed, true, nil},
		{Declared, false, false, Closed, true, nil},
		{Declared, true, false, Closed, true, nil},
		{Approved, true, false, Closed, true, nil},
		{Declared, false, true, Declared, false, nil},
		{Closed, false, false, Closed, false, nil},
		{Closed, true, false, Closed, true, nil},
		{Closed, true, true, Calculated, true, nil},
		{Paid, false, false, Paid, false, nil},
		{Paid, true, false, Paid, false, ErrChangedAfterPayment},
	}
	for _, tt := range tests {
		to, needed, err := RequiredMove(tt.state, tt.changed, tt.payable)
		if needed != tt.needed || !errors.Is(err, tt.err) || (tt.needed && to != tt.to) {
			t.Errorf("RequiredMove(%s, changed %v, payable %v) = %s, %v, %v; want %s, %v, %v",
				tt.state, tt.changed, tt.payable, to, needed, err, tt.to, tt.needed, tt.err)
		}
		if !needed {
			continue
		}
		// Every required move is one the machine lets Steward make.
		reason := ""
		if findMove(tt.state, to) != nil && findMove(tt.state, to).backward {
			reason = "figures changed"
		}
		if _, err := testScheme(t, gatewayScheme).Move(Claim{Scheme: "test-scheme", Period: "2027-03", Practice: "Y01001", State: tt.state},
			to, Steward, at, reason); err != nil {
			t.Errorf("%s -> %s by Steward: %v", tt.state, to, err)
		}
	}
}

// A claim with nothing payable is closed with the reason; it needs no
// sign-off, no person may move it, and it reopens to calculated when new
// figures make something payable.
func TestClosedClaims(t *testing.T) {
	s := testScheme(t, gatewayScheme)
	pays := practiceFigures("Y01001", 1000, cnt("eligible_adults", 800), rat("long_term_reviewed", 10, 20))
	undeclared := practiceFigures("Y01002", 1000, cnt("eligible_adults", 800), rat("long_term_reviewed", 10, 20))
	undeclared.Declarations = nil
	none := practiceFigures("Y01003", 1000, cnt("eligible_adults", 800), rat("long_term_reviewed", 0, 20))
	first, err := Evaluate(s, "2027-03", []PracticeFigures{pays, undeclared, none})
	if err != nil {
		t.Fatal(err)
	}
	events, _, err := Recalculated(nil, first, nil, at)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]Event{}
	for _, e := range events {
		got[e.Practice] = e
	}
	if e := got["Y01001"]; e.From != Open || e.To != Calculated || e.Reason != "calculated" {
		t.Errorf("Y01001 = %+v", e)
	}
	if e, want := got["Y01002"], "nothing payable: gateway not met (opioid_lead_named: practice has not declared opioid_lead_named)"; e.To != Closed || e.Reason != want {
		t.Errorf("Y01002 = %+v, want closed with %q", e, want)
	}
	if e, want := got["Y01003"], "nothing payable: every payable element is £0.00 on these figures"; e.To != Closed || e.Reason != want {
		t.Errorf("Y01003 = %+v, want closed with %q", e, want)
	}
	if len(events) != 3 {
		t.Errorf("%d events, want 3 (Y01004 and Y01005 sent nothing and stay open)", len(events))
	}

	// No person may move a closed claim: there is nothing to sign off.
	c := Claim{Scheme: s.ID, Period: "2027-03", Practice: "Y01002", State: Closed}
	for _, to := range []State{Declared, Approved, Paid, Calculated} {
		for _, by := range []Actor{{ID: "u1", Role: "practice_manager", Practice: "Y01002"}, {ID: "u3", Role: "icb_lead"}, {ID: "u4", Role: "icb_finance"}} {
			if _, err := s.Move(c, to, by, at, "a reason"); err == nil {
				t.Errorf("%s moved a closed claim to %s", by.Role, to)
			}
		}
		if roles := s.AllowedRoles(Closed, to); slices.ContainsFunc(roles, func(r string) bool { return r != RoleSteward }) {
			t.Errorf("AllowedRoles(closed, %s) = %v: a person may move a closed claim", to, roles)
		}
	}

	// Y01002 declares; Y01001's figures fall to nothing payable after it
	// was declared; Y01003 reviews patients at last.
	undeclared.Declarations = []string{"opioid_lead_named"}
	pays.Measures = []Measure{cnt("eligible_adults", 800), rat("long_term_reviewed", 0, 20)}
	none.Measures = []Measure{cnt("eligible_adults", 800), rat("long_term_reviewed", 4, 20)}
	second, err := Evaluate(s, "2027-03", []PracticeFigures{pays, undeclared, none})
	if err != nil {
		t.Fatal(err)
	}
	states := map[string]State{"Y01001": Declared, "Y01002": Closed, "Y01003": Closed}
	events, _, err = Recalculated(first, second, states, at)
	if err != nil {
		t.Fatal(err)
	}
	got = map[string]Event{}
	for _, e := range events {
		got[e.Practice] = e
	}
	if e := got["Y01001"]; e.From != Declared || e.To != Closed ||
		e.Reason != "figures changed: reviews.a 10 -> 0; reviews.amount_pence 1000 -> 0; nothing payable: every payable element is £0.00 on these figures" {
		t.Errorf("Y01001 = %+v", e)
	}
	if e := got["Y01002"]; e.From != Closed || e.To != Calculated || !strings.HasSuffix(e.Reason, "; reopened: £10.00 payable") {
		t.Errorf("Y01002 = %+v", e)
	}
	if e := got["Y01003"]; e.From != Closed || e.To != Calculated || e.Reason != "figures changed: reviews.a 0 -> 4; reviews.amount_pence 0 -> 400; reopened: £4.00 payable" {
		t.Errorf("Y01003 = %+v", e)
	}
	for _, e := range events {
		if _, err := s.Move(Claim{Scheme: s.ID, Period: e.Period, Practice: e.Practice, State: e.From}, e.To, Steward, at, e.Reason); err != nil {
			t.Errorf("%s: %s -> %s is not a move Steward may make: %v", e.Practice, e.From, e.To, err)
		}
	}
}

// Before the final period an element paid at the year end is indicative:
// a claim whose every element is paid then is closed for the month, with
// what it would earn in the reason.
func TestClosedBeforeTheFinalPeriod(t *testing.T) {
	s, err := Load("../../schemes/medsip-local-example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	f := exampleFigures()[1] // Y01001
	f.AsOf, f.ReceivedAt = "2026-12-31", time.Date(2027, 1, 4, 9, 0, 0, 0, time.UTC)
	rec, err := Evaluate(s, "2026-12", []PracticeFigures{f})
	if err != nil {
		t.Fatal(err)
	}
	pr := &rec.Practices[0]
	if got, want := NothingPayable(rec, pr), "nothing payable: no element is payable in 2026-12, elements are paid in the final period (indicative £4327.00)"; got != want {
		t.Errorf("NothingPayable = %q, want %q", got, want)
	}
}
