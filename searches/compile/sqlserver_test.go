package compile_test

import (
	"context"
	"database/sql"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/golang-sql/civil"
	mssql "github.com/microsoft/go-mssqldb"

	"github.com/nhs-steward/steward/searches/compile"
	"github.com/nhs-steward/steward/searches/dialect/sqlserver"
	"github.com/nhs-steward/steward/searches/engine"
	"github.com/nhs-steward/steward/searches/model"
	"github.com/nhs-steward/steward/searches/profile"
	"github.com/nhs-steward/steward/searches/schema"
)

var update = flag.Bool("update", false, "rewrite golden files")

func tsqlStatement(t *testing.T, layout string, codes []string) *compile.Statement {
	t.Helper()
	prof := bound(t, schema.Layout(layout))
	st, err := compile.SQL(newTestSearch(codes).plan(), sqlserver.New(), prof, compile.Options{Practice: practice, Dates: testDates})
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// TestTSQLGolden compares the T-SQL of the MedSIP-like plan with golden
// files (go test -update rewrites them).
func TestTSQLGolden(t *testing.T) {
	for _, l := range []string{"canonical", "tpp"} {
		t.Run(l, func(t *testing.T) {
			got := tsqlStatement(t, l, []string{"OP1", "OP2", "SHARED", "NOOME"}).String()
			path := filepath.Join("testdata", "golden", "medsip-"+l+".sqlserver.sql")
			if *update {
				if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run go test -update)", err)
			}
			if got != string(want) {
				t.Errorf("T-SQL differs from %s (run go test -update and review the diff):\n%s", path, got)
			}
		})
	}
}

// TestTSQLParameterTypes checks what go-mssqldb is given: codes, ODS codes
// and labels as varchar (mssql.VarChar, not nvarchar strings), dates as
// date (civil.Date, not datetimeoffset), numbers as float64.
func TestTSQLParameterTypes(t *testing.T) {
	st := tsqlStatement(t, "tpp", []string{"OP1", "OP2"})
	all := append(append(append([]compile.Exec{}, st.Setup...), st.Query), st.Teardown...)
	kinds := map[compile.ArgKind]bool{}
	for _, e := range all {
		if len(e.Args) != len(e.Params) {
			t.Fatalf("%d args for %d params", len(e.Args), len(e.Params))
		}
		for i, a := range e.Args {
			k := e.Params[i].Kind
			kinds[k] = true
			switch k {
			case compile.ArgText:
				if _, ok := a.(mssql.VarChar); !ok {
					t.Errorf("text parameter %d is %T, want mssql.VarChar", i+1, a)
				}
			case compile.ArgDate:
				if _, ok := a.(civil.Date); !ok {
					t.Errorf("date parameter %d is %T, want civil.Date", i+1, a)
				}
			case compile.ArgNumber:
				if _, ok := a.(float64); !ok {
					t.Errorf("number parameter %d is %T, want float64", i+1, a)
				}
			case compile.ArgInt:
				if _, ok := a.(int64); !ok {
					t.Errorf("int parameter %d is %T, want int64", i+1, a)
				}
			default:
				t.Errorf("parameter %d has kind %s, which SQL Server statements do not use", i+1, k)
			}
		}
	}
	for _, k := range []compile.ArgKind{compile.ArgText, compile.ArgDate, compile.ArgNumber, compile.ArgInt} {
		if !kinds[k] {
			t.Errorf("no %s parameter was checked", k)
		}
	}
	// The temporary tables are created by unparameterised batches (a temp
	// table created inside sp_executesql would vanish with it).
	for _, e := range st.Setup {
		if strings.Contains(e.SQL, "CREATE TABLE") && len(e.Args) != 0 {
			t.Errorf("CREATE TABLE has parameters: %s", e.SQL)
		}
	}
	if !strings.Contains(st.Query.SQL, "#steward_codes") || !strings.Contains(st.Query.SQL, "#steward_refs") {
		t.Errorf("the query does not read the temporary tables")
	}
	if len(st.Teardown) != 2 {
		t.Errorf("%d teardown statements, want 2 (drop both temporary tables)", len(st.Teardown))
	}
}

func bigCodelist(n int) []string {
	codes := []string{"OP1", "OP2", "SHARED", "NOOME"}
	for i := range n {
		codes = append(codes, fmt.Sprintf("%d", 30000000000000000+int64(i)*7))
	}
	return codes
}

// TestTSQLBatches proves that a codelist of thousands of codes never puts
// more than 2,100 parameters (or 1,000 rows) in one statement, and that
// every code is inserted.
func TestTSQLBatches(t *testing.T) {
	codes := bigCodelist(6000)
	st := tsqlStatement(t, "canonical", codes)
	all := append(append(append([]compile.Exec{}, st.Setup...), st.Query), st.Teardown...)
	inserted := map[string]bool{}
	for _, e := range all {
		if len(e.Args) > 2100 {
			t.Errorf("a statement has %d parameters (SQL Server allows 2,100): %.80s", len(e.Args), e.SQL)
		}
		if n := strings.Count(e.SQL, "), ("); strings.HasPrefix(e.SQL, "INSERT") && n+1 > 1000 {
			t.Errorf("an INSERT has %d rows (SQL Server allows 1,000)", n+1)
		}
		if strings.HasPrefix(e.SQL, "INSERT INTO #steward_codes") {
			for _, p := range e.Params {
				if p.Kind == compile.ArgText {
					inserted[p.Value.(string)] = true
				}
			}
		}
	}
	for _, c := range codes {
		if !inserted[c] {
			t.Fatalf("code %s is not inserted", c)
		}
	}
	if len(st.Setup) < 5 {
		t.Errorf("%d setup statements: the codes were not batched", len(st.Setup))
	}
}

// TestLargeCodelist runs a codelist of 6,000 codes on every dialect with a
// database here (SQLite, and PostgreSQL when STEWARD_TEST_PG is set).
func TestLargeCodelist(t *testing.T) {
	for _, d := range []schema.Dialect{schema.SQLite, schema.Postgres} {
		t.Run(string(d), func(t *testing.T) {
			ts := newTestSearch(bigCodelist(6000))
			plan := ts.plan()
			db, dl := openPractice(t, d, schema.Canonical, testPatients())
			prof, _ := profile.Lookup("canonical")
			res, err := compile.NewEngine(db, dl, prof).Evaluate(context.Background(), engine.Input{Plan: plan, Practice: practice, Dates: testDates})
			if err != nil {
				t.Fatal(err)
			}
			checkResult(t, plan, res)
		})
	}
}

// TestTSQLLive runs the engine test on a real SQL Server when
// STEWARD_TEST_MSSQL holds a connection URL (sqlserver://user:pass@host?database=NAME)
// of a login that may create tables in that database (use a scratch
// database: the test drops and creates the dbo tables of each layout, and
// drops them again afterwards).
func TestTSQLLive(t *testing.T) {
	url := os.Getenv("STEWARD_TEST_MSSQL")
	if url == "" {
		t.Skip("STEWARD_TEST_MSSQL not set: no SQL Server to run on")
	}
	for _, l := range []schema.Layout{schema.Canonical, schema.TPP} {
		t.Run(string(l), func(t *testing.T) {
			w, err := sql.Open("sqlserver", url)
			if err != nil {
				t.Fatal(err)
			}
			defer w.Close()
			tables := []string{"patients", "registrations", "medication_issues", "clinical_events"}
			if l == schema.TPP {
				tables = []string{"Patient", "Organisation", "PatientAddress", "RegistrationHistory", "MedicationDictionary", "MedicationIssue", "CodedEvent_SNOMED"}
			}
			drop := func() {
				for _, tb := range tables {
					w.Exec("IF OBJECT_ID('dbo." + tb + "') IS NOT NULL DROP TABLE dbo." + tb)
				}
			}
			drop()
			t.Cleanup(drop)
			loadPractice(t, w, schema.SQLServer, l, testPatients())
			db, err := sqlserver.Open(url)
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			prof := bound(t, l)
			ts := newTestSearch(bigCodelist(3000))
			plan := ts.plan()
			res, err := compile.NewEngine(db, sqlserver.New(), prof).Evaluate(context.Background(), engine.Input{Plan: plan, Practice: practice, Dates: testDates})
			if err != nil {
				t.Fatal(err)
			}
			checkResult(t, plan, res)
		})
	}
}

// TestTSQLCaseNesting: SQL Server refuses CASE expressions nested more than
// 10 deep; a long chain of variables must not nest them.
func TestTSQLCaseNesting(t *testing.T) {
	ts := newTestSearch([]string{"OP1"})
	e := ref(ts.vars["long_term"])
	for i := range 20 {
		e = and(not(not(e)), or(cmp(">", &model.Age{}, num(float64(i))), ref(ts.vars["reviewed"])))
	}
	ts.s.Measures = append(ts.s.Measures, &model.Measure{ID: "deep", Kind: model.KindCount,
		Value: &model.Agg{Kind: model.KindCount, Where: e}, Stratify: []model.Dimension{model.DimSex}})
	prof := bound(t, schema.TPP)
	st, err := compile.SQL(ts.plan(), sqlserver.New(), prof, compile.Options{Practice: practice, Dates: testDates})
	if err != nil {
		t.Fatal(err)
	}
	depth, deepest := 0, 0
	for _, w := range strings.FieldsFunc(st.Query.SQL, func(r rune) bool {
		return !(r >= 'A' && r <= 'Z' || r >= 'a' && r <= 'z' || r == '_')
	}) {
		switch w {
		case "CASE":
			depth++
			deepest = max(deepest, depth)
		case "END":
			depth--
		}
	}
	if deepest > 3 {
		t.Errorf("CASE expressions nest %d deep, want at most 3 (SQL Server allows 10)", deepest)
	}
}
