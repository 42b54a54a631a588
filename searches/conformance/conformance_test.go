package conformance

import (
	"context"
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/nhs-steward/steward/internal/pgtest"
	"github.com/nhs-steward/steward/searches/dataset"
	"github.com/nhs-steward/steward/searches/dialect/sqlserver"
	"github.com/nhs-steward/steward/searches/engine"
	"github.com/nhs-steward/steward/searches/eval"
	"github.com/nhs-steward/steward/searches/fixture"
	"github.com/nhs-steward/steward/searches/schema"
)

var update = flag.Bool("update", false, "rewrite the SQL Server golden files under testdata/mssql")

// minCases is the number of spec cases the suite must hold at least.
const minCases = 25

func loadCases(t *testing.T) []*fixture.File {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join("testdata", "cases", "*.test.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	// The standard packs' own fixtures (the MedSIP boundaries of
	// MEASURES.md) run on every engine and layout too.
	packs, err := filepath.Glob(filepath.Join("..", "packs", "*", "*.test.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	paths = append(paths, packs...)
	var files []*fixture.File
	n := 0
	for _, p := range paths {
		f, err := fixture.Load(p)
		if err != nil {
			t.Fatalf("load %s:\n%v", p, err)
		}
		files = append(files, f)
		n += len(f.Cases)
	}
	if n < minCases {
		t.Fatalf("%d spec cases, want at least %d", n, minCases)
	}
	return files
}

// runSpec runs every spec case on engines, as one subtest per case and
// engine, then checks which engines skipped expectations (checkSkips).
func runSpec(t *testing.T, engines map[string]fixture.Factory) {
	ctx := context.Background()
	skipped, checked := map[string]int{}, map[string]int{}
	for _, f := range loadCases(t) {
		t.Run(strings.TrimSuffix(filepath.Base(f.Path), ".test.yaml"), func(t *testing.T) {
			for _, o := range fixture.Run(ctx, f, engines) {
				e := o.Case.Expect
				skipped[o.Engine] += len(o.Skipped)
				checked[o.Engine] += len(e.Measures) + len(e.Strata) + len(e.Patients) - len(o.Skipped)
				t.Run(o.Case.Name+"/"+o.Engine, func(t *testing.T) {
					if o.Err != nil {
						t.Errorf("%s: %v", o.Case.Pos, o.Err)
					}
					for _, d := range o.Diffs {
						t.Error(d)
					}
				})
			}
		})
	}
	checkSkips(t, skipped, checked)
}

// checkSkips fails unless only the emis engines skip expectations, and
// they still check most of them.
func checkSkips(t *testing.T, skipped, checked map[string]int) {
	t.Helper()
	for name, n := range skipped {
		if !strings.HasSuffix(name, "/emis") && n > 0 {
			t.Errorf("%s skipped %d expectations; only the emis layout may", name, n)
		}
		if strings.HasSuffix(name, "/emis") {
			if n == 0 || checked[name] < 2*n {
				t.Errorf("%s checked %d expectations and skipped %d (those reading quantities): want some skipped and at least twice as many checked", name, checked[name], n)
			}
			t.Logf("%s: %d expectations checked, %d skipped (no issue quantities in the layout)", name, checked[name], n)
		}
	}
}

func TestSpecEvaluator(t *testing.T) {
	runSpec(t, map[string]fixture.Factory{"eval": Eval()})
}

func TestSpecSQLite(t *testing.T) {
	runSpec(t, map[string]fixture.Factory{
		"sqlite/canonical": SQLite(schema.Canonical),
		"sqlite/tpp":       SQLite(schema.TPP),
		"sqlite/emis":      SQLite(schema.EMIS),
	})
}

func TestSpecPostgres(t *testing.T) {
	u := pgtest.NewDB(t)
	runSpec(t, map[string]fixture.Factory{
		"postgres/canonical": Postgres(u, schema.Canonical),
		"postgres/tpp":       Postgres(u, schema.TPP),
		"postgres/emis":      Postgres(u, schema.EMIS),
	})
}

// TestSpecEMISAgainstEvaluator: on the emis layout every figure of every
// spec case, those reading quantities included, is what the reference
// evaluator gives on the same practice without its issue quantities (and
// with numeric values to 2 decimal places): the layout's lack is exactly
// one of data, not of the engine.
func TestSpecEMISAgainstEvaluator(t *testing.T) {
	ctx := context.Background()
	compared := 0
	for _, f := range loadCases(t) {
		for _, c := range f.Cases {
			in := c.Input(f.Plan)
			want, err := eval.New(dataset.ForLayout(schema.EMIS, c.Data)).Evaluate(ctx, in)
			if err != nil {
				t.Fatalf("%s: evaluator: %v", c.Pos, err)
			}
			eng, release, err := SQLite(schema.EMIS)(ctx, f, c)
			if err != nil {
				t.Fatalf("%s: %v", c.Pos, err)
			}
			got, err := eng.Evaluate(ctx, in)
			release()
			if err != nil {
				t.Fatalf("%s: emis: %v", c.Pos, err)
			}
			var exp fixture.Expect
			for _, m := range want.Measures {
				v, n, d := m.Value, m.Numerator, m.Denominator
				exp.Measures = append(exp.Measures, fixture.MeasureExpect{Measure: m.ID, Value: &v, Numerator: &n, Denominator: &d, Pos: c.Pos})
				for _, st := range m.Strata {
					exp.Strata = append(exp.Strata, fixture.StratumExpect{Measure: m.ID, Dimension: st.Dimension, Label: st.Label, Count: st.Count, Part: st.Part, Pos: c.Pos})
				}
				compared++
			}
			for _, d := range fixture.CheckMeasures(f.Plan, got, exp) {
				t.Errorf("%s: %s", c.Name, d)
			}
		}
	}
	if compared < minCases {
		t.Fatalf("compared %d measures", compared)
	}
}

// TestSQLServerGolden keeps the SQL Server text of every spec case's plan
// under testdata/mssql, one file per fixture file and layout; `go test
// -update` rewrites them.
func TestSQLServerGolden(t *testing.T) {
	for _, f := range loadCases(t) {
		base := strings.TrimSuffix(filepath.Base(f.Path), ".test.yaml")
		for _, l := range Layouts {
			var b strings.Builder
			for _, c := range f.Cases {
				text, err := SQLText(f, c, schema.SQLServer, l)
				if err != nil {
					t.Errorf("%s: %s: %v", f.Path, c.Name, err)
					continue
				}
				b.WriteString("-- case: " + c.Name + "\n")
				b.WriteString(text)
				b.WriteString("\n")
			}
			golden := filepath.Join("testdata", "mssql", base+"."+string(l)+".sql")
			if *update {
				if err := os.WriteFile(golden, []byte(b.String()), 0o644); err != nil {
					t.Fatal(err)
				}
				continue
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Errorf("%v (run go test -update to create it)", err)
				continue
			}
			if got := b.String(); got != string(want) {
				t.Errorf("%s differs from the compiled SQL (run go test -update and review the diff):\n%s", golden, firstDiff(got, string(want)))
			}
		}
	}
}

func firstDiff(got, want string) string {
	g, w := strings.Split(got, "\n"), strings.Split(want, "\n")
	for i := 0; i < len(g) || i < len(w); i++ {
		var gl, wl string
		if i < len(g) {
			gl = g[i]
		}
		if i < len(w) {
			wl = w[i]
		}
		if gl != wl {
			return "line " + strconv.Itoa(i+1) + ":\n  got:  " + gl + "\n  want: " + wl
		}
	}
	return "(no line differs)"
}

// TestSpecSQLServer runs the suite on a real SQL Server when
// STEWARD_TEST_MSSQL holds a connection string (sqlserver://...) of a
// login that may create tables in its default database. Each case drops
// and recreates the tables, so use a scratch database.
func TestSpecSQLServer(t *testing.T) {
	conn := os.Getenv("STEWARD_TEST_MSSQL")
	if conn == "" {
		t.Skip("STEWARD_TEST_MSSQL not set: SQL Server conformance is opt-in")
	}
	engines := map[string]fixture.Factory{}
	for _, l := range Layouts {
		engines["sqlserver/"+string(l)] = sqlServer(conn, l)
	}
	runSpec(t, engines)
}

var tableName = regexp.MustCompile(`(?i)^CREATE TABLE (\w+)`)

func sqlServer(conn string, l schema.Layout) fixture.Factory {
	return func(ctx context.Context, f *fixture.File, c *fixture.Case) (engine.Engine, func(), error) {
		db, err := sqlserver.Open(conn)
		if err != nil {
			return nil, nil, err
		}
		stmts, err := dataset.TSQLStatements(l, c.Data, dataset.Options{Mapped: Mapped(f.Search)})
		if err != nil {
			db.Close()
			return nil, nil, err
		}
		for _, s := range stmts {
			if m := tableName.FindStringSubmatch(s); m != nil {
				if _, err := db.ExecContext(ctx, "DROP TABLE IF EXISTS "+m[1]); err != nil {
					db.Close()
					return nil, nil, err
				}
			}
			if _, err := db.ExecContext(ctx, s); err != nil {
				db.Close()
				return nil, nil, err
			}
		}
		eng, err := Compiler(db, schema.SQLServer, l)
		if err != nil {
			db.Close()
			return nil, nil, err
		}
		return eng, func() { db.Close() }, nil
	}
}
