package claims_test

import (
	"database/sql"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib"
	_ "modernc.org/sqlite"

	"github.com/nhs-steward/steward/internal/pgtest"
	"github.com/nhs-steward/steward/reporting/collector/claims"
	"github.com/nhs-steward/steward/reporting/collector/store"
	"github.com/nhs-steward/steward/reporting/collector/storetest"
	"github.com/nhs-steward/steward/reporting/schemes"
)

// TestPracticeClaims: a practice's claims, read from its own part of each
// stored calculation, are what the whole calculations say of it (state,
// payment, history), through a recalculation that changes one practice's
// result; and they are read without the whole calculations: with every
// stored whole result made unreadable, PracticeClaims still answers.
func TestPracticeClaims(t *testing.T) {
	for name, open := range map[string]func(t *testing.T) (string, *sql.DB){
		"SQLite": func(t *testing.T) (string, *sql.DB) {
			path := filepath.Join(t.TempDir(), "c.db")
			raw, err := sql.Open("sqlite", "file:"+filepath.ToSlash(path)+"?_pragma=busy_timeout(10000)")
			if err != nil {
				t.Fatal(err)
			}
			return "sqlite:" + path, raw
		},
		"Postgres": func(t *testing.T) (string, *sql.DB) {
			url := pgtest.NewDB(t)
			raw, err := sql.Open("pgx", url)
			if err != nil {
				t.Fatal(err)
			}
			return url, raw
		},
	} {
		t.Run(name, func(t *testing.T) {
			dsn, raw := open(t)
			t.Cleanup(func() { raw.Close() })
			db, err := store.Open(ctx, dsn)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { db.Close() })
			if err := db.Migrate(ctx); err != nil {
				t.Fatal(err)
			}
			svc, sc := seeded(t, db)
			users := usersOf(t, db)
			for _, period := range []string{"2027-02", "2027-03"} {
				if _, err := svc.Calculate(ctx, sc, period, "ana"); err != nil {
					t.Fatal(err)
				}
			}
			for _, m := range []struct {
				ods, user string
				to        schemes.State
			}{{"Y01001", "pm1", schemes.Declared}, {"Y01003", "pm3", schemes.Declared}, {"Y01003", "lead", schemes.Approved}} {
				if _, err := svc.Move(ctx, claims.MoveRequest{Scheme: schemeID, Period: "2027-03", Practice: m.ods, To: m.to}, users[m.user]); err != nil {
					t.Fatal(err)
				}
			}
			// Changed figures send Y01001's claim back: its part changes.
			ingest(t, db, "Y01001", "k1b", onTime.Add(time.Hour), storetest.MedsipFigures{Reviewed: 31, LongTerm: 40, Stopped: 5, HighDoseBaseline: 10})
			if _, err := svc.RecalculateAll(ctx); err != nil {
				t.Fatal(err)
			}

			want := map[string][]claims.PracticeClaim{}
			for _, period := range []string{"2027-03", "2027-02"} { // newest first
				rec, version, err := svc.Calculated(ctx, sc, period)
				if err != nil {
					t.Fatal(err)
				}
				paid, err := svc.PaidAmounts(ctx, schemeID, period)
				if err != nil {
					t.Fatal(err)
				}
				for _, pr := range rec.Practices {
					pc := claims.PracticeClaim{Period: period, Version: version, Result: pr}
					if a, ok := paid[pr.ODS]; ok {
						pc.Paid = &a
					}
					if pc.History, err = svc.History(ctx, schemeID, period, pr.ODS); err != nil {
						t.Fatal(err)
					}
					want[pr.ODS] = append(want[pr.ODS], pc)
				}
			}
			if len(want) != 4 {
				t.Fatalf("calculations hold %d practices, want 4", len(want))
			}
			check := func(t *testing.T) {
				t.Helper()
				for ods, w := range want {
					got, err := svc.PracticeClaims(ctx, sc, ods, 12)
					if err != nil {
						t.Fatalf("PracticeClaims %s: %v", ods, err)
					}
					if !reflect.DeepEqual(got, w) {
						t.Errorf("PracticeClaims %s =\n%+v\nwant (from the whole calculations)\n%+v", ods, got, w)
					}
					if got, err := svc.PracticeClaims(ctx, sc, ods, 1); err != nil || len(got) != 1 || got[0].Period != "2027-03" {
						t.Errorf("PracticeClaims %s, latest only = %+v, %v", ods, got, err)
					}
				}
				if got := want["Y01001"][0]; got.Result.State != schemes.Calculated || len(got.History) < 2 {
					t.Errorf("Y01001 in 2027-03 = %+v; want sent back to calculated with its history", got)
				}
				if got := want["Y01003"][0]; got.Result.State != schemes.Approved {
					t.Errorf("Y01003 in 2027-03 = %+v; want approved", got)
				}
				if got, err := svc.PracticeClaims(ctx, sc, "Y09999", 12); err != nil || len(got) != 0 {
					t.Errorf("PracticeClaims of a practice in no calculation = %+v, %v", got, err)
				}
			}
			check(t)

			// The whole results unreadable: the practice's reads do not
			// touch them.
			if _, err := raw.ExecContext(ctx, "UPDATE reconciliations SET result = 'not a reconciliation'"); err != nil {
				t.Fatal(err)
			}
			if _, _, err := svc.Calculated(ctx, sc, "2027-03"); err == nil {
				t.Fatal("Calculated read a damaged result without an error: the test does not damage what it should")
			}
			check(t)
		})
	}
}
