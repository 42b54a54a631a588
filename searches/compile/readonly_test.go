package compile_test

import (
	"context"
	"testing"

	"github.com/nhs-steward/steward/searches/schema"
)

// TestReadOnly checks that the practice database as the engine opens it
// refuses writes.
func TestReadOnly(t *testing.T) {
	for _, d := range []schema.Dialect{schema.SQLite, schema.Postgres} {
		t.Run(string(d), func(t *testing.T) {
			db, _ := openPractice(t, d, schema.Canonical, testPatients()[:1])
			ctx := context.Background()
			if _, err := db.ExecContext(ctx, "DELETE FROM patients"); err == nil {
				t.Error("DELETE FROM patients succeeded on the read-only database")
			}
			if _, err := db.ExecContext(ctx, "CREATE TABLE scratch (x integer)"); err == nil {
				t.Error("CREATE TABLE succeeded on the read-only database")
			}
		})
	}
}
