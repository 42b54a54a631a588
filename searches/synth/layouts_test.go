package synth

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nhs-steward/steward/searches/compile"
	"github.com/nhs-steward/steward/searches/dialect/sqlite"
	"github.com/nhs-steward/steward/searches/profile"
	"github.com/nhs-steward/steward/searches/schema"
)

// readThrough returns the rows of a canonical table as a layout's built-in
// profile presents them at asOf, one line per row, sorted.
func readThrough(t *testing.T, db *sql.DB, l schema.Layout, table string, asOf time.Time) []string {
	t.Helper()
	prof, err := profile.Lookup(string(l))
	if err != nil {
		t.Fatal(err)
	}
	if prof, err = prof.Bind(schema.Parameters(l, DefaultPractice)); err != nil {
		t.Fatal(err)
	}
	d := sqlite.New()
	b := compile.NewBinder(d)
	frag, err := compile.Fragment(prof, d, table, b, asOf, DefaultPractice)
	if err != nil {
		t.Fatal(err)
	}
	cols := profile.Columns[table]
	sel := make([]string, len(cols))
	for i, c := range cols {
		sel[i] = "CAST(t." + c + " AS TEXT)"
	}
	ex, err := b.Finish("SELECT " + strings.Join(sel, ", ") + " FROM (" + frag + ") AS t")
	if err != nil {
		t.Fatal(err)
	}
	rows, err := db.QueryContext(context.Background(), ex.SQL, ex.Args...)
	if err != nil {
		t.Fatalf("%s: %v", table, err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		vals := make([]sql.NullString, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			t.Fatal(err)
		}
		f := make([]string, len(vals))
		for i, v := range vals {
			f[i] = "NULL"
			if v.Valid {
				f[i] = v.String
				// 56 and 56.0 are one quantity.
				if x, err := strconv.ParseFloat(v.String, 64); err == nil && cols[i] == "quantity" {
					f[i] = strconv.FormatFloat(x, 'g', -1, 64)
				}
			}
		}
		out = append(out, strings.Join(f, "|"))
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	slices.Sort(out)
	return out
}

// TestLayoutsReadAsCanonical generates one practice in every layout and
// reads SystmOne's and EMIS's tables through their built-in profiles: each
// canonical table comes out as the canonical layout holds it, but for what
// the layout cannot say (a drug with no dm+d mapping, EMIS's quantities,
// another practice's identity).
func TestLayoutsReadAsCanonical(t *testing.T) {
	cfg := smallConfig(sqlitePatients / 3)
	canon, _ := genSQLite(t, cfg)
	asOf := time.Date(2025, 3, 31, 0, 0, 0, 0, time.UTC)
	for _, l := range []schema.Layout{schema.TPP, schema.EMIS} {
		t.Run(string(l), func(t *testing.T) {
			c := cfg
			c.Layout = l
			db, sum := genSQLite(t, c)
			if got, want := fmt.Sprint(sum.Parameters), fmt.Sprint(schema.Parameters(l, DefaultPractice)); got != want {
				t.Errorf("summary parameters %s, want %s", got, want)
			}
			for _, table := range schema.Tables {
				want := readThrough(t, canon, schema.Canonical, table, asOf)
				got := readThrough(t, db, l, table, asOf)
				switch table {
				case profile.Registrations:
					// Another practice reads as its own identity.
					for i, row := range want {
						f := strings.Split(row, "|")
						if f[1] != DefaultPractice {
							if l == schema.TPP {
								f[1] = strconv.FormatInt(schema.OrganisationID(f[1]), 10)
							} else {
								f[1] = schema.OrganisationHash(f[1])
							}
						}
						want[i] = strings.Join(f, "|")
					}
					slices.Sort(want)
				case profile.MedicationIssues:
					want, got = issuesAsLayout(t, l, want, got)
				}
				if len(got) != len(want) {
					t.Fatalf("%s: %d rows through %s, %d canonical", table, len(got), l, len(want))
				}
				bad := 0
				for i := range got {
					if got[i] != want[i] {
						if bad++; bad <= 5 {
							t.Errorf("%s row %d: %s reads %q, canonical %q", table, i, l, got[i], want[i])
						}
					}
				}
			}
		})
	}
}

// issuesAsLayout blanks in the canonical issues what the layout cannot
// hold, and checks that only drugs outside every measure lost their code.
func issuesAsLayout(t *testing.T, l schema.Layout, want, got []string) ([]string, []string) {
	t.Helper()
	ref := loadRef(t)
	// An unmapped drug keeps its patient, date and quantity: match the rows
	// on those, with the code blanked on both sides, and count the
	// codes lost.
	blank := func(rows []string, dropQty bool) []string {
		out := make([]string, len(rows))
		for i, r := range rows {
			f := strings.Split(r, "|")
			f[2] = "-"
			if dropQty {
				f[3] = "NULL"
			}
			out[i] = strings.Join(f, "|")
		}
		slices.Sort(out)
		return out
	}
	unmapped := 0
	for _, r := range got {
		if strings.Split(r, "|")[2] == "NULL" {
			unmapped++
		}
	}
	codes := map[string]int{}
	for _, r := range want {
		codes[strings.Split(r, "|")[2]]++
	}
	for _, r := range got {
		if c := strings.Split(r, "|")[2]; c != "NULL" {
			codes[c]--
		}
	}
	lost := 0
	for c, n := range codes {
		if n < 0 {
			t.Errorf("code %s appears %d more times through %s than in canonical", c, -n, l)
		}
		if n > 0 {
			lost += n
			if ref.inScope[c] || ref.gaba[c] || ref.benzo[c] {
				t.Errorf("measured code %s lost its dm+d mapping %d times", c, n)
			}
		}
	}
	if lost != unmapped || unmapped == 0 {
		t.Errorf("%d issues have no code through %s, %d lost theirs; want the same, and some", unmapped, l, lost)
	}
	return blank(want, l == schema.EMIS), blank(got, false)
}
