package compile_test

import (
	"testing"

	"github.com/nhs-steward/steward/searches/compile"
	"github.com/nhs-steward/steward/searches/dialect/postgres"
	"github.com/nhs-steward/steward/searches/dialect/sqlite"
	"github.com/nhs-steward/steward/searches/dialect/sqlserver"
	"github.com/nhs-steward/steward/searches/profile"
)

// BenchmarkSQL is the time to compile the MedSIP-like test search (measures
// and strata) for each dialect: compile time is paid on every run.
func BenchmarkSQL(b *testing.B) {
	plan := newTestSearch([]string{"OP1", "OP2", "SHARED", "NOOME"}).plan()
	prof, err := profile.Lookup("tpp")
	if err != nil {
		b.Fatal(err)
	}
	for _, d := range []compile.Dialect{sqlite.New(), postgres.New(), sqlserver.New()} {
		b.Run(string(d.Name()), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := compile.SQL(plan, d, prof, compile.Options{Practice: practice, Dates: testDates}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
