package claims_test

import (
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/nhs-steward/steward/reporting/collector"
	"github.com/nhs-steward/steward/reporting/collector/claims"
	"github.com/nhs-steward/steward/reporting/collector/store"
	"github.com/nhs-steward/steward/reporting/collector/storetest"
	"github.com/nhs-steward/steward/reporting/schemes"
)

// A claim with nothing payable is closed with the reason in its history,
// offers no one a move, cannot be declared, approved or paid, and reopens
// when figures make something payable.
func TestClosedClaimLifecycle(t *testing.T) {
	engines(t, func(t *testing.T, db *store.DB) {
		svc, sc := seeded(t, db)
		users := usersOf(t, db)
		pm2, err := db.AddUser(ctx, collector.User{Name: "pm2", Role: collector.RolePractice, Practice: "Y01002", ICB: "QXX",
			SignOff: []string{"practice_manager"}}, "test")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := svc.Calculate(ctx, sc, "2027-03", "ana"); err != nil {
			t.Fatal(err)
		}
		// Y01002 sends figures but has not made the declaration the
		// gateway asks for: nothing is payable.
		ingest(t, db, "Y01002", "k2", onTime.Add(time.Hour), storetest.MedsipFigures{Reviewed: 5, LongTerm: 10, Stopped: 0, HighDoseBaseline: 2})
		outs, err := svc.RecalculateAll(ctx)
		if err != nil || len(outs) != 1 || len(outs[0].Events) != 1 {
			t.Fatalf("recalculation = %+v, %v", outs, err)
		}
		ev := outs[0].Events[0]
		want := "nothing payable: gateway not met (opioid_lead_named: practice has not declared opioid_lead_named)"
		if ev.Practice != "Y01002" || ev.From != schemes.Open || ev.To != schemes.Closed || ev.Reason != want {
			t.Fatalf("event = %+v", ev)
		}
		history, err := db.ClaimEvents(ctx, schemeID, "2027-03", "Y01002")
		if err != nil || len(history) != 1 || history[0].To != "closed" || history[0].Reason != want || history[0].Actor != "steward" {
			t.Fatalf("history = %+v, %v", history, err)
		}
		rec, version, err := svc.Calculated(ctx, sc, "2027-03")
		if err != nil || states(rec)["Y01002"] != schemes.Closed {
			t.Fatalf("states = %v, %v", states(rec), err)
		}
		closed := schemes.Claim{Scheme: schemeID, Period: "2027-03", Practice: "Y01002", State: schemes.Closed}
		for _, u := range []collector.User{pm2, users["lead"], users["finance"], users["both"]} {
			if moves := claims.MovesFor(sc, &u, closed); len(moves) != 0 {
				t.Errorf("%s may move a closed claim: %v", u.Name, moves)
			}
		}
		for _, m := range []struct {
			to   schemes.State
			user collector.User
		}{{schemes.Declared, pm2}, {schemes.Approved, users["lead"]}, {schemes.Paid, users["finance"]}, {schemes.Calculated, users["lead"]}} {
			_, err := svc.Move(ctx, claims.MoveRequest{Scheme: schemeID, Period: "2027-03", Practice: "Y01002", To: m.to, Reason: "r", Version: version}, m.user)
			if !errors.Is(err, schemes.ErrTransition) {
				t.Errorf("%s moving a closed claim to %s = %v, want ErrTransition", m.user.Name, m.to, err)
			}
		}

		// The declaration arrives: the claim reopens for sign-off.
		if err := db.RecordDeclaration(ctx, store.Declaration{Scheme: schemeID, Practice: "Y01002", Declaration: "opioid_lead_named",
			FromPeriod: "2027-03", Made: true, RecordedAt: onTime, RecordedBy: "test"}); err != nil {
			t.Fatal(err)
		}
		outs, err = svc.RecalculateAll(ctx)
		if err != nil || len(outs) != 1 || len(outs[0].Events) != 1 {
			t.Fatalf("recalculation after the declaration = %+v, %v", outs, err)
		}
		if ev := outs[0].Events[0]; ev.From != schemes.Closed || ev.To != schemes.Calculated || !strings.HasSuffix(ev.Reason, "reopened: £75.00 payable") {
			t.Fatalf("reopening event = %+v", ev)
		}
		if _, err := svc.Move(ctx, claims.MoveRequest{Scheme: schemeID, Period: "2027-03", Practice: "Y01002", To: schemes.Declared}, pm2); err != nil {
			t.Fatalf("declaring the reopened claim: %v", err)
		}

		// Figures that take everything payable away from a declared claim
		// close it: there is nothing left to approve.
		ingest(t, db, "Y01002", "k2b", onTime.Add(2*time.Hour), storetest.MedsipFigures{Reviewed: 0, LongTerm: 10, Stopped: 0, HighDoseBaseline: 2})
		if _, err := svc.Move(ctx, claims.MoveRequest{Scheme: schemeID, Period: "2027-03", Practice: "Y01002", To: schemes.Approved}, users["lead"]); !errors.Is(err, schemes.ErrTransition) {
			t.Fatalf("approving a claim whose figures fell to nothing = %v, want ErrTransition", err)
		}
		rows, err := db.Claims(ctx, schemeID, "2027-03")
		if err != nil || rows["Y01002"].State != "closed" {
			t.Fatalf("claim after its figures fell to nothing = %+v, %v", rows["Y01002"], err)
		}
		history, _ = db.ClaimEvents(ctx, schemeID, "2027-03", "Y01002")
		if last := history[len(history)-1]; last.From != "declared" || last.To != "closed" ||
			!strings.Contains(last.Reason, "figures changed: lt_reviews.a 5 -> 0") || !strings.Contains(last.Reason, "nothing payable: every payable element is £0.00") {
			t.Fatalf("closing a declared claim = %+v", last)
		}
	})
}

// Before the final period the example scheme pays nothing (every element
// is paid at the year end): each claim with figures is closed for the
// month, with what it would earn, and none waits for sign-off.
func TestClosedBeforeFinalPeriod(t *testing.T) {
	engines(t, func(t *testing.T, db *store.DB) {
		svc, sc := seeded(t, db)
		for _, ods := range []string{"Y01001", "Y01003"} {
			if _, err := db.Ingest(ctx, storetest.MedsipSubmission(t, ods, "feb-"+ods, "2027-02-28", time.Date(2027, 3, 3, 9, 0, 0, 0, time.UTC),
				storetest.MedsipFigures{Reviewed: 20, LongTerm: 40, Stopped: 2, HighDoseBaseline: 10})); err != nil {
				t.Fatal(err)
			}
		}
		out, err := svc.Calculate(ctx, sc, "2027-02", "ana")
		if err != nil {
			t.Fatal(err)
		}
		want := map[string]schemes.State{"Y01001": "closed", "Y01002": "open", "Y01003": "closed", "Y01004": "open"}
		if got := states(out.Rec); !mapsEqual(got, want) {
			t.Fatalf("states = %v, want %v", got, want)
		}
		for _, e := range out.Events {
			if !strings.HasPrefix(e.Reason, "nothing payable: no element is payable in 2027-02, elements are paid in the final period (indicative £") {
				t.Errorf("%s closed with %q", e.Practice, e.Reason)
			}
		}
		// Calculating again with nothing new moves nothing.
		again, err := svc.Calculate(ctx, sc, "2027-02", "ana")
		if err != nil || !again.Unchanged || len(again.Events) != 0 {
			t.Fatalf("second calculation = %+v, %v", again, err)
		}
	})
}

func mapsEqual(a, b map[string]schemes.State) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// A claim is moved only by users of the scheme's ICB: a user of another
// ICB is refused even for a practice of their own ICB that the scheme
// lists (the scheme's ICB is checked as well as the practice).
func TestMoveChecksSchemeICB(t *testing.T) {
	engines(t, func(t *testing.T, db *store.DB) {
		yaml, err := os.ReadFile("../../../schemes/medsip-local-example.yaml")
		if err != nil {
			t.Fatal(err)
		}
		// Stored directly, as an older collector could have: 'scheme add'
		// now refuses a practice of another ICB.
		text := strings.Replace(string(yaml), "  - Y01004\n", "  - Y01004\n  - Y07777\n", 1)
		if err := db.AddScheme(ctx, store.StoredScheme{ID: schemeID, YAML: text, AddedBy: "test"}); err != nil {
			t.Fatal(err)
		}
		for ods, icb := range map[string]string{"Y01001": "QXX", "Y07777": "QZZ"} {
			if err := db.AddPractice(ctx, collector.Practice{ODS: ods, Name: "Surgery " + ods, ICB: icb, CreatedAt: onTime}, "test"); err != nil {
				t.Fatal(err)
			}
			if err := db.RecordDeclaration(ctx, store.Declaration{Scheme: schemeID, Practice: ods, Declaration: "opioid_lead_named",
				FromPeriod: "2026-04", Made: true, RecordedAt: onTime, RecordedBy: "test"}); err != nil {
				t.Fatal(err)
			}
			ingest(t, db, ods, "k-"+ods, onTime, storetest.MedsipFigures{Reviewed: 30, LongTerm: 40, Stopped: 5, HighDoseBaseline: 10})
		}
		svc := service(db)
		sc, err := svc.Scheme(ctx, schemeID)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := svc.Calculate(ctx, sc, "2027-03", "ana"); err != nil {
			t.Fatal(err)
		}
		add := func(u collector.User) collector.User {
			u, err := db.AddUser(ctx, u, "test")
			if err != nil {
				t.Fatal(err)
			}
			return u
		}
		theirPM := add(collector.User{Name: "pm7", Role: collector.RolePractice, Practice: "Y07777", ICB: "QZZ", SignOff: []string{"practice_manager"}})
		theirLead := add(collector.User{Name: "zed", Role: collector.RoleICBAnalyst, ICB: "QZZ", SignOff: []string{"icb_medicines_optimisation_lead"}})
		root := add(collector.User{Name: "root", Role: collector.RoleAdmin, SignOff: []string{"icb_medicines_optimisation_lead"}})
		pm1 := add(collector.User{Name: "pm1", Role: collector.RolePractice, Practice: "Y01001", ICB: "QXX", SignOff: []string{"practice_manager"}})
		move := func(ods string, to schemes.State, u collector.User) error {
			_, err := svc.Move(ctx, claims.MoveRequest{Scheme: schemeID, Period: "2027-03", Practice: ods, To: to}, u)
			return err
		}
		err = move("Y07777", schemes.Declared, theirPM)
		if !errors.Is(err, schemes.ErrRole) || !strings.Contains(err.Error(), "pm7 belongs to ICB QZZ, and scheme "+schemeID+" is ICB QXX's") {
			t.Fatalf("another ICB's practice manager declaring for their own practice = %v", err)
		}
		if moves := claims.MovesFor(sc, &theirPM, schemes.Claim{Scheme: schemeID, Period: "2027-03", Practice: "Y07777", State: schemes.Calculated}); len(moves) != 0 {
			t.Fatalf("the dashboard would offer pm7 %v", moves)
		}
		if err := move("Y01001", schemes.Declared, pm1); err != nil {
			t.Fatal(err)
		}
		if err := move("Y01001", schemes.Approved, theirLead); !errors.Is(err, schemes.ErrRole) {
			t.Fatalf("another ICB's lead approving = %v", err)
		}
		if err := move("Y01001", schemes.Approved, root); !errors.Is(err, schemes.ErrRole) || !strings.Contains(err.Error(), "root belongs to no ICB") {
			t.Fatalf("an admin of no ICB approving = %v", err)
		}
		if rows, err := db.Claims(ctx, schemeID, "2027-03"); err != nil || rows["Y01001"].State != "declared" {
			t.Fatalf("claim = %+v, %v", rows["Y01001"], err)
		}
	})
}

// A retired scheme is kept for audit: hidden from the schemes in force,
// listed (marked) for its practices' agents, never recalculated, and its
// claims no longer move.
func TestRetiredScheme(t *testing.T) {
	engines(t, func(t *testing.T, db *store.DB) {
		svc, sc := seeded(t, db)
		users := usersOf(t, db)
		if _, err := svc.Calculate(ctx, sc, "2027-03", "ana"); err != nil {
			t.Fatal(err)
		}
		if err := db.RetireScheme(ctx, schemeID, "cli", "replaced", onTime.Add(48*time.Hour)); err != nil {
			t.Fatal(err)
		}
		if in, err := svc.Schemes(ctx); err != nil || len(in) != 0 {
			t.Fatalf("schemes in force = %v, %v", in, err)
		}
		p, err := db.Practice(ctx, "Y01001")
		if err != nil {
			t.Fatal(err)
		}
		of, err := svc.SchemesOf(ctx, p)
		if err != nil || len(of) != 1 || of[0].ID != schemeID || !of[0].IsRetired() || of[0].RetiredReason != "replaced" {
			t.Fatalf("SchemesOf = %+v, %v", of, err)
		}
		ingest(t, db, "Y01002", "k2", onTime.Add(time.Hour), storetest.MedsipFigures{Reviewed: 5, LongTerm: 10, Stopped: 0, HighDoseBaseline: 2})
		if outs, err := svc.RecalculateAll(ctx); err != nil || len(outs) != 0 {
			t.Fatalf("RecalculateAll on a retired scheme = %+v, %v", outs, err)
		}
		_, err = svc.Move(ctx, claims.MoveRequest{Scheme: schemeID, Period: "2027-03", Practice: "Y01001", To: schemes.Declared}, users["pm1"])
		if !errors.Is(err, claims.ErrRetired) {
			t.Fatalf("moving a claim of a retired scheme = %v", err)
		}
		if rec, version, err := svc.Calculated(ctx, sc, "2027-03"); err != nil || version != 1 || states(rec)["Y01002"] != schemes.Open {
			t.Fatalf("the retired scheme's calculation = %v, %d, %v", states(rec), version, err)
		}
	})
}
