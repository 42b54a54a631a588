package claims_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nhs-steward/steward/internal/pgtest"
	"github.com/nhs-steward/steward/reporting/collector"
	"github.com/nhs-steward/steward/reporting/collector/claims"
	"github.com/nhs-steward/steward/reporting/collector/store"
	"github.com/nhs-steward/steward/reporting/collector/storetest"
	"github.com/nhs-steward/steward/reporting/results"
	"github.com/nhs-steward/steward/reporting/schemes"
)

const schemeID = "example-icb-opioid-mos-2026-27"

var ctx = context.Background()

// engines runs f on a fresh SQLite store and, when PostgreSQL is
// available, a fresh PostgreSQL store.
func engines(t *testing.T, f func(t *testing.T, db *store.DB)) {
	for name, dsn := range map[string]func(t *testing.T) string{
		"SQLite":   func(t *testing.T) string { return "sqlite:" + filepath.Join(t.TempDir(), "c.db") },
		"Postgres": func(t *testing.T) string { return pgtest.NewDB(t) },
	} {
		t.Run(name, func(t *testing.T) {
			db, err := store.Open(ctx, dsn(t))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { db.Close() })
			if err := db.Migrate(ctx); err != nil {
				t.Fatal(err)
			}
			f(t, db)
		})
	}
}

var onTime = time.Date(2027, 4, 5, 9, 0, 0, 0, time.UTC)

// seed stores the example scheme, its four practices, users with sign-off
// roles and March 2027 figures from three practices.
func seed(t *testing.T, db *store.DB) map[string]collector.User {
	t.Helper()
	yaml, err := os.ReadFile("../../../schemes/medsip-local-example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if err := db.AddScheme(ctx, store.StoredScheme{ID: schemeID, YAML: string(yaml), AddedBy: "test"}); err != nil {
		t.Fatal(err)
	}
	for _, ods := range []string{"Y01001", "Y01002", "Y01003", "Y01004"} {
		if err := db.AddPractice(ctx, collector.Practice{ODS: ods, Name: "Surgery " + ods, ICB: "QXX", CreatedAt: onTime}, "test"); err != nil {
			t.Fatal(err)
		}
	}
	users := map[string]collector.User{}
	for _, u := range []collector.User{
		{Name: "pm1", Role: collector.RolePractice, Practice: "Y01001", ICB: "QXX", SignOff: []string{"practice_manager"}},
		{Name: "pm3", Role: collector.RolePractice, Practice: "Y01003", ICB: "QXX", SignOff: []string{"practice_manager"}},
		{Name: "lead", Role: collector.RoleICBAnalyst, ICB: "QXX", SignOff: []string{"icb_medicines_optimisation_lead"}},
		{Name: "finance", Role: collector.RoleICBAnalyst, ICB: "QXX", SignOff: []string{"icb_finance"}},
		{Name: "root", Role: collector.RoleAdmin},
		{Name: "both", Role: collector.RoleICBAnalyst, ICB: "QXX", SignOff: []string{"icb_medicines_optimisation_lead", "icb_finance"}},
	} {
		u, err := db.AddUser(ctx, u, "test")
		if err != nil {
			t.Fatal(err)
		}
		users[u.Name] = u
	}
	if err := db.SetListSizes(ctx, []store.ListSize{{Practice: "Y01001", Month: "2027-01", Size: 8000}, {Practice: "Y01003", Month: "2027-01", Size: 5000}}, "test", onTime); err != nil {
		t.Fatal(err)
	}
	for _, ods := range []string{"Y01001", "Y01003", "Y01004"} {
		if err := db.RecordDeclaration(ctx, store.Declaration{Scheme: schemeID, Practice: ods, Declaration: "opioid_lead_named",
			FromPeriod: "2026-04", Made: true, RecordedAt: onTime, RecordedBy: "test"}); err != nil {
			t.Fatal(err)
		}
	}
	ingest(t, db, "Y01001", "k1", onTime, storetest.MedsipFigures{Reviewed: 30, LongTerm: 40, Stopped: 5, HighDoseBaseline: 10})
	ingest(t, db, "Y01003", "k3", onTime, storetest.MedsipFigures{Reviewed: 20, LongTerm: 20, Stopped: 0, HighDoseBaseline: 4})
	ingest(t, db, "Y01004", "k4", onTime, storetest.MedsipFigures{Reviewed: 10, LongTerm: 40, Stopped: 1, HighDoseBaseline: 10})
	return users
}

func ingest(t *testing.T, db *store.DB, ods, key string, at time.Time, f storetest.MedsipFigures) {
	t.Helper()
	if _, err := db.Ingest(ctx, storetest.MedsipSubmission(t, ods, key, "2027-03-31", at, f)); err != nil {
		t.Fatalf("Ingest %s: %v", key, err)
	}
}

// seeded seeds db and returns a service on it with the example scheme.
func seeded(t *testing.T, db *store.DB) (*claims.Service, *schemes.Scheme) {
	t.Helper()
	seed(t, db)
	svc := service(db)
	sc, err := svc.Scheme(ctx, schemeID)
	if err != nil {
		t.Fatal(err)
	}
	return svc, sc
}

// usersOf returns the seeded users by name.
func usersOf(t *testing.T, db *store.DB) map[string]collector.User {
	t.Helper()
	list, err := db.Users(ctx)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]collector.User{}
	for _, u := range list {
		out[u.Name] = u
	}
	return out
}

func service(db *store.DB) *claims.Service {
	now := onTime.Add(24 * time.Hour)
	return &claims.Service{DB: db, Now: func() time.Time { now = now.Add(time.Minute); return now }}
}

func states(rec *schemes.Reconciliation) map[string]schemes.State {
	out := map[string]schemes.State{}
	for _, pr := range rec.Practices {
		out[pr.ODS] = pr.State
	}
	return out
}

// The figures reconciliation reads from measure rows (only the measures
// the scheme uses) give the same reconciliation as the stored bodies,
// which are what was signed.
func TestFiguresMatchStoredBodies(t *testing.T) {
	engines(t, func(t *testing.T, db *store.DB) {
		svc, sc := seeded(t, db)
		figures, _, err := svc.Figures(ctx, sc, "2027-03")
		if err != nil {
			t.Fatal(err)
		}
		if len(figures) != 3 {
			t.Fatalf("figures for %d practices, want 3", len(figures))
		}
		used := sc.MeasureIDs()
		if strings.Join(used, ",") != "eligible_adults,high_dose_baseline_stopped,long_term_reviewed" {
			t.Fatalf("scheme measures = %v", used)
		}
		var fromBodies []schemes.PracticeFigures
		for _, f := range figures {
			sub, err := db.Submission(ctx, f.ODS, f.SubmissionID)
			if err != nil {
				t.Fatal(err)
			}
			doc, err := results.Decode(bytes.NewReader(sub.Body))
			if err != nil {
				t.Fatal(err)
			}
			whole := schemes.FiguresFromDocument(doc, sub.IdempotencyKey, sub.ReceivedAt)
			whole.Name, whole.ListSize, whole.Declarations = f.Name, f.ListSize, f.Declarations
			fromBodies = append(fromBodies, whole)
			want := whole
			want.Measures = slices.DeleteFunc(slices.Clone(whole.Measures), func(m schemes.Measure) bool { return !slices.Contains(used, m.ID) })
			slices.SortFunc(want.Measures, func(a, b schemes.Measure) int { return strings.Compare(a.ID, b.ID) })
			if !reflect.DeepEqual(f, want) {
				t.Errorf("%s: figures from rows\n%+v\nfrom body\n%+v", f.ODS, f, want)
			}
			if strings.Join(f.Declarations, ",") != "opioid_lead_named" {
				t.Errorf("%s: declarations %v", f.ODS, f.Declarations)
			}
		}
		if figures[0].ListSize == nil || *figures[0].ListSize != 8000 || figures[2].ListSize != nil {
			t.Errorf("list sizes: %v %v", figures[0].ListSize, figures[2].ListSize)
		}
		a, err := schemes.Evaluate(sc, "2027-03", figures)
		if err != nil {
			t.Fatal(err)
		}
		b, err := schemes.Evaluate(sc, "2027-03", fromBodies)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(a, b) {
			t.Fatalf("reconciliation from the scheme's measures differs from the whole documents'")
		}
	})
}

func TestClaimLifecycle(t *testing.T) {
	engines(t, func(t *testing.T, db *store.DB) {
		svc, sc := seeded(t, db)
		users := usersOf(t, db)
		move := func(ods string, to schemes.State, user, reason string, version int64) error {
			_, err := svc.Move(ctx, claims.MoveRequest{Scheme: schemeID, Period: "2027-03", Practice: ods, To: to, Reason: reason, Version: version}, users[user])
			return err
		}

		// Nothing moves before the period is calculated.
		if err := move("Y01001", schemes.Declared, "pm1", "", 0); !errors.Is(err, claims.ErrNotCalculated) {
			t.Fatalf("move before calculation = %v", err)
		}

		out, err := svc.Calculate(ctx, sc, "2027-03", "ana")
		if err != nil {
			t.Fatal(err)
		}
		if !out.First || out.Version != 1 || len(out.Events) != 3 {
			t.Fatalf("first calculation = %+v", out)
		}
		want := map[string]schemes.State{"Y01001": "calculated", "Y01002": "open", "Y01003": "calculated", "Y01004": "calculated"}
		if got := states(out.Rec); !reflect.DeepEqual(got, want) {
			t.Fatalf("states = %v, want %v", got, want)
		}
		// Y01001: 30 x £15 + points (75%: 16.6667 x £220.62 x 8000/9964) + 5 x £50.
		if pr := out.Rec.Practices[0]; pr.ODS != "Y01001" || pr.TotalPence != 365223 {
			t.Fatalf("Y01001 = %+v", pr)
		}

		// Calculating again with nothing new stores nothing.
		again, err := svc.Calculate(ctx, sc, "2027-03", "ana")
		if err != nil || again.Version != 1 || !again.Unchanged || len(again.Events) != 0 || again.Rec == nil || len(again.Rec.Practices) != 4 {
			t.Fatalf("second calculation = %+v, %v", again, err)
		}
		// Sign-off roles decide who moves what.
		for _, tc := range []struct {
			ods, user string
			to        schemes.State
			err       error
		}{
			{"Y01001", "pm3", schemes.Declared, schemes.ErrRole},        // another practice's manager
			{"Y01001", "root", schemes.Declared, schemes.ErrRole},       // admin without a sign-off role
			{"Y01001", "lead", schemes.Approved, schemes.ErrTransition}, // not declared yet
			{"Y01004", "lead", schemes.Declared, schemes.ErrRole},       // an ICB role cannot declare
			{"Y01002", "pm1", schemes.Declared, schemes.ErrTransition},  // missing figures: still open
			{"Y01001", "pm1", schemes.Paid, schemes.ErrTransition},      // skipping states
			{"Y01009", "pm1", schemes.Declared, collector.ErrNotFound},  // no such claim
			{"Y01001", "pm1", schemes.Declared, claims.ErrStale},        // saw an old version
		} {
			version := int64(0)
			if tc.err == claims.ErrStale {
				version = 7
			}
			if err := move(tc.ods, tc.to, tc.user, "", version); !errors.Is(err, tc.err) {
				t.Errorf("%s moving %s to %s = %v, want %v", tc.user, tc.ods, tc.to, err, tc.err)
			}
		}
		if err := move("Y01001", schemes.Declared, "pm1", "", 1); err != nil {
			t.Fatal(err)
		}
		if err := move("Y01001", schemes.Approved, "lead", "", 1); err != nil {
			t.Fatal(err)
		}
		if err := move("Y01003", schemes.Declared, "pm3", "", 1); err != nil {
			t.Fatal(err)
		}
		if err := move("Y01003", schemes.Calculated, "lead", "", 1); !errors.Is(err, schemes.ErrReason) {
			t.Fatalf("rejecting without a reason = %v", err)
		}

		// A resubmission with changed figures sends the approved claim
		// back to calculated, with the change as the reason; the
		// declared claim of another practice stays.
		ingest(t, db, "Y01001", "k1b", onTime.Add(time.Hour), storetest.MedsipFigures{Reviewed: 31, LongTerm: 40, Stopped: 5, HighDoseBaseline: 10})
		outs, err := svc.RecalculateAll(ctx)
		if err != nil || len(outs) != 1 {
			t.Fatalf("RecalculateAll = %+v, %v", outs, err)
		}
		re := outs[0]
		if re.Version != 2 || len(re.Events) != 1 || re.Events[0].Practice != "Y01001" || re.Events[0].From != schemes.Approved ||
			re.Events[0].To != schemes.Calculated || !strings.Contains(re.Events[0].Reason, "lt_reviews.a 30 -> 31") {
			t.Fatalf("recalculation = %+v", re)
		}
		rec, version, err := svc.Calculated(ctx, sc, "2027-03")
		if err != nil || version != 2 {
			t.Fatal(version, err)
		}
		want = map[string]schemes.State{"Y01001": "calculated", "Y01002": "open", "Y01003": "declared", "Y01004": "calculated"}
		if got := states(rec); !reflect.DeepEqual(got, want) {
			t.Fatalf("states after resubmission = %v, want %v", got, want)
		}
		// Moves made against version 1 are now refused.
		if err := move("Y01003", schemes.Approved, "lead", "", 1); !errors.Is(err, claims.ErrStale) {
			t.Fatalf("approve on stale version = %v", err)
		}

		// Through to paid; figures changing after payment leave the claim
		// paid and are reported.
		for _, m := range []struct {
			to   schemes.State
			user string
		}{{schemes.Declared, "pm1"}, {schemes.Approved, "both"}} {
			if err := move("Y01001", m.to, m.user, "", 2); err != nil {
				t.Fatalf("move to %s: %v", m.to, err)
			}
		}
		// Whoever approved may not also pay, whatever roles they hold.
		if err := move("Y01001", schemes.Paid, "both", "", 2); !errors.Is(err, claims.ErrSameActor) {
			t.Fatalf("approver paying = %v, want ErrSameActor", err)
		}
		approved, _, err := svc.Calculated(ctx, sc, "2027-03")
		if err != nil {
			t.Fatal(err)
		}
		if err := move("Y01001", schemes.Paid, "finance", "", 2); err != nil {
			t.Fatal(err)
		}
		stored, err := db.Claims(ctx, schemeID, "2027-03")
		paidPence := approved.Practices[0].TotalPence
		if err != nil || stored["Y01001"].PaidPence == nil || *stored["Y01001"].PaidPence != paidPence || paidPence == 0 {
			t.Fatalf("paid claim = %+v, %v; want paid %d", stored["Y01001"], err, paidPence)
		}
		ingest(t, db, "Y01001", "k1c", onTime.Add(2*time.Hour), storetest.MedsipFigures{Reviewed: 32, LongTerm: 40, Stopped: 5, HighDoseBaseline: 10})
		late, err := svc.Calculate(ctx, sc, "2027-03", "steward")
		if err != nil || !errors.Is(late.PaidChanged, schemes.ErrChangedAfterPayment) || !strings.Contains(late.PaidChanged.Error(), "Y01001") {
			t.Fatalf("calculation after payment = %+v, %v", late, err)
		}
		if states(late.Rec)["Y01001"] != schemes.Paid {
			t.Fatalf("paid claim moved: %v", states(late.Rec))
		}
		// What was paid stays as paid; the new figures show beside it.
		if stored, err := db.Claims(ctx, schemeID, "2027-03"); err != nil || *stored["Y01001"].PaidPence != paidPence || late.Rec.Practices[0].TotalPence == paidPence {
			t.Fatalf("after new figures: paid %d (was %d), now calculated %d, %v", *stored["Y01001"].PaidPence, paidPence, late.Rec.Practices[0].TotalPence, err)
		}

		history, err := db.ClaimEvents(ctx, schemeID, "2027-03", "Y01001")
		if err != nil {
			t.Fatal(err)
		}
		var path []string
		for _, e := range history {
			path = append(path, string(e.From)+">"+string(e.To)+":"+e.Actor)
		}
		// The first calculation's open -> calculated is implied by the
		// calculation, not written per claim.
		if got := strings.Join(path, " "); got != "calculated>declared:pm1 declared>approved:lead "+
			"approved>calculated:steward calculated>declared:pm1 declared>approved:both approved>paid:finance" {
			t.Fatalf("history = %s", got)
		}
		// People's moves are audited one by one, the collector's summed
		// up per calculation.
		audit, err := db.Audit().List(ctx, "claim:"+schemeID+"/2027-03/Y01001", 0)
		if err != nil || len(audit) != len(history)-1 {
			t.Fatalf("audit has %d claim entries, %v; want %d", len(audit), err, len(history)-1)
		}
		calcs, err := db.Audit().List(ctx, "scheme:"+schemeID+"/2027-03", 0)
		if err != nil || len(calcs) != 2 || calcs[1].Action != "claim.calculate" || !strings.Contains(calcs[1].After, `"open -\u003e calculated":3`) {
			t.Fatalf("calculation audit entries = %+v, %v", calcs, err)
		}
	})
}

// Two collectors recalculating at once record each move once.
func TestConcurrentCalculation(t *testing.T) {
	engines(t, func(t *testing.T, db *store.DB) {
		seed(t, db)
		sc, err := service(db).Scheme(ctx, schemeID)
		if err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		errs := make(chan error, 8)
		for range 8 {
			wg.Go(func() {
				_, err := service(db).Calculate(ctx, sc, "2027-03", "steward")
				errs <- err
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Fatal(err)
			}
		}
		// Only one of them calculated: one summary of three claims moved
		// open -> calculated (implied, so no claim rows or events).
		events, err := db.ClaimEvents(ctx, schemeID, "2027-03", "")
		if err != nil || len(events) != 0 {
			t.Fatalf("%d claim events, %v; want none", len(events), err)
		}
		summaries, err := db.Audit().List(ctx, "scheme:"+schemeID+"/2027-03", 0)
		if err != nil || len(summaries) != 1 || !strings.Contains(summaries[0].After, `"open -\u003e calculated":3`) {
			t.Fatalf("calculation audit = %+v, %v", summaries, err)
		}
		calcs, err := db.Calculations(ctx, schemeID)
		if err != nil || len(calcs) != 1 || calcs[0].Version != 1 {
			t.Fatalf("calculations = %+v, %v", calcs, err)
		}
	})
}

func TestDeclarationsAndListSizesInForce(t *testing.T) {
	engines(t, func(t *testing.T, db *store.DB) {
		seed(t, db)
		for _, d := range []store.Declaration{
			{Scheme: schemeID, Practice: "Y01003", Declaration: "opioid_lead_named", FromPeriod: "2027-02", Made: false},
			{Scheme: schemeID, Practice: "Y01004", Declaration: "opioid_lead_named", FromPeriod: "2027-04", Made: false},
		} {
			d.RecordedAt, d.RecordedBy = onTime, "test"
			if err := db.RecordDeclaration(ctx, d); err != nil {
				t.Fatal(err)
			}
		}
		got, err := db.DeclarationsAt(ctx, schemeID, "2027-03")
		if err != nil {
			t.Fatal(err)
		}
		want := map[string][]string{"Y01001": {"opioid_lead_named"}, "Y01004": {"opioid_lead_named"}}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("declarations in 2027-03 = %v, want %v", got, want)
		}
		if err := db.SetListSizes(ctx, []store.ListSize{{Practice: "Y01001", Month: "2027-04", Size: 9000}}, "test", onTime); err != nil {
			t.Fatal(err)
		}
		for month, want := range map[string]int64{"2026-12": 0, "2027-03": 8000, "2027-05": 9000} {
			sizes, err := db.ListSizesAt(ctx, month)
			if err != nil || sizes["Y01001"] != want {
				t.Errorf("list size in %s = %d, %v; want %d", month, sizes["Y01001"], err, want)
			}
		}
		// Every other practice keeps the size in force before.
		before, err1 := db.ListSizesAt(ctx, "2027-03")
		after, err2 := db.ListSizesAt(ctx, "2027-05")
		if err := errors.Join(err1, err2); err != nil || len(before) < 2 {
			t.Fatalf("list sizes = %v, %v", before, err)
		}
		before["Y01001"] = 9000
		if !reflect.DeepEqual(after, before) {
			t.Errorf("list sizes in 2027-05 = %v, want %v", after, before)
		}
		if err := db.SetListSizes(ctx, []store.ListSize{{Practice: "Y09999", Month: "2027-04", Size: 1}}, "test", onTime); !errors.Is(err, collector.ErrNotFound) {
			t.Fatalf("list size of an unknown practice = %v", err)
		}
	})
}

func TestIdenticalResubmission(t *testing.T) {
	engines(t, func(t *testing.T, db *store.DB) {
		svc, sc := seeded(t, db)
		if _, err := svc.Calculate(ctx, sc, "2027-03", "ana"); err != nil {
			t.Fatal(err)
		}
		// A resubmission of the same figures is no figure change: no
		// claim moves (the stored result names the new submission, so
		// its version moves on); the next recalculation finds nothing new.
		ingest(t, db, "Y01004", "k4-again", onTime.Add(time.Minute), storetest.MedsipFigures{Reviewed: 10, LongTerm: 40, Stopped: 1, HighDoseBaseline: 10})
		same, err := svc.Recalculate(ctx, sc, "2027-03", "steward")
		if err != nil || same.Unchanged || same.Version != 2 || len(same.Events) != 0 || len(same.Changes) != 0 {
			t.Fatalf("recalculation after an identical resubmission = %+v, %v", same, err)
		}
		if same, err = svc.Recalculate(ctx, sc, "2027-03", "steward"); err != nil || !same.Unchanged || same.Rec != nil {
			t.Fatalf("recalculation with nothing new = %+v, %v", same, err)
		}

	})
}

// The store recognises the collector's own moves by the actor name the
// state machine gives them.
func TestStewardActor(t *testing.T) {
	if store.StewardActor != schemes.Steward.ID {
		t.Fatalf("store.StewardActor %q, schemes.Steward.ID %q", store.StewardActor, schemes.Steward.ID)
	}
}

// A practice whose figures arrive after the period was first calculated
// becomes calculated at the next recalculation, without a claim row until
// someone moves it.
func TestLateFiguresBecomeCalculated(t *testing.T) {
	engines(t, func(t *testing.T, db *store.DB) {
		svc, sc := seeded(t, db)
		if _, err := svc.Calculate(ctx, sc, "2027-03", "ana"); err != nil {
			t.Fatal(err)
		}
		// With the declaration its gateway asks for, so that something is
		// payable (a claim with nothing payable is closed instead).
		if err := db.RecordDeclaration(ctx, store.Declaration{Scheme: schemeID, Practice: "Y01002", Declaration: "opioid_lead_named",
			FromPeriod: "2026-04", Made: true, RecordedAt: onTime, RecordedBy: "test"}); err != nil {
			t.Fatal(err)
		}
		ingest(t, db, "Y01002", "k2", onTime.Add(time.Hour), storetest.MedsipFigures{Reviewed: 5, LongTerm: 10, Stopped: 0, HighDoseBaseline: 2})
		outs, err := svc.RecalculateAll(ctx)
		if err != nil || len(outs) != 1 || len(outs[0].Events) != 1 || outs[0].Events[0].Practice != "Y01002" ||
			outs[0].Events[0].From != schemes.Open || outs[0].Events[0].To != schemes.Calculated {
			t.Fatalf("recalculation = %+v, %v", outs, err)
		}
		rec, _, err := svc.Calculated(ctx, sc, "2027-03")
		if err != nil {
			t.Fatal(err)
		}
		if got := states(rec); got["Y01002"] != schemes.Calculated || got["Y01001"] != schemes.Calculated {
			t.Fatalf("states = %v", got)
		}
		rows, err := db.Claims(ctx, schemeID, "2027-03")
		if err != nil || len(rows) != 0 {
			t.Fatalf("claim rows = %v, %v; want none until someone moves a claim", rows, err)
		}
	})
}
