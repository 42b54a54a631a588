package run

import (
	"context"
	"database/sql"
	"path/filepath"
	"testing"
	"time"

	"github.com/nhs-steward/steward/internal/pgtest"
	"github.com/nhs-steward/steward/searches/synth"
)

// onEngines runs f as a subtest on a fresh SQLite file and on a fresh
// PostgreSQL database (skipped without STEWARD_TEST_PG), by database URL.
func onEngines(t *testing.T, f func(t *testing.T, url string)) {
	for name, url := range map[string]func(t *testing.T) string{
		"SQLite":   func(t *testing.T) string { return "sqlite:" + filepath.Join(t.TempDir(), "p.db") },
		"Postgres": func(t *testing.T) string { return pgtest.NewDB(t) },
	} {
		t.Run(name, func(t *testing.T) { f(t, url(t)) })
	}
}

// synthEnd is the last day of the practices synthPractice makes.
var synthEnd = time.Date(2025, 3, 31, 0, 0, 0, 0, time.UTC)

// synthPractice fills the database at url with a synthetic practice of
// patients people, two years of records to synthEnd, and returns it open
// (closed when the test ends).
func synthPractice(t *testing.T, url string, patients int, seed uint64) *sql.DB {
	t.Helper()
	db, d, err := synth.Open(url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if _, err := synth.Generate(context.Background(), db, d, synth.Config{Patients: patients, Seed: seed,
		Start: time.Date(2023, 4, 1, 0, 0, 0, 0, time.UTC), End: synthEnd}); err != nil {
		t.Fatal(err)
	}
	return db
}
