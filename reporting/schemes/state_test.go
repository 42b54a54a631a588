package schemes

import (
	"errors"
	"reflect"
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
